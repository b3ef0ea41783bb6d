#pragma once

// Many-token products of plain-float weights (F32, F16, BF16) in fp32 with FMA, for ISA levels
// without bfloat16 dot products (AVX2, AVX-512 without BF16): the weights are widened a 16-row
// panel at a time into a k-major fp32 panel that stays in L2, and a register tile of 16 rows x 6
// tokens (12 accumulators of 8 floats) runs over it, each token value broadcast once per 16 rows.
// That is what BLAS does too, but without the widened tile being written out, packed again by
// BLAS and the activations repacked on every call (measured on Zen 4, F16 7B shape, 2 threads:
// see engine/linear.cpp).
//
// Every product and sum is fp32 (one FMA per term), summed over k in order; the scalar path is the
// reference the tests hold the SIMD path to.

#include <cstddef>
#include <cstdint>
#include <span>

#include "llama/tensor.h"

namespace llama::kernels {

inline constexpr int64_t kFmaPanelRows = 16;

// Floats of a panel of `cols` columns.
inline int64_t fma_panel_size(int64_t cols) { return kFmaPanelRows * cols; }

// Widens rows [0, n_rows) (1 <= n_rows <= 16) of a plain-float weight matrix, rows row_stride
// bytes apart, into panel[k * 16 + r] (rows past n_rows are zeros). panel holds
// fma_panel_size(cols) floats, 32-byte aligned.
void pack_fma_panel(DType type, const std::byte* rows, int64_t row_stride, int n_rows, int64_t cols,
                    std::span<float> panel);

// Tokens per register tile. The activations are packed once per product in tiles of 6 tokens,
// k-major: tile i holds x[6i + t][k] at [i * 6 * cols + k * 6 + t] (zeros past n_tokens), so a
// tile's values for one k are 24 adjacent bytes. (Read in place, the 6 rows of x lie a multiple
// of 4 KB apart in the model's shapes, all in one L1 set, and the kernel ran at half speed.)
inline constexpr int64_t kFmaTileTokens = 6;
inline int64_t fma_activations_size(int64_t n_tokens, int64_t cols) {
    return (n_tokens + kFmaTileTokens - 1) / kFmaTileTokens * kFmaTileTokens * cols;
}
// x is [n_tokens, cols]; packed holds fma_activations_size(n_tokens, cols) floats.
void pack_fma_activations(std::span<const float> x, int64_t n_tokens, int64_t cols,
                          std::span<float> packed);

// y[t * ldy + r] = sum_k panel[k * 16 + r] * x[t][k] for t < n_tokens, r < n_rows, x packed by
// pack_fma_activations. Each ISA's kernel; gemm_fma_panel picks the widest one the active ISA
// level allows.
void gemm_fma_panel(std::span<const float> panel, int n_rows, int64_t cols,
                    std::span<const float> packed_x, int64_t n_tokens, float* y, int64_t ldy);
void gemm_fma_panel_scalar(std::span<const float> panel, int n_rows, int64_t cols,
                           std::span<const float> packed_x, int64_t n_tokens, float* y,
                           int64_t ldy);
void gemm_fma_panel_avx2(std::span<const float> panel, int n_rows, int64_t cols,
                         std::span<const float> packed_x, int64_t n_tokens, float* y, int64_t ldy);
void gemm_fma_panel_avx512(std::span<const float> panel, int n_rows, int64_t cols,
                           std::span<const float> packed_x, int64_t n_tokens, float* y,
                           int64_t ldy);

// Whether the AVX2 / AVX-512 kernel can run here (CPU support, ignoring the cap), for tests.
bool gemm_fma_avx2_available();
bool gemm_fma_avx512_available();

}  // namespace llama::kernels
