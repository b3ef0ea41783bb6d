#pragma once

// Internal: the weight panel that gemm_quant's micro-kernels read, its packers, and the
// per-instruction-set kernels over it.
//
// A panel holds kPanelRows rows (rows past the matrix are zeros), block after block of the
// weight type. Values are bytes transposed in 4-byte groups: group k of a block is 64 bytes,
// bytes 4i..4i+3 holding values 4k..4k+3 of row i, so one 512-bit load is 16 rows' next four
// values (lane i = row i, the layout VPDPBUSD multiplies against four broadcast token values).
//
// Q8_0 / Q4_0 block (32 values, 576 bytes; Q5_0, IQ4_NL and IQ4_XS as Q8_0, see panel_type):
//   q[8][16][4]   Q8_0: the signed values; Q4_0: the nibbles 0..15 (value = d * (q - 8))
//   d[16]         fp32 block scales
// Q4_1 / Q5_1 block (32 values, 640 bytes): Q4_0's, the codes 0..15 / 0..31 (value = d * q + m),
//   then m[16] fp32 block mins
// K-quant super-block (256 values, 4736 + 64 * S bytes; Q2_K and Q3_K as Q6_K):
//   q[64][16][4]  unsigned codes: Q4_K 0..15, Q5_K 0..31, Q6_K 0..63
//   scale[S][16]  int32 sub-block scales (S = 8 sub-blocks of 32, Q6_K 16 of 16)
//   mins[8][16]   int32 lanes holding the int16 pair (m[2i], m[2i+1]): the min of each 16 values
//                 (Q4_K/Q5_K: the sub-block's min; Q6_K: 32 * scale, its -32 offset)
//   d[16], dmin[16] fp32 (Q6_K: dmin = d)
// so that row i of a super-block is d * sum_s scale_s * dot(q_s, x_s) - dmin * sum_g m_g * bsum_g,
// all in integers but the two scales.

#include <cstddef>
#include <cstdint>

#include "kernels/prefetch.h"
#include "kernels/quant_gemm.h"

namespace llama::kernels::detail {

inline constexpr int kPanelRows = 16;
inline constexpr int64_t kQ32PanelBlock = 8 * 64 + 64;             // 576
inline constexpr int64_t kQ32MinPanelBlock = kQ32PanelBlock + 64;  // 640: Q4_1/Q5_1, with mins
// The AVX2 path's Q8_0 block (1088 bytes): w + 128 as two nibble planes, low[8][16][4] then
// high[8][16][4], then d[16] (split_q8_panel_avx2).
inline constexpr int64_t kQ8SplitPanelBlock = 2 * 8 * 64 + 64;
// Offsets inside a K-quant panel super-block.
inline constexpr int64_t kKPanelScales = 64 * 64;  // 4096
inline constexpr int64_t kKPanelMinsFromEnd = 8 * 64 + 2 * 64;

inline bool is_k_quant_type(DType type) {
    return type == DType::Q4_K || type == DType::Q5_K || type == DType::Q6_K;
}
// The panel layout (and micro-kernel, and activation quantization) a weight type runs on: its own,
// or one that holds it exactly. Q5_0 and IQ4_NL are signed 8-bit values times an f16 scale, as
// Q8_0 (d * (q - 16), d * grid[q]), and so is each 32-value sub-block of IQ4_XS (d * (ls - 32) *
// grid[q], its activations in 32-value blocks too); Q2_K and Q3_K are 16 sub-blocks of 16 small
// unsigned codes with integer scales and 16-value offsets, as Q6_K (Q3_K's -4 offset is 4 * scale,
// as Q6_K's -32 is 32 * scale; Q2_K's mins with its own dmin).
inline DType panel_type(DType type) {
    switch (type) {
        case DType::Q4_0_R16:  // row-interleaved: each panel's rows are taken out first
            return DType::Q4_0;
        case DType::Q4_K_R16:
            return DType::Q4_K;
        case DType::Q5_K_R16:
            return DType::Q5_K;
        case DType::IQ4_NL_R16:
        case DType::Q8_0_R16:
            return DType::Q8_0;
        case DType::Q6_K_R16:
            return DType::Q6_K;
        case DType::Q5_0:
        case DType::IQ4_NL:
        case DType::IQ4_XS:
            return DType::Q8_0;
        case DType::Q2_K:
        case DType::Q3_K:
            return DType::Q6_K;
        default:
            return type;
    }
}
// 32-value blocks with a min (value = d * q + m): the block sum of x (the activation bias)
// times m is added to each block's product.
inline bool has_block_min(DType type) { return type == DType::Q4_1 || type == DType::Q5_1; }
// Sub-blocks with their own integer scale in a super-block.
inline int k_quant_sub_blocks(DType type) { return type == DType::Q6_K ? 16 : 8; }
// Bytes of one panel block (32 values for Q8_0/Q4_0, 256 for the K-quants).
inline int64_t panel_block_bytes(DType weight_type) {
    const DType type = panel_type(weight_type);
    if (is_k_quant_type(type)) {
        return kKPanelScales + 64 * k_quant_sub_blocks(type) + kKPanelMinsFromEnd;
    }
    return has_block_min(type) ? kQ32MinPanelBlock : kQ32PanelBlock;
}

// Tokens per micro-kernel tile, which are the groups of the batch a path quantizes
// (QuantizedBatch::group): as many accumulators as the registers hold beside the weights, 16
// ymm registers for AVX2, 32 zmm for AVX-512; the scalar kernel runs one token at a time.
inline constexpr int kAvx2Tokens32 = 3;
inline constexpr int kAvx2TokensK = 5;
inline constexpr int kAvx512Tokens32 = 16;
inline constexpr int kAvx512TokensK = 12;
inline int64_t tile_tokens(QuantPath path, DType panel) {
    const bool k_quant = is_k_quant_type(panel);
    switch (path) {
        case QuantPath::Avx2:
        case QuantPath::AvxVnni:
            return k_quant ? kAvx2TokensK : kAvx2Tokens32;
        case QuantPath::Avx512Vnni:
            return k_quant ? kAvx512TokensK : kAvx512Tokens32;
        case QuantPath::Scalar:
            break;
    }
    return 1;
}

// Calls tile(t0, count) for tiles of at most max_tokens tokens, in order, none across a group of
// the batch (a tile's tokens are then consecutive slots of each block).
template <class Tile>
void for_each_tile(const QuantizedBatch& x, int64_t max_tokens, Tile&& tile) {
    for (int64_t g0 = 0; g0 < x.n_tokens; g0 += x.group) {
        const int64_t end = g0 + x.group_size(g0);
        for (int64_t t0 = g0; t0 < end; t0 += max_tokens) {
            tile(t0, end - t0 < max_tokens ? end - t0 : max_tokens);
        }
    }
}

// Writes 8 panel groups (8 * 64 bytes at out, 64-byte aligned) from a tile of kPanelRows rows of
// 8 words, row r at rows + r * row_stride (in words): group k holds word k of every row. One per
// instruction set.
using Transpose16x8 = void (*)(const uint32_t* rows, int64_t row_stride, std::byte* out);
void transpose_16x8_portable(const uint32_t* rows, int64_t row_stride, std::byte* out);
void transpose_16x8_avx2(const uint32_t* rows, int64_t row_stride, std::byte* out);
void transpose_16x8_avx512(const uint32_t* rows, int64_t row_stride, std::byte* out);

// Widens rows [0, n_rows) (n_rows <= kPanelRows) of n_blocks blocks each, rows row_stride bytes
// apart, into a panel of n_blocks * panel_block_bytes(type) bytes.
void pack_panel(DType type, const std::byte* rows, int64_t row_stride, int n_rows, int64_t n_blocks,
                Transpose16x8 transpose, std::byte* panel);
// The same with AVX-512 from the weight rows directly (the portable packer for partial panels).
void pack_panel_avx512(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                       int64_t n_blocks, std::byte* panel);

// The panel of one 16-row group of a row-interleaved matrix (Q4_0_R16, Q4_K_R16): the same bytes
// pack_panel gives for those rows in the base layout.
void pack_panel_r16(DType type, const std::byte* group, int64_t n_blocks, std::byte* panel);

// out[t * ldy + i] = dot(panel row i, token t) for i < n_rows, t < x.n_tokens.
struct PanelGemmArgs {
    DType dtype;
    const std::byte* panel;  // 64-byte aligned
    int64_t n_blocks;
    int n_rows;
    const QuantizedBatch* x;
    float* y;
    int64_t ldy;
    // The next panel's weight bytes, into L2 a step a block of every tile (null: none).
    SpreadPrefetch* prefetch = nullptr;
};

// A step of the next panel's prefetch (PanelGemmArgs), from a tile's loop over the blocks.
inline void prefetch_step(const PanelGemmArgs& args) {
    if (args.prefetch != nullptr) args.prefetch->step();
}

void panel_gemm_scalar(const PanelGemmArgs& args);
// The AVX2 kernel reads Q8_0 panels (and those that pack as Q8_0) split into nibble planes
// (kQ8SplitPanelBlock): split_q8_panel_avx2 rewrites a packed Q8_0 panel of n_blocks blocks into
// them in place (the buffer holding n_blocks * kQ8SplitPanelBlock bytes).
void split_q8_panel_avx2(std::byte* panel, int64_t n_blocks);
// pack_panel_r16 and split_q8_panel_avx2 in one pass, for Q8_0_R16.
void pack_q8_0_r16_split_avx2(const std::byte* group, int64_t n_blocks, std::byte* panel);
void panel_gemm_avx2(const PanelGemmArgs& args);
void panel_gemm_avx_vnni(const PanelGemmArgs& args);  // Q8_0 / Q4_0 on AVX-VNNI, else AVX2
void panel_gemm_avx512(const PanelGemmArgs& args);

}  // namespace llama::kernels::detail
