// fp32 FMA GEMM (kernels/gemm_fma.h): the packers against element-by-element layouts, the scalar
// kernel against float64 products of the widened weights, and the AVX2 and AVX-512 kernels bit for
// bit against the scalar one (all sum each output over k in order with one FMA per term). Run at
// every ISA level by ctest; engine linear() on float weights at each level against BLAS sgemm.

#include "kernels/gemm_fma.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/linear.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm_int16.h"
#include "kernels/kernels.h"
#include "llama/error.h"
#include "tests/random_values.h"

namespace llama::kernels {
namespace {

using test::random_floats;

// Weights in `dtype` and the same values widened to fp32.
struct Weights {
    std::vector<std::byte> bytes;
    std::vector<float> values;
};

Weights make_weights(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
    Weights w;
    w.values = random_floats(rows * cols, seed);
    w.bytes.resize(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    if (dtype == DType::F32) {
        std::memcpy(w.bytes.data(), w.values.data(), w.bytes.size());
        return w;
    }
    std::vector<uint16_t> narrowed(w.values.size());
    for (size_t i = 0; i < narrowed.size(); ++i) {
        narrowed[i] = dtype == DType::F16 ? f32_to_f16(w.values[i]) : f32_to_bf16(w.values[i]);
        w.values[i] = dtype == DType::F16 ? f16_to_f32(narrowed[i]) : bf16_to_f32(narrowed[i]);
    }
    std::memcpy(w.bytes.data(), narrowed.data(), w.bytes.size());
    return w;
}

using Panel = std::vector<float, CacheAlignedAllocator<float>>;

constexpr DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};

TEST(GemmFma, PanelIsTheWidenedColumnsColumnMajorWithZeroPadding) {
    const int64_t row_cols = 211;  // the whole rows; the panel takes columns from first_col
    for (const DType dtype : kFloatTypes) {
        for (const int64_t first_col : {0, 3, 8}) {
            for (const int64_t cols : {1, 7, 64, 65, 203}) {
                for (const int n_rows : {1, 5, 9, 16}) {
                    const Weights w = make_weights(dtype, n_rows, row_cols, 3);
                    Panel panel(static_cast<size_t>(fma_panel_size(cols)), -1.0f);
                    pack_fma_panel(dtype, w.bytes.data(), row_bytes(dtype, row_cols), n_rows,
                                   first_col, cols, panel);
                    for (int64_t k = 0; k < cols; ++k) {
                        for (int r = 0; r < kFmaPanelRows; ++r) {
                            const float expected =
                                r < n_rows ? w.values[r * row_cols + first_col + k] : 0.0f;
                            ASSERT_EQ(panel[k * kFmaPanelRows + r], expected)
                                << dtype_name(dtype) << " first " << first_col << " cols " << cols
                                << " k " << k << " r " << r;
                        }
                    }
                }
            }
        }
    }
}

TEST(GemmFma, ActivationsArePackedInTokenTilesWithZeroPadding) {
    const int64_t cols = 9;
    for (const int64_t n_tokens : {1, 6, 7, 13}) {
        const auto x = random_floats(n_tokens * cols, 4);
        std::vector<float> packed(static_cast<size_t>(fma_activations_size(n_tokens, cols)), -1);
        pack_fma_activations(x, n_tokens, cols, packed);
        for (int64_t t = 0; t < (n_tokens + 5) / 6 * 6; ++t) {
            for (int64_t k = 0; k < cols; ++k) {
                const float got = packed[(t / 6) * 6 * cols + k * 6 + t % 6];
                ASSERT_EQ(got, t < n_tokens ? x[t * cols + k] : 0.0f) << t << " " << k;
            }
        }
    }
}

// y from `kernel` for every token count 1..13 (full and partial tiles) and 25, row counts that
// end in partial panels and odd panel counts, column counts of one pass, several and a partial
// last one: against float64 for the scalar reference, bit for bit against it for the SIMD paths.
enum class Kernel { Scalar, Avx2, Avx512 };

void check_kernel(Kernel kernel) {
    if (kernel == Kernel::Avx2 && !gemm_fma_avx2_available()) {
        GTEST_SKIP() << "no AVX2/FMA on this CPU";
    }
    if (kernel == Kernel::Avx512 && !gemm_fma_avx512_available()) {
        GTEST_SKIP() << "no AVX-512 on this CPU";
    }
    FmaScratch scratch;
    for (const DType dtype : kFloatTypes) {
        for (const int64_t cols : {1, 17, 300, 520}) {
            for (const int64_t n_rows :
                 {int64_t{1}, int64_t{9}, int64_t{16}, int64_t{33}, int64_t{75}, kFmaBlockRows}) {
                if (dtype != DType::F16 && (cols == 17 || n_rows == 9)) continue;
                const Weights w = make_weights(dtype, n_rows, cols, 5);
                for (int64_t n_tokens = 1; n_tokens <= 25; n_tokens += n_tokens < 13 ? 1 : 12) {
                    const auto x =
                        random_floats(n_tokens * cols, 6 + static_cast<uint32_t>(n_tokens));
                    std::vector<float> packed(
                        static_cast<size_t>(fma_activations_size(n_tokens, cols)));
                    pack_fma_activations(x, n_tokens, cols, packed);
                    const int64_t ldy = n_rows + 3;
                    std::vector<float> y(static_cast<size_t>(n_tokens * ldy), -7.0f);
                    std::vector<float> reference(y.size(), -7.0f);
                    FmaRowsArgs args{.type = dtype,
                                     .rows = w.bytes.data(),
                                     .row_stride = row_bytes(dtype, cols),
                                     .n_rows = n_rows,
                                     .cols = cols,
                                     .packed_x = packed,
                                     .n_tokens = n_tokens,
                                     .y = reference.data(),
                                     .ldy = ldy};
                    gemm_fma_rows_scalar(args);
                    const std::string what =
                        std::string(dtype_name(dtype)) + " cols " + std::to_string(cols) +
                        " rows " + std::to_string(n_rows) + " tokens " + std::to_string(n_tokens);
                    if (kernel != Kernel::Scalar) {
                        args.y = y.data();
                        (kernel == Kernel::Avx2 ? gemm_fma_rows_avx2 : gemm_fma_rows_avx512)(
                            args, scratch);
                        ASSERT_EQ(y, reference)
                            << what << ": " << (kernel == Kernel::Avx2 ? "AVX2" : "AVX-512")
                            << " differs from the scalar path";
                        continue;
                    }
                    for (int64_t t = 0; t < n_tokens; ++t) {
                        for (int64_t r = 0; r < ldy; ++r) {
                            const float got = reference[t * ldy + r];
                            if (r >= n_rows) {
                                ASSERT_EQ(got, -7.0f) << "wrote past the block's rows";
                                continue;
                            }
                            double expected = 0, magnitude = 0;
                            for (int64_t k = 0; k < cols; ++k) {
                                const double term =
                                    static_cast<double>(w.values[r * cols + k]) * x[t * cols + k];
                                expected += term;
                                magnitude += std::fabs(term);
                            }
                            ASSERT_NEAR(got, expected, 1e-6 * magnitude + 1e-12)
                                << what << " token " << t << " row " << r;
                        }
                    }
                }
            }
        }
    }
}

TEST(GemmFma, ScalarKernelMatchesDoubleReference) { check_kernel(Kernel::Scalar); }
TEST(GemmFma, Avx2KernelEqualsScalarBitForBit) { check_kernel(Kernel::Avx2); }
TEST(GemmFma, Avx512KernelEqualsScalarBitForBit) { check_kernel(Kernel::Avx512); }

TEST(GemmFma, RejectsBadShapesAndTypes) {
    Panel panel(static_cast<size_t>(fma_panel_size(8)));
    std::vector<std::byte> bytes(300 * 8 * 4);
    EXPECT_THROW(pack_fma_panel(DType::F32, bytes.data(), 32, 0, 0, 8, panel), Error);
    EXPECT_THROW(pack_fma_panel(DType::F32, bytes.data(), 32, 17, 0, 8, panel), Error);
    EXPECT_THROW(pack_fma_panel(DType::F32, bytes.data(), 32, 4, 0, 9, panel), Error);
    EXPECT_THROW(pack_fma_panel(DType::F32, bytes.data(), 32, 4, -1, 8, panel), Error);
    EXPECT_THROW(pack_fma_panel(DType::Q8_0, bytes.data(), 34, 4, 0, 8, panel), Error);
    std::vector<float> x(fma_activations_size(2, 8)), y(300 * 8);
    FmaScratch scratch;
    const FmaRowsArgs good{.type = DType::F32,
                           .rows = bytes.data(),
                           .row_stride = 32,
                           .n_rows = 4,
                           .cols = 8,
                           .packed_x = x,
                           .n_tokens = 2,
                           .y = y.data(),
                           .ldy = 16};
    EXPECT_NO_THROW(gemm_fma_rows(good, scratch));
    FmaRowsArgs bad = good;
    bad.n_tokens = 7;  // x too short
    EXPECT_THROW(gemm_fma_rows_scalar(bad), Error);
    EXPECT_THROW(gemm_fma_rows(bad, scratch), Error);
    bad = good;
    bad.n_rows = kFmaBlockRows + 1;
    EXPECT_THROW(gemm_fma_rows(bad, scratch), Error);
    bad = good;
    bad.ldy = 3;
    EXPECT_THROW(gemm_fma_rows(bad, scratch), Error);
    bad = good;
    bad.type = DType::Q8_0;
    EXPECT_THROW(gemm_fma_rows(bad, scratch), Error);
}

// engine linear() with many tokens on float weights, whatever path the ISA level under test takes
// (FMA tiles at AVX2/AVX-512, bf16 where the level has it and it is fast, sgemm at scalar), against
// the sgemm reference: within fp32 summation order, or bf16 rounding on the bf16 levels.
TEST(GemmFma, LinearOnFloatWeightsMatchesSgemm) {
    const int64_t rows = 75, cols = 333;
    ThreadPool pool(2);
    // bf16 products on AMX, or on AVX512-BF16 where that outruns fp32 FMA (AMD); else F16 / BF16
    // on 16-bit integer products where those win (gemm_int16_beats_fma); fp32 elsewhere, so the
    // bound also checks which path float weights take.
    const bool bf16_level =
        isa_enabled(IsaLevel::Amx) || (isa_enabled(IsaLevel::Avx512Bf16) && cpu_bf16_dot_is_fast());
    const bool int16_level = gemm_int16_beats_fma() && !bf16_level;
    for (const DType dtype : kFloatTypes) {
        const bool int16 = int16_level && gemm_int16_supports(dtype);
        const Weights w = make_weights(dtype, rows, cols, 8);
        const Matrix m{dtype, rows, cols, w.bytes.data()};
        for (const int64_t n_tokens : {4, 5, 6, 16, 37}) {
            const auto x = random_floats(n_tokens * cols, 9);
            std::vector<float> y(static_cast<size_t>(n_tokens * rows));
            std::vector<float> reference(y.size());
            LinearScratch scratch;
            // Where 4 tokens take the matrix-vector kernels (below AVX2, and for the reference),
            // in fp32: their f16-rounded activations are not what this test is about.
            scratch.half_activations = false;
            linear(pool, m, x, n_tokens, y, scratch);
            scratch.bf16_gemm = false;
            linear(pool, m, x, n_tokens, reference, scratch);
            for (int64_t t = 0; t < n_tokens; ++t) {
                for (int64_t r = 0; r < rows; ++r) {
                    // The fixed point's rounding (values within [-1, 1]: weights to 2^-11,
                    // activations to half of 1/16383) besides fp32's.
                    double magnitude = 0;
                    double fixed_point = 0;
                    for (int64_t k = 0; k < cols; ++k) {
                        const double wk = std::fabs(w.values[r * cols + k]);
                        const double xk = std::fabs(x[t * cols + k]);
                        magnitude += wk * xk;
                        const double x_unit = 1.0 / (2 * kInt16ActivationMax);
                        fixed_point += xk * 0x1p-11 + wk * x_unit + 0x1p-11 * x_unit;
                    }
                    const double bound = bf16_level ? 1e-2 * magnitude
                                         : int16    ? 1e-5 * magnitude + fixed_point
                                                    : 1e-5 * magnitude;
                    ASSERT_NEAR(y[t * rows + r], reference[t * rows + r], bound)
                        << dtype_name(dtype) << " token " << t << " row " << r;
                }
            }
        }
    }
}

}  // namespace
}  // namespace llama::kernels
