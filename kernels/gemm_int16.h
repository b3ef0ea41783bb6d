#pragma once

// Many-token products of 16-bit float weights (F16, BF16), and of Q8_0 at the levels without
// 8-bit dot products that add into int32, on 16-bit integer dot products: AVX2's VPMADDWD
// multiplies 16 pairs of int16 an instruction where an FMA multiplies 8 floats, AVX-VNNI's VPDPWSSD
// adds the sums in the same instruction (and the AVX-512 / AVX512-VNNI forms on zmm registers). In
// cache, one Zen 5 core: 115 (VPMADDWD + VPADDD) and 131 (VPDPWSSD) billion products a second
// against 66 for the fp32 FMA tile of the same shape (16 rows x 6 tokens).
//
// Columns go in blocks that share a scale:
// - a token's block of kInt16Block columns is rounded to |q| <= 16383 of its largest magnitude (15
//   bits where the f16 activations of llama.cpp's F16 path keep 11; bf16, the AVX512-BF16 path's,
//   8; the q8_0 activations of its Q8_0 path, and of gemm_quant, 8 in blocks of 32);
// - an F16 / BF16 weight row's block of kInt16Block is fixed point with the power of two that puts
//   its largest magnitude's leading bit at 2^10 (|w| <= 2047): every value within a factor 2 of the
//   block's largest is exact (f16 holds 11 significant bits), smaller ones keep what is above 2^-11
//   of it;
// - a Q8_0 row's block of 32 is its own values exactly: the 8-bit codes sign-extended, its f16
//   scale. At the AVX2 level that is faster than gemm_quant's 8-bit kernel: VPMADDUBSW takes an
//   unsigned operand, so a signed product there costs two of them (quant_gemm_avx2.cpp's nibble
//   planes) or a sign and a VPMADDWD; here one VPMADDWD and a VPADDD a 16 products.
// The products of a weight block are summed exactly in int32 (2047 x 16383 x 64 and 128 x 16383 x
// 32 < 2^31) and added to the fp32 sum as float(block sum) x (weight scale x token scale) with one
// FMA; Q8_0's two weight blocks of a token block as (float(sum 1) x scale 1 + float(sum 2) x
// scale 2) x token scale, a multiply and two FMAs where one product a block took four (the two
// scale products and their FMAs, on the multiply ports VPMADDWD needs). Block after block in column
// order, so every path is bit-identical to the scalar reference. A block with a value that is not
// finite gets a NaN scale: the outputs it reaches are NaN, as fp32 products would make them (or
// infinite).
//
// At the plain AVX2 level (no VNNI) Q8_0 runs on Winograd's inner product instead, when the
// activations carry cross terms (prepare_int16_activations): a VPMADDWD lane holds
// (w2 + x0)(w0 + x2) + (w3 + x1)(w1 + x3) = w0 x0 + w1 x1 + w2 x2 + w3 x3 + (w0 w2 + w1 w3) +
// (x0 x2 + x1 x3), two VPADDW making its operands from the panel's and the activations' own column
// pairs, so a VPMADDWD takes 32 products where it took 16: four vector instructions a 32 products
// as before, but only one of them on the two pipes that multiply, which the plain tile kept 88%
// busy (tools/bench-kernels/int16_bound_bench.cpp). The weights' cross terms (per panel row and
// 32-column block, computed once a panel) and the activations' (per token and block, computed when
// quantizing) start each block's sums negated. Every sum wraps modulo 2^32 and the true block sum
// fits in int32, so the result is the same integer, bit for bit.
//
// Blocked for the caches as gemm_fma.h is: a call takes up to kInt16BlockRows weight rows and runs
// over the columns in passes of kInt16Depth; each pass packs 16 rows of the pass's columns into a
// panel that stays in L1 while every token runs over it in register tiles of up to 6 tokens.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/gemm_amx.h"
#include "llama/tensor.h"

namespace llama::kernels {

inline constexpr int64_t kInt16Block = 64;             // columns a scale
inline constexpr int64_t kInt16CrossBlock = 32;        // columns a cross term (Q8_0's block)
inline constexpr int32_t kInt16WeightMax = 2047;       // |weight| after scaling
inline constexpr int32_t kInt16ActivationMax = 16383;  // |activation| after scaling
inline constexpr int64_t kInt16PanelRows = 16;
inline constexpr int64_t kInt16TileTokens = 6;
inline constexpr int64_t kInt16BlockRows = 256;
// Columns a pass: 16 rows x 512 columns of int16 is 16 KB, in L1 beside a tile's activations.
inline constexpr int64_t kInt16Depth = 512;

// Whether gemm_int16_rows takes weights of this type (F16, BF16, Q8_0, Q8_0_R16).
bool gemm_int16_supports(DType type);
// Columns a weight scale: kInt16Block, or 32 for Q8_0 (a divisor of kInt16Block).
int64_t int16_weight_block(DType type);

// Whether, at the active ISA level, F16 / BF16 weights should run here rather than on the fp32
// FMA tiles (gemm_fma.h): from AVX2 on, except at the plain avx512 level (no VNNI), where zmm
// VPMADDWD + VPADDD lost to the zmm FMA tiles on an Intel Xeon with AMX (16 cores; F16 prompt 128,
// 7B shape, 8 layers, t/s FMA -> int16 at 2 threads 47.2 / 50.2 -> 41.3 / 46.1, at 16 threads
// 317.8 / 261.5 -> 274.0 / 262.4). Everywhere else it won there: avx2 +21-26%, avx2-vnni +48-64%,
// avx512-vnni +3-34%, avx512-bf16 (Intel, whose VDPBF16PS is slow) +9-39%.
bool gemm_int16_beats_fma();

// A prompt's activations quantized for gemm_int16_rows: columns zero-padded to whole blocks
// (padded_cols), tokens to whole tiles of kInt16TileTokens. pairs[tile][k / 2][token in tile]
// holds x[k] (low half) and x[k + 1] (high half) as int16; scales[tile][block][token in tile]
// is the block's scale (largest magnitude / kInt16ActivationMax). If asked for, cross_terms
// [tile][k / 32][token in tile] holds minus the sum of x[k] x[k + 2] + x[k + 1] x[k + 3] over the
// 4-column groups of each 32-column block, modulo 2^32 (the Winograd tile's correction).
struct Int16Activations {
    int64_t n_tokens = 0;
    int64_t cols = 0;
    int64_t padded_cols = 0;
    std::vector<int32_t, CacheAlignedAllocator<int32_t>> pairs;
    std::vector<float> scales;
    std::vector<int32_t> cross_terms;  // empty unless prepared with them

    int64_t n_tiles() const { return (n_tokens + kInt16TileTokens - 1) / kInt16TileTokens; }
    int64_t n_blocks() const { return padded_cols / kInt16Block; }
    const int32_t* tile_pairs(int64_t tile) const {
        return pairs.data() + tile * kInt16TileTokens * (padded_cols / 2);
    }
    const float* tile_scales(int64_t tile) const {
        return scales.data() + tile * kInt16TileTokens * n_blocks();
    }
    bool has_cross_terms() const { return !cross_terms.empty(); }
    const int32_t* tile_cross_terms(int64_t tile) const {
        return cross_terms.data() + tile * kInt16TileTokens * (padded_cols / kInt16CrossBlock);
    }
};

// Sizes `x` for n_tokens tokens of `cols` columns, with room for the cross terms if asked for
// (gemm_int16_wants_cross_terms says when the kernel gemm_int16_rows picks would use them).
void prepare_int16_activations(int64_t n_tokens, int64_t cols, Int16Activations& x,
                               bool cross_terms = false);
bool gemm_int16_wants_cross_terms(DType type);
// Quantizes tiles [tile_begin, tile_end) from rows of `values` ([n_tokens, cols] floats): tiles
// are independent, so threads may take ranges of them. Rounds to nearest, ties to even.
void quantize_int16_activations(std::span<const float> values, int64_t tile_begin, int64_t tile_end,
                                Int16Activations& x);
void quantize_int16_activations_scalar(std::span<const float> values, int64_t tile_begin,
                                       int64_t tile_end, Int16Activations& x);

// A thread's buffers for gemm_int16_rows (a panel, carried sums), reused across calls.
struct Int16Scratch {
    std::vector<int32_t, CacheAlignedAllocator<int32_t>> panel;
    std::vector<float, CacheAlignedAllocator<float>> panel_scales;
    std::vector<int32_t, CacheAlignedAllocator<int32_t>> panel_cross_terms;
    std::vector<float, CacheAlignedAllocator<float>> sums;
};

// y[t * ldy + r] = sum_k W[r][k] * x[t][k] for t < x.n_tokens, r < n_rows (1 <= n_rows <=
// kInt16BlockRows), W's rows `row_stride` bytes apart from `rows` (Q8_0_R16: whole 16-row groups
// from a group's first row, row_stride the group's bytes / 16), in the blocked fixed point above.
// gemm_int16_rows picks the widest kernel the active ISA level allows (none below AVX2: the scalar
// one is the reference).
struct Int16RowsArgs {
    DType type;
    const std::byte* rows;
    int64_t row_stride;
    int64_t n_rows;
    const Int16Activations* x;
    float* y;
    int64_t ldy;
};
void gemm_int16_rows(const Int16RowsArgs& args, Int16Scratch& scratch);
void gemm_int16_rows_scalar(const Int16RowsArgs& args);
void gemm_int16_rows_avx2(const Int16RowsArgs& args, Int16Scratch& scratch);
void gemm_int16_rows_avx_vnni(const Int16RowsArgs& args, Int16Scratch& scratch);
void gemm_int16_rows_avx512(const Int16RowsArgs& args, Int16Scratch& scratch);
void gemm_int16_rows_avx512_vnni(const Int16RowsArgs& args, Int16Scratch& scratch);

// Whether each kernel can run here (CPU support, ignoring the cap), for tests.
bool gemm_int16_avx2_available();
bool gemm_int16_avx_vnni_available();
bool gemm_int16_avx512_available();
bool gemm_int16_avx512_vnni_available();

// The fixed point of one weight block (scalar reference, for tests): w_int[i] and the block's
// scale for `values` (at most kInt16Block, the rest of the block zeros).
float quantize_int16_weight_block(std::span<const float> values, std::span<int16_t> w_int);

}  // namespace llama::kernels
