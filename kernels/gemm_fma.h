#pragma once

// Many-token products of plain-float weights (F32, F16, BF16) in fp32 with FMA, for ISA levels
// without bfloat16 dot products (AVX2, AVX-512 without BF16; engine linear() takes F16 and BF16
// weights to the 16-bit integer GEMM there but at the plain avx512 level, gemm_int16.h), blocked
// for the caches as BLAS is:
// a call takes a block of up to kFmaBlockRows weight rows and runs over the columns in passes of
// kFmaDepth. Each pass widens 16 rows (AVX2) or 32 rows (AVX-512) of the pass's columns into a
// k-major fp32 panel that stays in L1 while every token runs over it in register tiles, the
// pass's activations (all tokens) stay in L2, and the sums are carried from pass to pass in a
// buffer of the block's own. Unblocked (a whole 16-row panel of all columns against every
// token), the activations of a 128-token prompt (2 MB at 4096 columns) came from L3 once per 16
// rows and the AVX-512 tile ran at half its in-cache rate (Xeon with AMX, one thread, F16 4096 x
// 4096 x 128 through engine linear(): AVX-512 125 -> 160-190 GFLOP/s, AVX2 90 -> 106-108, of
// peaks 225 and 125). The next panel's rows are prefetched into L2 while the tiles run.
//
// Every product and sum is fp32 (one FMA per term), summed over k in order, the sums stored and
// reloaded between passes unrounded: every path is bit-identical to the scalar reference.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/gemm_amx.h"
#include "llama/tensor.h"

namespace llama::kernels {

inline constexpr int64_t kFmaPanelRows = 16;
// Rows of a call: a unit of work a thread takes.
inline constexpr int64_t kFmaBlockRows = 256;
// Columns of a pass: 32 rows x 256 columns of fp32 is 32 KB, in L1 beside a tile's activations
// (48 KB on the Xeon measured; Zen 4's 32 KB L1 would hold the AVX-512 panel alone: not measured
// there, where the avx512-bf16 level takes float weights to VDPBF16PS instead).
inline constexpr int64_t kFmaDepth = 256;

// Floats of a panel of `cols` columns.
inline int64_t fma_panel_size(int64_t cols) { return kFmaPanelRows * cols; }

// Widens columns [first_col, first_col + cols) of rows [0, n_rows) (1 <= n_rows <= 16) of a
// plain-float weight matrix, rows row_stride bytes apart, into panel[k * 16 + r] (rows past n_rows
// are zeros). panel holds fma_panel_size(cols) floats, 32-byte aligned.
void pack_fma_panel(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                    int64_t first_col, int64_t cols, std::span<float> panel);

// Tokens per packed activation tile. The activations are packed once per product in tiles of 6
// tokens, k-major: tile i holds x[6i + t][k] at [i * 6 * cols + k * 6 + t] (zeros past
// n_tokens), so a tile's values for one k are 24 adjacent bytes. (Read in place, the 6 rows of x
// lie a multiple of 4 KB apart in the model's shapes, all in one L1 set, and the kernel ran at
// half speed.)
inline constexpr int64_t kFmaTileTokens = 6;
inline int64_t fma_activations_size(int64_t n_tokens, int64_t cols) {
    return (n_tokens + kFmaTileTokens - 1) / kFmaTileTokens * kFmaTileTokens * cols;
}
// x is [n_tokens, cols]; packed holds fma_activations_size(n_tokens, cols) floats.
void pack_fma_activations(std::span<const float> x, int64_t n_tokens, int64_t cols,
                          std::span<float> packed);

// A thread's buffers for gemm_fma_rows (panels, carried sums), reused across calls.
struct FmaScratch {
    std::vector<float, CacheAlignedAllocator<float>> panels;
    std::vector<float, CacheAlignedAllocator<float>> sums;
};

// y[t * ldy + r] = sum_k W[r][k] * x[t][k] for t < n_tokens, r < n_rows (1 <= n_rows <=
// kFmaBlockRows), W's rows `row_stride` bytes apart from `rows`, x packed by
// pack_fma_activations for `cols` columns. Each ISA's kernel; gemm_fma_rows picks the widest one
// the active ISA level allows.
struct FmaRowsArgs {
    DType type;
    const std::byte* rows;
    int64_t row_stride;
    int64_t n_rows;
    int64_t cols;
    std::span<const float> packed_x;
    int64_t n_tokens;
    float* y;
    int64_t ldy;
};
void gemm_fma_rows(const FmaRowsArgs& args, FmaScratch& scratch);
void gemm_fma_rows_scalar(const FmaRowsArgs& args);
void gemm_fma_rows_avx2(const FmaRowsArgs& args, FmaScratch& scratch);
void gemm_fma_rows_avx512(const FmaRowsArgs& args, FmaScratch& scratch);

// Whether the AVX2 / AVX-512 kernel can run here (CPU support, ignoring the cap), for tests.
bool gemm_fma_avx2_available();
bool gemm_fma_avx512_available();

}  // namespace llama::kernels
