// gemm_quant, every weight type on every path this CPU runs, against a reference computed in
// double from the dequantized weights and the quantized activations: the integer dot products are
// exact, so only the float summation differs and the bound is tight. Shapes cover rows that are
// not a multiple of the 16-row panel, 1..37 tokens (full token tiles and every tail) and few
// blocks.

#include "kernels/quant_gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/fp16_scalar.h"
#include "kernels/quant_gemm_impl.h"
#include "llama/error.h"

namespace llama::kernels {
namespace {

using detail::f32_to_f16_scalar;

// Random blocks: every byte random (so Q8_0 meets -128, every code and scale occurs), then the
// f16 scales set to random normal values of either sign.
std::vector<std::byte> random_weights(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(type, cols) * rows));
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    std::uniform_real_distribution<float> scale(0.001f, 0.05f);
    auto put_half = [&](size_t offset) {
        const float v = (rng() % 2 ? 1.0f : -1.0f) * scale(rng);
        const uint16_t h = f32_to_f16_scalar(v);
        std::memcpy(bytes.data() + offset, &h, 2);
    };
    const int64_t block_bytes = dtype_traits(type).block_bytes;
    for (size_t offset = 0; offset < bytes.size(); offset += static_cast<size_t>(block_bytes)) {
        if (type == DType::Q6_K) {
            put_half(offset + 208);
        } else if (type == DType::Q3_K) {
            put_half(offset + 108);
        } else if (type == DType::Q2_K) {
            put_half(offset + 80);
            put_half(offset + 82);
        } else {
            put_half(offset);
            if (type == DType::Q4_K || type == DType::Q5_K || type == DType::Q4_1 ||
                type == DType::Q5_1) {
                put_half(offset + 2);
            }
        }
    }
    return bytes;
}

std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = dist(rng);
    return x;
}

struct Reference {
    std::vector<double> y;      // [n_tokens][rows]
    std::vector<double> scale;  // sum of |w| * |x| per output, the size of its rounding error
};

// y[t][r] = sum over blocks of x_scale * sum_j w[r][j] * q[t][j], w dequantized, in double.
// x is quantized for the panel type the batch was (IQ4_XS: 32-value blocks, as Q8_0).
Reference reference(const Matrix& w, std::span<const float> x, int64_t n_tokens,
                    DType activation_type) {
    std::vector<float> wf(static_cast<size_t>(w.rows * w.cols));
    dequantize_rows_quant(QuantPath::Scalar, w.dtype, w.data, w.rows, w.cols, wf.data());
    Reference ref{std::vector<double>(static_cast<size_t>(n_tokens * w.rows)),
                  std::vector<double>(static_cast<size_t>(n_tokens * w.rows))};
    QuantizedActivations xq;
    for (int64_t t = 0; t < n_tokens; ++t) {
        quantize_activations(QuantPath::Scalar, activation_type, x.subspan(t * w.cols, w.cols), xq);
        const int64_t block = w.cols / static_cast<int64_t>(xq.scales.size());
        for (int64_t r = 0; r < w.rows; ++r) {
            double sum = 0.0;
            double magnitude = 0.0;
            for (int64_t j = 0; j < w.cols; ++j) {
                const double term =
                    static_cast<double>(wf[r * w.cols + j]) * xq.qs[j] * xq.scales[j / block];
                sum += term;
                magnitude += std::fabs(term);
            }
            ref.y[t * w.rows + r] = sum;
            ref.scale[t * w.rows + r] = magnitude;
        }
    }
    return ref;
}

struct Case {
    DType type;
    QuantPath path;
};

class QuantGemmTest : public ::testing::TestWithParam<Case> {};

TEST_P(QuantGemmTest, MatchesDequantizedReference) {
    const auto [type, path] = GetParam();
    if (!quant_path_supported(path)) GTEST_SKIP() << quant_path_name(path) << " not supported";
    const int64_t block = activation_block(type);
    std::mt19937 rng(static_cast<uint32_t>(type) * 131 + static_cast<uint32_t>(path));
    QuantizedBatch batch;
    QuantPanelBuffer panel;
    int checked = 0;
    for (int64_t n_tokens = 1; n_tokens <= 37; ++n_tokens) {
        const int64_t rows = 1 + (n_tokens * 7) % 41;  // 1..41: partial panels and halves
        const int64_t cols = block * (1 + n_tokens % 3);
        const int64_t ldy = rows + n_tokens % 2;  // a stride wider than the rows, sometimes
        const auto bytes = random_weights(type, rows, cols, rng);
        const Matrix w{type, rows, cols, bytes.data()};
        const auto x = random_activations(n_tokens * cols, rng);
        quantize_batch(path, type, x, n_tokens, batch);
        const float sentinel = 12345.0f;
        std::vector<float> y(static_cast<size_t>(n_tokens * ldy), sentinel);
        gemm_quant(path, w, batch, y, ldy, panel);
        const Reference ref = reference(w, x, n_tokens, batch.weight_type);
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < ldy; ++r) {
                const float got = y[t * ldy + r];
                if (r >= rows) {
                    ASSERT_EQ(got, sentinel) << "wrote past the rows, token " << t;
                    continue;
                }
                const double want = ref.y[t * rows + r];
                const double bound = 1e-5 * ref.scale[t * rows + r] + 1e-30;
                ASSERT_NEAR(got, want, bound) << "tokens " << n_tokens << " rows " << rows
                                              << " cols " << cols << " token " << t << " row " << r;
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 1000);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    std::string name =
        std::string(dtype_name(info.param.type)) + "_" + quant_path_name(info.param.path);
    for (char& c : name) {
        if (c == '-') c = '_';
    }
    return name;
}

std::vector<Case> all_cases() {
    std::vector<Case> cases;
    // Q5_0, IQ4_NL and IQ4_XS run on Q8_0's panels, Q2_K and Q3_K on Q6_K's; Q4_1 and Q5_1 on
    // panels with block mins.
    for (const DType type :
         {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q4_1, DType::Q5_1,
          DType::Q5_0, DType::IQ4_NL, DType::IQ4_XS, DType::Q2_K, DType::Q3_K}) {
        for (const QuantPath path :
             {QuantPath::Scalar, QuantPath::Avx2, QuantPath::AvxVnni, QuantPath::Avx512Vnni}) {
            cases.push_back({type, path});
        }
    }
    return cases;
}

INSTANTIATE_TEST_SUITE_P(AllTypesAndPaths, QuantGemmTest, ::testing::ValuesIn(all_cases()),
                         case_name);

// Every path quantizes the batch to the bytes quantize_activations gives each token, each in its
// slot of the path's token groups.
TEST(QuantizeBatch, MatchesPerTokenQuantization) {
    std::mt19937 rng(7);
    for (const QuantPath path :
         {QuantPath::Scalar, QuantPath::Avx2, QuantPath::AvxVnni, QuantPath::Avx512Vnni}) {
        if (!quant_path_supported(path)) continue;
        for (const DType type : {DType::Q4_0, DType::Q6_K}) {
            const int64_t n = 512, n_tokens = 37;
            const int64_t block = type == DType::Q6_K ? 256 : 32;
            const auto x = random_activations(n * n_tokens, rng);
            QuantizedBatch batch;
            quantize_batch(path, type, x, n_tokens, batch);
            ASSERT_EQ(batch.n, n);
            ASSERT_EQ(batch.n_tokens, n_tokens);
            ASSERT_EQ(batch.group, detail::tile_tokens(path, type));
            std::vector<int> used(static_cast<size_t>(n / block * n_tokens), 0);
            QuantizedActivations token;
            for (int64_t t = 0; t < n_tokens; ++t) {
                quantize_activations(type, std::span(x).subspan(t * n, n), token);
                for (int64_t b = 0; b < n / block; ++b) {
                    const int64_t at = batch.slot(b, t);
                    ASSERT_LT(at, static_cast<int64_t>(used.size()));
                    ++used[static_cast<size_t>(at)];
                    EXPECT_EQ(batch.scales[at], token.scales[b]);
                    for (int64_t j = 0; j < block; ++j) {
                        ASSERT_EQ(batch.qs[at * block + j], token.qs[b * block + j]);
                    }
                    if (type == DType::Q6_K) {
                        for (int j = 0; j < 16; ++j) {
                            EXPECT_EQ(batch.bsums[at * 16 + j], token.bsums[b * 16 + j]);
                        }
                    } else {
                        EXPECT_EQ(batch.bias[at], token.bias[b]);
                    }
                }
            }
            // Every slot is one token's block: the groups tile the arrays exactly.
            EXPECT_EQ(std::count(used.begin(), used.end(), 1), static_cast<int64_t>(used.size()));
        }
    }
}

// A group's blocks are its tokens one after the other, block after block.
TEST(QuantizeBatch, GroupsAreBlockMajor) {
    QuantizedBatch batch;
    prepare_batch(QuantPath::Avx2, DType::Q4_0, 96, 7, batch);  // groups of 3, 3, 1 tokens
    ASSERT_EQ(batch.group, 3);
    EXPECT_EQ(batch.slot(0, 0), 0);
    EXPECT_EQ(batch.slot(0, 2), 2);
    EXPECT_EQ(batch.slot(1, 0), 3);
    EXPECT_EQ(batch.slot(2, 2), 8);
    EXPECT_EQ(batch.slot(0, 3), 9);
    EXPECT_EQ(batch.slot(1, 4), 13);
    EXPECT_EQ(batch.slot(0, 6), 18);
    EXPECT_EQ(batch.slot(2, 6), 20);
    EXPECT_EQ(batch.slot_stride(6), 1);
    EXPECT_EQ(batch.slot_stride(4), 3);
}

// Token ranges quantized separately (as threads do) give the same batch as one call.
TEST(QuantizeBatch, TokenRangesMatchOneCall) {
    std::mt19937 rng(9);
    const int64_t n = 256, n_tokens = 7;
    const auto x = random_activations(n * n_tokens, rng);
    for (const DType type : {DType::Q8_0, DType::Q4_K}) {
        QuantizedBatch whole;
        quantize_batch(QuantPath::Scalar, type, x, n_tokens, whole);
        QuantizedBatch parts;
        prepare_batch(QuantPath::Scalar, type, n, n_tokens, parts);
        for (const auto& [begin, end] : {std::pair{4, 7}, {0, 1}, {1, 4}}) {
            quantize_batch_tokens(QuantPath::Scalar, x, begin, end, parts);
        }
        EXPECT_EQ(parts.qs, whole.qs);
        EXPECT_EQ(parts.scales, whole.scales);
        EXPECT_EQ(parts.bias, whole.bias);
        EXPECT_EQ(parts.bsums, whole.bsums);
    }
}

// Each path's kernel runs a batch grouped for any path (tiles never cross a group) to the same
// floats as on its own batch: the same tiles of the same tokens, whatever the layout.
TEST(GemmQuant, AnyGroupingGivesTheSameProducts) {
    std::mt19937 rng(11);
    const std::vector<QuantPath> paths = {QuantPath::Scalar, QuantPath::Avx2, QuantPath::AvxVnni,
                                          QuantPath::Avx512Vnni};
    for (const DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
        const int64_t rows = 24, cols = activation_block(type) * 2, n_tokens = 41;
        const auto bytes = random_weights(type, rows, cols, rng);
        const Matrix w{type, rows, cols, bytes.data()};
        const auto x = random_activations(n_tokens * cols, rng);
        QuantPanelBuffer panel;
        for (const QuantPath run : paths) {
            if (!quant_path_supported(run)) continue;
            QuantizedBatch own;
            quantize_batch(run, type, x, n_tokens, own);
            std::vector<float> want(static_cast<size_t>(n_tokens * rows));
            gemm_quant(run, w, own, want, rows, panel);
            for (const QuantPath grouped : paths) {
                QuantizedBatch other;
                prepare_batch(grouped, type, cols, n_tokens, other);
                quantize_batch_tokens(QuantPath::Scalar, x, 0, n_tokens, other);
                std::vector<float> got(want.size());
                gemm_quant(run, w, other, got, rows, panel);
                EXPECT_EQ(got, want) << dtype_name(type) << " run " << quant_path_name(run)
                                     << " grouped for " << quant_path_name(grouped);
            }
        }
    }
}

TEST(GemmQuant, RejectsMismatchedActivationsAndTypes) {
    std::mt19937 rng(3);
    const auto bytes = random_weights(DType::Q4_0, 4, 64, rng);
    const Matrix w{DType::Q4_0, 4, 64, bytes.data()};
    const auto x = random_activations(64 * 2, rng);
    QuantizedBatch batch;
    QuantPanelBuffer panel;
    std::vector<float> y(8);
    quantize_batch(DType::Q8_0, x, 2, batch);  // for another weight type
    EXPECT_THROW(gemm_quant(w, batch, y, 4, panel), Error);
    quantize_batch(DType::Q4_0, x, 2, batch);
    EXPECT_THROW(gemm_quant(w, batch, std::span(y).first(7), 4, panel), Error);  // output short
    EXPECT_THROW(gemm_quant(w, batch, y, 3, panel), Error);                      // stride < rows
    const Matrix f32{DType::F32, 4, 64, bytes.data()};
    EXPECT_THROW(gemm_quant(f32, batch, y, 4, panel), Error);
    EXPECT_THROW(quantize_batch(DType::Q4_0, std::span(x).first(100), 2, batch), Error);
    EXPECT_THROW(quantize_batch(DType::F16, x, 2, batch), Error);
    EXPECT_FALSE(gemm_quant_supports(DType::F16));
    EXPECT_TRUE(gemm_quant_supports(DType::Q4_1));
    EXPECT_TRUE(gemm_quant_supports(DType::Q3_K));
    prepare_batch(DType::Q4_0, 64, 2, batch);
    EXPECT_THROW(quantize_batch_tokens(QuantPath::Scalar, x, 1, 3, batch), Error);  // past the end
}

}  // namespace
}  // namespace llama::kernels
