// Row-interleaved Q4_0 / Q4_K / Q5_K / IQ4_NL / Q8_0 / Q6_K (kernels/quant_interleave.h): the
// layout byte by byte, the round trip, and the products of every path against the base type's
// portable kernel, one token and several (each token's result the same alone as in a batch).

#include "kernels/quant_interleave.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "kernels/quant.h"
#include "kernels/quant_gemm.h"
#include "llama/error.h"
#include "tests/quant_matvec_check.h"
#include "tests/random_values.h"

namespace llama::kernels {
namespace {

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> out(n);
    for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
    return out;
}

// Quantized weights of realistic magnitude (random bytes would make f16 scales of any size).
std::vector<std::byte> random_weights(DType type, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> x(rows * cols);
    for (auto& v : x) v = normal(rng);
    std::vector<std::byte> out(rows * row_bytes(type, cols));
    quantize_rows(type, x.data(), rows, cols, out.data());
    return out;
}

// A 32-value block type of `words` 4-byte words of qs after its f16 d: two blocks of 16 random
// rows interleaved, checked word by word, and back.
void check_block32_layout(DType base, int words, int64_t group_bytes, int64_t d_offset,
                          int64_t qs_offset, uint32_t seed) {
    constexpr int64_t kCols = 64;  // two blocks
    const int64_t stride = row_bytes(base, kCols);
    const int64_t block_bytes = 2 + 4 * words;
    const auto rows = random_bytes(16 * stride, seed);
    std::vector<std::byte> group(rows.size());
    interleave_rows(base, rows.data(), stride, 2, group.data());
    for (int64_t b = 0; b < 2; ++b) {
        const std::byte* g = group.data() + b * group_bytes;
        for (int r = 0; r < 16; ++r) {
            const std::byte* block = rows.data() + r * stride + b * block_bytes;
            for (int k = 0; k < words; ++k) {
                EXPECT_EQ(std::memcmp(g + qs_offset + 64 * k + 4 * r, block + 2 + 4 * k, 4), 0)
                    << dtype_name(base) << " block " << b << " row " << r << " word " << k;
            }
            EXPECT_EQ(std::memcmp(g + d_offset + 2 * r, block, 2), 0);
        }
    }
    std::vector<std::byte> back(rows.size());
    deinterleave_rows(base, group.data(), 2, back.data(), stride);
    EXPECT_EQ(back, rows);
}

TEST(Interleave, Q4_0LayoutByteByByte) {
    check_block32_layout(DType::Q4_0, 4, kQ4_0R16Group, kQ4_0R16D, kQ4_0R16Qs, 1);
}

TEST(Interleave, Q8_0LayoutByteByByte) {
    check_block32_layout(DType::Q8_0, 8, kQ8_0R16Group, kQ8_0R16D, kQ8_0R16Qs, 3);
}

// The interleaved matrix w's products with the tokens x on every path the CPU has equal the base
// matrix's on the portable path, within float accumulation order.
void expect_every_path_matches(const Matrix& w_base, const Matrix& w,
                               std::span<const QuantizedActivations> x) {
    const int64_t rows = w.rows;
    const auto n = static_cast<int64_t>(x.size()) * rows;
    std::vector<float> reference(n);
    matmul_quant(QuantPath::Scalar, w_base, x, reference, rows);
    double largest = 0;
    for (float v : reference) largest = std::max(largest, std::fabs(static_cast<double>(v)));
    ASSERT_GT(largest, 0.0);
    for (QuantPath path : {QuantPath::Scalar, QuantPath::Avx2, QuantPath::Avx512Vnni}) {
        if (!quant_path_supported(path)) continue;
        std::vector<float> y(n);
        matmul_quant(path, w, x, y, rows);
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_NEAR(y[i], reference[i], 1e-5 * largest)
                << quant_path_name(path) << " token " << i / rows << " row " << i % rows;
        }
    }
}

// Q8_0 codes of -128 (ggml never writes them, a file may hold them): on every path, 1 to 9
// tokens, the interleaved products equal the base type's portable kernel (the AVX2 kernel reads
// |w| unsigned, so -128 must not wrap), and so do the GEMM's of 13 tokens, from the base and the
// interleaved layout (the AVX2 GEMM reads the nibbles of w + 128).
TEST(Interleave, Q8_0MinusOneTwentyEight) {
    const int64_t rows = 32, cols = 256;
    auto original = random_weights(DType::Q8_0, rows, cols, 11);
    const int64_t stride = row_bytes(DType::Q8_0, cols);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t b = 0; b < cols / 32; ++b) {
            for (int i = (r + b) % 3; i < 32; i += 3) {
                original[r * stride + b * 34 + 2 + i] = static_cast<std::byte>(0x80);
            }
        }
    }
    auto data = original;
    interleave_matrix(DType::Q8_0, data.data(), rows, cols);
    const Matrix w_base{DType::Q8_0, rows, cols, original.data()};
    const Matrix w{DType::Q8_0_R16, rows, cols, data.data()};
    expect_every_path_matches(w_base, w, random_quantized_tokens(w.dtype, cols, 9, 12));
    const int64_t tokens = 13;
    const auto floats = test::random_floats(tokens * cols, 13);
    QuantizedBatch batch;
    QuantPanelBuffer panel;
    quantize_batch(QuantPath::Scalar, DType::Q8_0, floats, tokens, batch);
    std::vector<float> gemm_reference(tokens * rows);
    gemm_quant(QuantPath::Scalar, w_base, batch, gemm_reference, rows, panel);
    double gemm_largest = 0;
    for (float v : gemm_reference) {
        gemm_largest = std::max(gemm_largest, std::fabs(static_cast<double>(v)));
    }
    ASSERT_GT(gemm_largest, 0.0);
    for (QuantPath path :
         {QuantPath::Scalar, QuantPath::Avx2, QuantPath::AvxVnni, QuantPath::Avx512Vnni}) {
        if (!quant_path_supported(path)) continue;
        for (const Matrix& m : {w_base, w}) {
            std::vector<float> y(tokens * rows);
            gemm_quant(path, m, batch, y, rows, panel);
            for (int64_t i = 0; i < tokens * rows; ++i) {
                ASSERT_NEAR(y[i], gemm_reference[i], 1e-5 * gemm_largest)
                    << quant_path_name(path) << " " << dtype_name(m.dtype) << " token " << i / rows
                    << " row " << i % rows;
            }
        }
    }
}

// Q4_K (qh_words 0) and Q5_K (8 qh words before its qs): two super-blocks of 16 random rows
// interleaved, checked word by word, and back.
void check_k_layout(DType base, int qh_words, int64_t group_bytes, int64_t qs_offset,
                    uint32_t seed) {
    constexpr int64_t kCols = 512;
    const int64_t stride = row_bytes(base, kCols);
    const int64_t block_bytes = dtype_traits(base).block_bytes;
    const int64_t block_qs = 16 + 4 * qh_words;  // d, dmin, scales[12], qh, then qs
    const auto rows = random_bytes(16 * stride, seed);
    std::vector<std::byte> group(rows.size());
    interleave_rows(base, rows.data(), stride, 2, group.data());
    for (int64_t b = 0; b < 2; ++b) {
        const std::byte* g = group.data() + b * group_bytes;
        for (int r = 0; r < 16; ++r) {
            const std::byte* block = rows.data() + r * stride + b * block_bytes;
            for (int c = 0; c < 32; ++c) {
                EXPECT_EQ(std::memcmp(g + qs_offset + 64 * c + 4 * r, block + block_qs + 4 * c, 4),
                          0);
            }
            for (int k = 0; k < qh_words; ++k) {
                EXPECT_EQ(std::memcmp(g + kQ5_KR16Qh + 64 * k + 4 * r, block + 16 + 4 * k, 4), 0);
            }
            for (int w = 0; w < 3; ++w) {
                EXPECT_EQ(std::memcmp(g + kQ4_KR16Scales + 64 * w + 4 * r, block + 4 + 4 * w, 4),
                          0);
            }
            EXPECT_EQ(std::memcmp(g + kQ4_KR16D + 2 * r, block, 2), 0);
            EXPECT_EQ(std::memcmp(g + kQ4_KR16Dmin + 2 * r, block + 2, 2), 0);
        }
    }
    std::vector<std::byte> back(rows.size());
    deinterleave_rows(base, group.data(), 2, back.data(), stride);
    EXPECT_EQ(back, rows);
}

TEST(Interleave, Q4_KLayoutByteByByte) {
    check_k_layout(DType::Q4_K, 0, kQ4_KR16Group, kQ4_KR16Qs, 2);
}

TEST(Interleave, Q5_KLayoutByteByByte) {
    check_k_layout(DType::Q5_K, 8, kQ5_KR16Group, kQ5_KR16Qs, 7);
}

// Q5_K's largest codes (31: every nibble 15 with its fifth bit) against activations of 127: a run
// of 8 chunks' VPMADDUBSW pairs would pass int16 (8 * 2 * 31 * 127 = 62992); every path, 1 to 5
// tokens, equals the base type's portable kernel.
TEST(Interleave, Q5_KLargestCodesDoNotSaturate) {
    const int64_t rows = 32, cols = 512;
    auto original = random_weights(DType::Q5_K, rows, cols, 14);
    const int64_t stride = row_bytes(DType::Q5_K, cols);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t b = 0; b < cols / 256; ++b) {
            std::byte* block = original.data() + r * stride + b * 176;
            std::fill(block + 16, block + 176, std::byte{0xFF});  // qh and qs
        }
    }
    auto data = original;
    interleave_matrix(DType::Q5_K, data.data(), rows, cols);
    const Matrix w_base{DType::Q5_K, rows, cols, original.data()};
    const Matrix w{DType::Q5_K_R16, rows, cols, data.data()};
    constexpr int kTokens = 5;
    std::vector<QuantizedActivations> x(kTokens);
    for (int t = 0; t < kTokens; ++t) {
        quantize_activations(w.dtype, std::vector<float>(cols, t % 2 == 0 ? 1.0f : -1.0f), x[t]);
    }
    expect_every_path_matches(w_base, w, x);
}

TEST(Interleave, Q6_KLayoutByteByByte) {
    constexpr int64_t kCols = 512;
    const int64_t stride = row_bytes(DType::Q6_K, kCols);
    const auto rows = random_bytes(16 * stride, 6);
    std::vector<std::byte> group(rows.size());
    interleave_rows(DType::Q6_K, rows.data(), stride, 2, group.data());
    for (int64_t b = 0; b < 2; ++b) {
        const std::byte* g = group.data() + b * kQ6_KR16Group;
        for (int r = 0; r < 16; ++r) {
            // ql[128], qh[64], scales[16], d
            const std::byte* block = rows.data() + r * stride + b * 210;
            for (int h = 0; h < 2; ++h) {
                for (int k = 0; k < 8; ++k) {
                    const std::byte* chunk =
                        g + kQ6_KR16Chunks + kQ6_KR16ChunkBytes * (8 * h + k) + 4 * r;
                    EXPECT_EQ(std::memcmp(chunk, block + 64 * h + 4 * k, 4), 0);
                    EXPECT_EQ(std::memcmp(chunk + 64, block + 64 * h + 32 + 4 * k, 4), 0);
                    EXPECT_EQ(std::memcmp(chunk + 128, block + 128 + 32 * h + 4 * k, 4), 0);
                }
            }
            for (int w = 0; w < 4; ++w) {
                EXPECT_EQ(std::memcmp(g + kQ6_KR16Scales + 64 * w + 4 * r, block + 192 + 4 * w, 4),
                          0);
            }
            EXPECT_EQ(std::memcmp(g + kQ6_KR16D + 2 * r, block + 208, 2), 0);
        }
    }
}

// Q6_K is interleaved at load only where its AVX-512 kernel runs.
TEST(Interleave, LoadLayoutFollowsTheKernels) {
    EXPECT_EQ(load_layout(DType::Q4_K), DType::Q4_K_R16);
    EXPECT_EQ(load_layout(DType::Q5_K), DType::Q5_K_R16);
    EXPECT_EQ(load_layout(DType::Q5_0), DType::Q5_0);
    EXPECT_EQ(load_layout(DType::Q6_K),
              best_quant_path() == QuantPath::Scalar ? DType::Q6_K : DType::Q6_K_R16);
}

TEST(Interleave, MatrixRoundTripAndSlices) {
    for (DType base :
         {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::IQ4_NL, DType::Q8_0, DType::Q6_K}) {
        const int64_t rows = 48, cols = 512;
        const auto original = random_bytes(rows * row_bytes(base, cols), 3);
        auto data = original;
        interleave_matrix(base, data.data(), rows, cols);
        EXPECT_NE(data, original);
        const Matrix w{interleaved_type(base), rows, cols, data.data()};
        // Any rows from a group boundary, back in the base layout.
        std::vector<std::byte> slice(20 * w.row_stride());
        deinterleave_slice(w, 16, 20, slice.data());
        EXPECT_EQ(std::memcmp(slice.data(), original.data() + 16 * w.row_stride(), slice.size()),
                  0);
        deinterleave_matrix(interleaved_type(base), data.data(), rows, cols);
        EXPECT_EQ(data, original) << dtype_name(base);
    }
}

TEST(Interleave, BadShapesAndTypesThrow) {
    std::vector<std::byte> data(24 * row_bytes(DType::Q4_0, 64));
    EXPECT_THROW(interleave_matrix(DType::Q4_0, data.data(), 24, 64), Error);
    EXPECT_THROW(interleave_matrix(DType::Q5_0, data.data(), 16, 64), Error);
    EXPECT_THROW(deinterleave_matrix(DType::Q4_0, data.data(), 16, 64), Error);
    const Matrix w{DType::Q4_0_R16, 16, 64, data.data()};
    EXPECT_THROW(deinterleave_slice(w, 8, 8, data.data()), Error);
    EXPECT_THROW(deinterleave_slice(w, 0, 17, data.data()), Error);
    // Products need whole groups.
    QuantizedActivations x;
    quantize_activations(DType::Q4_0_R16, test::random_floats(64, 4), x);
    std::vector<float> y(8);
    EXPECT_THROW(matvec_quant(Matrix{DType::Q4_0_R16, 8, 64, data.data()}, x, y), Error);
}

// Every path, 1 to 9 tokens: each token's products equal the base type's portable kernel within
// float accumulation order, and equal bit for bit what the same path gives the token alone.
TEST(Interleave, ProductsEqualTheBaseTypeOnEveryPath) {
    for (DType base :
         {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::IQ4_NL, DType::Q8_0, DType::Q6_K}) {
        const int64_t rows = 64, cols = 1024;
        const auto original = random_weights(base, rows, cols, 5);
        auto data = original;
        interleave_matrix(base, data.data(), rows, cols);
        const Matrix w_base{base, rows, cols, original.data()};
        const Matrix w{interleaved_type(base), rows, cols, data.data()};
        constexpr int kTokens = 9;
        const auto x = random_quantized_tokens(w.dtype, cols, kTokens, 10);
        for (const QuantizedActivations& xt : x) EXPECT_EQ(xt.weight_type, base);
        std::vector<float> reference(kTokens * rows);
        matmul_quant(QuantPath::Scalar, w_base, x, reference, rows);
        // The same integer sums; the float accumulation order differs, and Q4_K's result is a
        // difference of two larger sums (scales, mins): bound by the largest result's magnitude.
        double largest = 0;
        for (float v : reference) largest = std::max(largest, std::fabs(static_cast<double>(v)));
        for (QuantPath path : {QuantPath::Scalar, QuantPath::Avx2, QuantPath::Avx512Vnni}) {
            if (!quant_path_supported(path)) {
                std::cout << "skipping " << quant_path_name(path) << ": not supported\n";
                continue;
            }
            std::vector<float> alone(kTokens * rows);
            for (int t = 0; t < kTokens; ++t) {
                matvec_quant(path, w, x[t], std::span(alone).subspan(t * rows, rows));
            }
            for (int64_t i = 0; i < kTokens * rows; ++i) {
                ASSERT_NEAR(alone[i], reference[i], 1e-5 * largest)
                    << dtype_name(w.dtype) << " " << quant_path_name(path) << " token " << i / rows
                    << " row " << i % rows;
            }
        }
        // Any number of tokens on a slice of whole groups (rows 16-47) into a wider output: each
        // token's result equals its own matvec bit for bit, on every path.
        for (int n = 2; n <= kTokens; ++n) {
            check_matmul_matches_matvec(w.slice_rows(16, 32), std::span(x).first(n), rows);
        }
    }
}

// The integer GEMM reads interleaved weights into the same panels: results equal bit for bit.
TEST(Interleave, GemmEqualsTheBaseTypeBitForBit) {
    for (DType base :
         {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::IQ4_NL, DType::Q8_0, DType::Q6_K}) {
        const int64_t rows = 48, cols = 512, tokens = 7;
        const auto original = random_weights(base, rows, cols, 8);
        auto data = original;
        interleave_matrix(base, data.data(), rows, cols);
        const Matrix w_base{base, rows, cols, original.data()};
        const Matrix w{interleaved_type(base), rows, cols, data.data()};
        EXPECT_TRUE(gemm_quant_supports(w.dtype));
        const auto x = test::random_floats(tokens * cols, 9);
        for (QuantPath path : {QuantPath::Scalar, QuantPath::Avx2, QuantPath::Avx512Vnni}) {
            if (!quant_path_supported(path)) continue;
            QuantizedBatch batch;
            quantize_batch(path, w.dtype, x, tokens, batch);
            QuantPanelBuffer panel;
            std::vector<float> expected(tokens * rows), y(tokens * rows);
            gemm_quant(path, w_base, batch, expected, rows, panel);
            gemm_quant(path, w, batch, y, rows, panel);
            EXPECT_EQ(y, expected) << dtype_name(w.dtype) << " " << quant_path_name(path);
        }
    }
}

}  // namespace
}  // namespace llama::kernels
