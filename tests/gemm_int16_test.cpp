// 16-bit integer GEMM (kernels/gemm_int16.h) of F16, BF16 and Q8_0 (in the file's layout and
// row-interleaved): the block fixed point of weights and activations against its definition, the
// AVX2 activation quantizer bit for bit against the scalar one, the scalar kernel against float64
// products of the unrounded values within the fixed point's error bound, the AVX2, AVX-VNNI,
// AVX-512 and AVX512-VNNI kernels bit for bit against the scalar one, blocks that are not finite,
// and bad arguments. Run at every ISA level by ctest.

#include "kernels/gemm_int16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"
#include "tests/random_values.h"

namespace llama::kernels {
namespace {

using test::random_floats;

struct Weights {
    std::vector<std::byte> bytes;
    std::vector<float> values;  // what the bytes hold, widened
};

// rows x cols weights in `dtype`; `scales` multiplies row r's values by scales[r % size] so that
// blocks of very different magnitudes meet the same activations.
// Q8_0 (and Q8_0_R16, rows a multiple of 16) as llama-quantize writes it, with code -128 (which
// a file may hold) in some blocks.
Weights make_weights(DType dtype, int64_t rows, int64_t cols, uint32_t seed,
                     const std::vector<float>& scales = {1.0f}) {
    Weights w;
    w.values = random_floats(rows * cols, seed);
    if (dtype == DType::Q8_0 || dtype == DType::Q8_0_R16) {
        for (size_t i = 0; i < w.values.size(); ++i)
            w.values[i] *= scales[(i / cols) % scales.size()];
        w.bytes.resize(static_cast<size_t>(rows * row_bytes(DType::Q8_0, cols)));
        quantize_rows(DType::Q8_0, w.values.data(), rows, cols, w.bytes.data());
        auto* blocks = reinterpret_cast<BlockQ8_0*>(w.bytes.data());
        for (int64_t b = 0; b < rows * cols / kQ8_0BlockSize; b += 7) blocks[b].qs[b % 32] = -128;
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row_q8_0(blocks + r * cols / kQ8_0BlockSize, cols, &w.values[r * cols]);
        }
        if (dtype == DType::Q8_0_R16) interleave_matrix(DType::Q8_0, w.bytes.data(), rows, cols);
        return w;
    }
    std::vector<uint16_t> narrowed(w.values.size());
    for (size_t i = 0; i < narrowed.size(); ++i) {
        const float v = w.values[i] * scales[(i / cols) % scales.size()];
        narrowed[i] = dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
        w.values[i] = dtype == DType::F16 ? f16_to_f32(narrowed[i]) : bf16_to_f32(narrowed[i]);
    }
    w.bytes.resize(narrowed.size() * 2);
    std::memcpy(w.bytes.data(), narrowed.data(), w.bytes.size());
    return w;
}

int16_t low_half(int32_t pair) { return static_cast<int16_t>(pair); }
int16_t high_half(int32_t pair) { return static_cast<int16_t>(pair >> 16); }

// The activation of `token`, column k as packed (value) and its block's scale.
int16_t packed_activation(const Int16Activations& x, int64_t token, int64_t k) {
    const int32_t pair =
        x.tile_pairs(token / kInt16TileTokens)[k / 2 * kInt16TileTokens + token % kInt16TileTokens];
    return k % 2 == 0 ? low_half(pair) : high_half(pair);
}
float activation_scale(const Int16Activations& x, int64_t token, int64_t block) {
    return x.tile_scales(token /
                         kInt16TileTokens)[block * kInt16TileTokens + token % kInt16TileTokens];
}

TEST(GemmInt16, WeightBlockIsFixedPointOfItsLargestBinade) {
    // Largest magnitude 1.5: leading bit 2^0 goes to 2^10, so the scale is 2^-10 and every value
    // that is a multiple of 2^-10 is exact.
    std::vector<float> values = {1.5f,        -0.75f, 0x1p-10f,     0x1p-12f,
                                 -0x1.8p-10f, 0.0f,   1.0009765625f};
    std::vector<int16_t> w(kInt16Block, 99);
    const float scale = quantize_int16_weight_block(values, w);
    EXPECT_EQ(scale, 0x1p-10f);
    const std::vector<int16_t> expected = {1536, -768, 1, 0, -2, 0, 1025};  // ties to even
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(w[i], expected[i]) << i;
    for (size_t i = expected.size(); i < w.size(); ++i) EXPECT_EQ(w[i], 0) << "padding " << i;

    // Every f16 value within a factor 2 of the block's largest is exact; the largest f16
    // significand maps to 2047.
    std::vector<float> top(kInt16Block);
    for (int64_t i = 0; i < kInt16Block; ++i) {
        top[i] = f16_to_f32(f32_to_f16((i % 2 ? -1.0f : 1.0f) * (8.0f + 0.123f * i) / 16.0f));
    }
    top[5] = f16_to_f32(0x3bff);  // 0.99951171875, significand all ones
    const float top_scale = quantize_int16_weight_block(top, w);
    for (int64_t i = 0; i < kInt16Block; ++i) {
        if (std::fabs(top[i]) >= 0.5f) {
            EXPECT_EQ(w[i] * top_scale, top[i]) << i;
        }
    }
    EXPECT_EQ(w[5], kInt16WeightMax);
}

TEST(GemmInt16, WeightBlocksThatAreZeroTinyOrNotFinite) {
    std::vector<int16_t> w(kInt16Block, 99);
    const std::vector<float> zeros(kInt16Block, 0.0f);
    EXPECT_EQ(quantize_int16_weight_block(zeros, w) * 0.0f, 0.0f);  // finite
    for (const int16_t v : w) EXPECT_EQ(v, 0);

    const std::vector<float> tiny = {1e-38f, -3e-39f};  // subnormal as bf16 can be
    const float tiny_scale = quantize_int16_weight_block(tiny, w);
    EXPECT_TRUE(std::isfinite(tiny_scale));
    EXPECT_LE(std::fabs(w[0] * tiny_scale - tiny[0]), tiny_scale);

    for (const float bad :
         {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
          std::numeric_limits<float>::quiet_NaN()}) {
        std::vector<float> values = {1.0f, bad, 2.0f};
        w.assign(kInt16Block, 99);
        EXPECT_TRUE(std::isnan(quantize_int16_weight_block(values, w)));
        for (const int16_t v : w) EXPECT_EQ(v, 0);
    }
    const std::vector<float> too_many(kInt16Block + 1, 1.0f);
    EXPECT_THROW(quantize_int16_weight_block(too_many, w), Error);
}

// Columns of one block, a partial one and several, token counts that leave partial tiles.
TEST(GemmInt16, ActivationsAreRoundedToTheirBlocksLargestMagnitude) {
    for (const int64_t cols : {1, 63, 64, 65, 300}) {
        for (const int64_t n_tokens : {1, 6, 7, 13}) {
            auto values = random_floats(n_tokens * cols, 11, -3.0f, 3.0f);
            if (n_tokens > 1) values[cols + cols / 2] = 0.0f;  // a zero among nonzero values
            Int16Activations x;
            prepare_int16_activations(n_tokens, cols, x);
            ASSERT_EQ(x.padded_cols % kInt16Block, 0);
            quantize_int16_activations_scalar(values, 0, x.n_tiles(), x);
            for (int64_t token = 0; token < x.n_tiles() * kInt16TileTokens; ++token) {
                for (int64_t b = 0; b < x.n_blocks(); ++b) {
                    float largest = 0;
                    for (int64_t k = b * kInt16Block; k < std::min(cols, (b + 1) * kInt16Block);
                         ++k) {
                        if (token < n_tokens) {
                            largest = std::max(largest, std::fabs(values[token * cols + k]));
                        }
                    }
                    const float scale = activation_scale(x, token, b);
                    ASSERT_EQ(scale, largest / kInt16ActivationMax) << token << " " << b;
                    for (int64_t k = b * kInt16Block; k < (b + 1) * kInt16Block; ++k) {
                        const float v = token < n_tokens && k < cols ? values[token * cols + k] : 0;
                        const int16_t q = packed_activation(x, token, k);
                        const float expected =
                            largest > 0 ? std::nearbyint(v * (kInt16ActivationMax / largest)) : 0;
                        ASSERT_EQ(q, expected) << "token " << token << " col " << k;
                        ASSERT_LE(std::abs(q), kInt16ActivationMax);
                        if (largest > 0 && v == largest) {
                            ASSERT_EQ(q, kInt16ActivationMax);
                        }
                    }
                }
            }
        }
    }
}

// Winograd's correction: minus the sum of x[k] x[k + 2] + x[k + 1] x[k + 3] over each 32-column
// block's 4-column groups, wrapping at 32 bits (full-scale blocks of 4096 columns exceed them).
TEST(GemmInt16, CrossTermsSumTheProductsOfColumnsTwoApart) {
    for (const int64_t cols : {1, 33, 64, 300, 4096}) {
        const int64_t n_tokens = 8;
        auto values = random_floats(n_tokens * cols, 13, -3.0f, 3.0f);
        for (int64_t k = 0; k < cols; ++k) values[k] = k % 2 == 0 ? 1.0f : -1.0f;  // full scale
        Int16Activations x;
        prepare_int16_activations(n_tokens, cols, x, true);
        ASSERT_TRUE(x.has_cross_terms());
        quantize_int16_activations_scalar(values, 0, x.n_tiles(), x);
        for (int64_t token = 0; token < x.n_tiles() * kInt16TileTokens; ++token) {
            for (int64_t b = 0; b < x.padded_cols / kInt16CrossBlock; ++b) {
                int64_t sum = 0;
                for (int64_t k = b * kInt16CrossBlock; k < (b + 1) * kInt16CrossBlock; k += 4) {
                    sum += int64_t{packed_activation(x, token, k)} *
                               packed_activation(x, token, k + 2) +
                           int64_t{packed_activation(x, token, k + 1)} *
                               packed_activation(x, token, k + 3);
                }
                const int32_t got = x.tile_cross_terms(
                    token / kInt16TileTokens)[b * kInt16TileTokens + token % kInt16TileTokens];
                ASSERT_EQ(got, static_cast<int32_t>(static_cast<uint32_t>(-sum)))
                    << "cols " << cols << " token " << token << " block " << b;
            }
        }
    }
    Int16Activations plain;
    prepare_int16_activations(3, 64, plain);
    EXPECT_FALSE(plain.has_cross_terms());
}

TEST(GemmInt16, Avx2ActivationQuantizerMatchesScalar) {
    if (!gemm_int16_avx2_available()) GTEST_SKIP() << "no AVX2 on this CPU";
    if (!isa_enabled(IsaLevel::Avx2)) GTEST_SKIP() << "capped below AVX2";
    for (const int64_t cols : {1, 64, 100, 320, 4096}) {
        const int64_t n_tokens = 9;
        auto values = random_floats(n_tokens * cols, 12, -50.0f, 50.0f);
        // A zero block, a tiny one, and one that is not finite in each of the first tokens.
        for (int64_t k = 0; k < std::min<int64_t>(cols, 64); ++k) {
            values[k] = 0.0f;
            values[cols + k] *= 1e-35f;
        }
        values[2 * cols + cols / 2] = std::numeric_limits<float>::infinity();
        values[3 * cols] = std::numeric_limits<float>::quiet_NaN();
        Int16Activations scalar;
        Int16Activations simd;
        prepare_int16_activations(n_tokens, cols, scalar, true);
        prepare_int16_activations(n_tokens, cols, simd, true);
        quantize_int16_activations_scalar(values, 0, scalar.n_tiles(), scalar);
        // Tile by tile, as threads take them.
        for (int64_t tile = 0; tile < simd.n_tiles(); ++tile) {
            quantize_int16_activations(values, tile, tile + 1, simd);
        }
        ASSERT_EQ(simd.pairs, scalar.pairs) << cols;
        ASSERT_EQ(simd.cross_terms, scalar.cross_terms) << cols;
        ASSERT_EQ(simd.scales.size(), scalar.scales.size());
        for (size_t i = 0; i < simd.scales.size(); ++i) {
            if (std::isnan(scalar.scales[i])) {
                ASSERT_TRUE(std::isnan(simd.scales[i])) << i;
            } else {
                ASSERT_EQ(simd.scales[i], scalar.scales[i]) << i;
            }
        }
        EXPECT_TRUE(std::isnan(activation_scale(scalar, 2, cols / 2 / kInt16Block)));
        EXPECT_TRUE(std::isnan(activation_scale(scalar, 3, 0)));
        EXPECT_EQ(activation_scale(scalar, 1, 0), 0.0f) << "below 2^-100: zeros";
    }
}

enum class Kernel { Scalar, Avx2, AvxVnni, Avx512, Avx512Vnni };

struct KernelInfo {
    const char* name;
    bool (*available)();
    void (*run)(const Int16RowsArgs&, Int16Scratch&);
};

KernelInfo kernel_info(Kernel kernel) {
    switch (kernel) {
        case Kernel::Avx2:
            return {"AVX2", gemm_int16_avx2_available, gemm_int16_rows_avx2};
        case Kernel::AvxVnni:
            return {"AVX-VNNI", gemm_int16_avx_vnni_available, gemm_int16_rows_avx_vnni};
        case Kernel::Avx512:
            return {"AVX-512", gemm_int16_avx512_available, gemm_int16_rows_avx512};
        case Kernel::Avx512Vnni:
            return {"AVX512-VNNI", gemm_int16_avx512_vnni_available, gemm_int16_rows_avx512_vnni};
        default:
            return {"scalar", [] { return true; }, nullptr};
    }
}

// y from `kernel` for token counts 1..13 (full and partial tiles), 25 and 205, row
// counts that end in partial panels, column counts of partial blocks, one pass, several and a
// partial last one, with rows of magnitudes 2^-8 to 2^8: against float64 for the scalar reference
// (within the fixed point's bound), bit for bit against it for the SIMD paths.
void check_kernel(Kernel kernel) {
    const KernelInfo info = kernel_info(kernel);
    if (!info.available()) GTEST_SKIP() << "no " << info.name << " on this CPU";
    Int16Scratch scratch;
    for (const DType dtype : {DType::F16, DType::BF16, DType::Q8_0, DType::Q8_0_R16}) {
        const bool q8_0 = dtype == DType::Q8_0 || dtype == DType::Q8_0_R16;
        const auto col_counts = q8_0 ? std::vector<int64_t>{32, 64, 96, 544, 1120}
                                     : std::vector<int64_t>{1, 17, 64, 300, 1100};
        for (const int64_t cols : col_counts) {
            for (const int64_t n_rows :
                 {int64_t{1}, int64_t{9}, int64_t{16}, int64_t{33}, int64_t{75}, kInt16BlockRows}) {
                if (dtype == DType::BF16 && (cols == 17 || n_rows == 9)) continue;
                if (dtype == DType::Q8_0_R16 && n_rows % 16 != 0) continue;
                const Weights w =
                    make_weights(dtype, n_rows, cols, 5, {1.0f, 0x1p-8f, 0x1p8f, 0.3f});
                for (const int64_t n_tokens : std::initializer_list<int64_t>{
                         1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 205}) {
                    if (n_rows == kInt16BlockRows && n_tokens % 6 != 1 && n_tokens != 12) continue;
                    // Activations past L2 in a real model, here a few shapes.
                    if (n_tokens > 25 && (n_rows > 33 || cols > 300)) continue;
                    const auto values =
                        random_floats(n_tokens * cols, 6 + static_cast<uint32_t>(n_tokens));
                    Int16Activations x;
                    prepare_int16_activations(n_tokens, cols, x);
                    quantize_int16_activations_scalar(values, 0, x.n_tiles(), x);
                    const int64_t ldy = n_rows + 3;
                    std::vector<float> y(static_cast<size_t>(n_tokens * ldy), -7.0f);
                    std::vector<float> reference(y.size(), -7.0f);
                    Int16RowsArgs args{.type = dtype,
                                       .rows = w.bytes.data(),
                                       .row_stride = row_bytes(dtype, cols),  // Q8_0_R16: Q8_0's
                                       .n_rows = n_rows,
                                       .x = &x,
                                       .y = reference.data(),
                                       .ldy = ldy};
                    gemm_int16_rows_scalar(args);
                    const std::string what =
                        std::string(dtype_name(dtype)) + " cols " + std::to_string(cols) +
                        " rows " + std::to_string(n_rows) + " tokens " + std::to_string(n_tokens);
                    if (kernel != Kernel::Scalar) {
                        args.y = y.data();
                        info.run(args, scratch);
                        ASSERT_EQ(y, reference)
                            << what << ": " << info.name << " differs from scalar";
                        if (!q8_0) continue;
                        // With cross terms: the Winograd tile at AVX2, ignored elsewhere.
                        Int16Activations x_cross;
                        prepare_int16_activations(n_tokens, cols, x_cross, true);
                        quantize_int16_activations_scalar(values, 0, x_cross.n_tiles(), x_cross);
                        std::fill(y.begin(), y.end(), -7.0f);
                        args.x = &x_cross;
                        info.run(args, scratch);
                        ASSERT_EQ(y, reference)
                            << what << ": " << info.name << " with cross terms differs from scalar";
                        continue;
                    }
                    for (int64_t t = 0; t < n_tokens; ++t) {
                        for (int64_t r = 0; r < ldy; ++r) {
                            const float got = reference[t * ldy + r];
                            if (r >= n_rows) {
                                ASSERT_EQ(got, -7.0f) << "wrote past the block's rows";
                                continue;
                            }
                            // Per block: |weight error| <= half a weight unit (2^-11 of the
                            // block's leading power of two, at most its largest magnitude; Q8_0:
                            // exact), |activation error| <= half an activation unit.
                            double exact = 0;
                            double bound = 0;
                            for (int64_t b = 0; b * kInt16Block < cols; ++b) {
                                const int64_t end = std::min(cols, (b + 1) * kInt16Block);
                                double w_max = 0;
                                double x_max = 0;
                                for (int64_t k = b * kInt16Block; k < end; ++k) {
                                    w_max =
                                        std::max(w_max, std::fabs(double{w.values[r * cols + k]}));
                                    x_max =
                                        std::max(x_max, std::fabs(double{values[t * cols + k]}));
                                }
                                const double w_unit = q8_0 ? 0.0 : w_max * 0x1p-11;
                                const double x_unit = x_max / (2 * kInt16ActivationMax);
                                for (int64_t k = b * kInt16Block; k < end; ++k) {
                                    const double wk = w.values[r * cols + k];
                                    const double xk = values[t * cols + k];
                                    exact += wk * xk;
                                    bound += std::fabs(xk) * w_unit + std::fabs(wk) * x_unit +
                                             w_unit * x_unit + 1e-6 * std::fabs(wk * xk);
                                }
                            }
                            ASSERT_NEAR(got, exact, bound)
                                << what << " token " << t << " row " << r;
                        }
                    }
                }
            }
        }
    }
}

TEST(GemmInt16, ScalarKernelIsWithinTheFixedPointBound) { check_kernel(Kernel::Scalar); }
TEST(GemmInt16, Avx2KernelMatchesScalar) { check_kernel(Kernel::Avx2); }
TEST(GemmInt16, AvxVnniKernelMatchesScalar) { check_kernel(Kernel::AvxVnni); }
TEST(GemmInt16, Avx512KernelMatchesScalar) { check_kernel(Kernel::Avx512); }
TEST(GemmInt16, Avx512VnniKernelMatchesScalar) { check_kernel(Kernel::Avx512Vnni); }

// A weight or activation block that is not finite makes NaN exactly the outputs it reaches.
TEST(GemmInt16, NotFiniteBlocksGiveNaNOutputs) {
    const int64_t n_rows = 20, cols = 200, n_tokens = 8;
    Weights w = make_weights(DType::F16, n_rows, cols, 21);
    const uint16_t inf = 0x7c00;
    std::memcpy(w.bytes.data() + (3 * cols + 130) * 2, &inf, 2);  // row 3, block 2
    auto values = random_floats(n_tokens * cols, 22);
    values[5 * cols + 10] = std::numeric_limits<float>::quiet_NaN();  // token 5, block 0
    Int16Activations x;
    prepare_int16_activations(n_tokens, cols, x);
    quantize_int16_activations(values, 0, x.n_tiles(), x);
    std::vector<float> y(static_cast<size_t>(n_tokens * n_rows));
    Int16Scratch scratch;
    gemm_int16_rows({.type = DType::F16,
                     .rows = w.bytes.data(),
                     .row_stride = cols * 2,
                     .n_rows = n_rows,
                     .x = &x,
                     .y = y.data(),
                     .ldy = n_rows},
                    scratch);
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < n_rows; ++r) {
            EXPECT_EQ(std::isnan(y[t * n_rows + r]), t == 5 || r == 3) << t << " " << r;
        }
    }
}

TEST(GemmInt16, RejectsBadArguments) {
    const Weights w = make_weights(DType::F16, 4, 64, 1);
    Int16Activations x;
    prepare_int16_activations(2, 64, x);
    std::vector<float> y(8);
    Int16Scratch scratch;
    const Int16RowsArgs good{.type = DType::F16,
                             .rows = w.bytes.data(),
                             .row_stride = 128,
                             .n_rows = 4,
                             .x = &x,
                             .y = y.data(),
                             .ldy = 4};
    EXPECT_NO_THROW(gemm_int16_rows(good, scratch));
    Int16RowsArgs bad = good;
    bad.type = DType::F32;
    EXPECT_THROW(gemm_int16_rows(bad, scratch), Error);
    bad = good;
    bad.n_rows = kInt16BlockRows + 1;
    EXPECT_THROW(gemm_int16_rows_scalar(bad), Error);
    bad = good;
    bad.ldy = 3;
    EXPECT_THROW(gemm_int16_rows(bad, scratch), Error);
    bad = good;
    bad.row_stride = 64;  // shorter than a row
    EXPECT_THROW(gemm_int16_rows(bad, scratch), Error);
    bad = good;
    bad.x = nullptr;
    EXPECT_THROW(gemm_int16_rows(bad, scratch), Error);
    EXPECT_THROW(prepare_int16_activations(0, 64, x), Error);
    const std::vector<float> short_values(64);
    EXPECT_THROW(quantize_int16_activations(short_values, 0, 1, x), Error);  // 2 tokens' worth
    const std::vector<float> values(128);
    EXPECT_THROW(quantize_int16_activations(values, 0, 2, x), Error);  // one tile only
    EXPECT_FALSE(gemm_int16_supports(DType::F32));
    EXPECT_FALSE(gemm_int16_supports(DType::Q4_0));
    EXPECT_TRUE(gemm_int16_supports(DType::Q8_0));
    // An interleaved matrix's rows come in whole groups of 16.
    const Weights grouped = make_weights(DType::Q8_0_R16, 16, 64, 2);
    bad = good;
    bad.type = DType::Q8_0_R16;
    bad.rows = grouped.bytes.data();
    bad.row_stride = row_bytes(DType::Q8_0_R16, 64);
    bad.ldy = 16;
    std::vector<float> y16(32);
    bad.y = y16.data();
    bad.n_rows = 16;
    EXPECT_NO_THROW(gemm_int16_rows(bad, scratch));
    bad.n_rows = 8;
    EXPECT_THROW(gemm_int16_rows(bad, scratch), Error);
}

}  // namespace
}  // namespace llama::kernels
