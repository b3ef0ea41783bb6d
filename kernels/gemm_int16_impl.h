#pragma once

// Internals shared by gemm_int16.cpp (scalar reference, dispatch), gemm_int16_avx2.cpp (the AVX2
// and AVX-VNNI kernels, the SIMD packers) and gemm_int16_avx512.cpp: the rules that set a block's
// scale, the argument check, the panel packers and the blocked loop over register tiles.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <utility>

#include "kernels/gemm_int16.h"
#include "kernels/prefetch.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"

namespace llama::kernels::detail {

// A float's magnitude bits: their integer order is the order of the magnitudes, and every NaN or
// infinity is above every finite value, which a float max would not promise.
inline constexpr uint32_t kNotFiniteBits = 0x7f800000u;

// 2^n for a normal float's exponent range, -126 <= n <= 127, from its bits (std::ldexp is a
// library call, 4% of an F16 prompt's time once per row and block).
inline float power_of_two(int n) {
    const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
    float value;
    __builtin_memcpy(&value, &bits, sizeof value);
    return value;
}

// A weight block's scaling from the bits of its largest magnitude: the multiplier (an exact power
// of two) that maps the block into |w| <= 2047 and the block's scale, its inverse. A block that
// is not finite multiplies by 0 and has scale NaN.
struct WeightScaling {
    float multiplier;
    float scale;
};
inline WeightScaling weight_scaling(uint32_t max_abs_bits) {
    if (max_abs_bits >= kNotFiniteBits) return {0.0f, std::numeric_limits<float>::quiet_NaN()};
    // floor(log2) of a normal float; zeros and subnormals (-127) are clamped so that the
    // multiplier stays finite, and round to 0.
    const int exponent = std::max(static_cast<int>(max_abs_bits >> 23) - 127, -100);
    return {power_of_two(10 - exponent), power_of_two(exponent - 10)};
}

// A token block's scaling from the bits of its largest magnitude: the multiplier into
// |q| <= 16383 and the scale. Below 2^-100 the block counts as zeros (its multiplier would not be
// finite); a block that is not finite multiplies by 0 and has scale NaN.
struct ActivationScaling {
    float multiplier;
    float scale;
};
inline ActivationScaling activation_scaling(uint32_t max_abs_bits) {
    if (max_abs_bits >= kNotFiniteBits) return {0.0f, std::numeric_limits<float>::quiet_NaN()};
    float largest;
    static_assert(sizeof largest == sizeof max_abs_bits);
    __builtin_memcpy(&largest, &max_abs_bits, sizeof largest);
    if (largest < 0x1p-100f) return {0.0f, 0.0f};
    const auto q_max = static_cast<float>(kInt16ActivationMax);
    return {q_max / largest, largest / q_max};
}

inline uint32_t magnitude_bits(float value) {
    uint32_t bits;
    __builtin_memcpy(&bits, &value, sizeof bits);
    return bits & 0x7fffffffu;
}

void check_int16_args(const Int16RowsArgs& args);
void check_int16_activations(std::span<const float> values, int64_t tile_begin, int64_t tile_end,
                             const Int16Activations& x);

// The cross terms (Int16Activations) of a quantized tile, if x has room for them.
void fill_int16_cross_terms(int64_t tile, Int16Activations& x);

// One token's block of activations: `count` values (the rest of the block zeros) into
// pairs[0], pairs[kInt16TileTokens], ... (the token's slots in a packed tile) and its scale.
void quantize_int16_activation_block(const float* values, int64_t count, int32_t* pairs,
                                     float* scale);

// quantize(values, count, pairs, scale) for every token block of tiles [tile_begin, tile_end)
// (quantize_int16_activation_block's arguments; padding tokens have count 0).
template <class Quantize>
void quantize_int16_tiles(std::span<const float> values, int64_t tile_begin, int64_t tile_end,
                          Int16Activations& x, Quantize quantize) {
    check_int16_activations(values, tile_begin, tile_end, x);
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
        int32_t* pairs = x.pairs.data() + tile * kInt16TileTokens * (x.padded_cols / 2);
        float* scales = x.scales.data() + tile * kInt16TileTokens * x.n_blocks();
        for (int64_t t = 0; t < kInt16TileTokens; ++t) {
            const int64_t token = tile * kInt16TileTokens + t;
            const float* row = values.data() + std::min(token, x.n_tokens - 1) * x.cols;
            for (int64_t b = 0; b < x.n_blocks(); ++b) {
                const int64_t col0 = b * kInt16Block;
                const int64_t count =
                    token < x.n_tokens ? std::clamp<int64_t>(x.cols - col0, 0, kInt16Block) : 0;
                quantize(row + std::min(col0, x.cols), count,
                         pairs + col0 / 2 * kInt16TileTokens + t,
                         scales + b * kInt16TileTokens + t);
            }
        }
        if (x.has_cross_terms()) fill_int16_cross_terms(tile, x);
    }
}

// The smallest weight block (Q8_0's), which sizes the panel's scales.
inline constexpr int64_t kInt16SmallestWeightBlock = kQ8_0BlockSize;

// Packs columns [first_col, first_col + kc) (kc a multiple of kInt16Block; columns from `cols` on
// are zeros) of rows [0, n_rows) of a weight matrix into a panel: pairs[(k / 2) * 16 + r] holds
// columns k, k + 1 of row r as two int16, scales[(k / weight block) * 16 + r] (k counted from
// first_col) the weight block's scale; rows from n_rows on are zeros with scale 0. Q8_0_R16: rows
// is a 16-row group's first row and n_rows 16.
void pack_int16_panel_scalar(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                             int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                             float* scales);

// The AVX2 panel packer (the scalar one's layout and values), which the AVX-512 loop uses too.
void pack_int16_panel_avx2(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                           int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                           float* scales);

using Int16Packer = void (*)(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                             int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                             float* scales);

// A register tile: 16 rows x up to kTokens tokens over n_blocks activation blocks of a panel, each
// weight block's sums added to sums[t * ld + r]. panel / panel_scales at the pass's first column; x
// / x_scales at the same column of a packed token tile, the next packed tile (tokens 6 on) x_stride
// / scale_stride values on. The Winograd tile also reads the panel's cross terms
// (Int16PanelCrossTerms) and the activations' at the same column (the next tile's 2 x
// scale_stride on); the others ignore them (null where nobody computed them).
using Int16Tile = void (*)(const int32_t* panel, const float* panel_scales, int64_t n_blocks,
                           const int32_t* x, const float* x_scales, int64_t x_stride,
                           int64_t scale_stride, float* sums, int64_t ld,
                           const int32_t* panel_cross_terms, const int32_t* x_cross_terms);

// Writes a packed panel's cross terms (kc columns from the pass's first): cross[(k / 32) * 16 + r]
// is minus the sum of w[k] w[k + 2] + w[k + 1] w[k + 3] over the 4-column groups of row r's
// 32-column block, modulo 2^32.
using Int16PanelCrossTerms = void (*)(const int32_t* pairs, int64_t kc, int32_t* cross);

// The blocked loop (gemm_int16.h) over tiles[tokens - 1] of kTokens tokens a call (a multiple of
// kInt16TileTokens, or fewer).
// For each weight block a kernel handles: tiles[0] the 64-column blocks of F16 / BF16, tiles[1]
// the 32-column ones of Q8_0.
template <size_t kTokens>
using Int16Tiles = std::array<std::array<Int16Tile, kTokens>, 2>;

// Int16Tiles of tile.template operator()<T, kWeightBlock>() (a kernel file's tile<T, ...>) for
// T = 1..kTokens.
template <size_t kTokens, class Tile>
constexpr Int16Tiles<kTokens> make_int16_tiles(Tile tile) {
    return [&]<size_t... I>(std::index_sequence<I...>) {
        return Int16Tiles<kTokens>{
            {{tile.template operator()<static_cast<int>(I) + 1, kInt16Block>()...},
             {tile.template operator()<static_cast<int>(I) + 1,
                                       static_cast<int>(kInt16SmallestWeightBlock)>()...}}};
    }
    (std::make_index_sequence<kTokens>{});
}

template <size_t kTokensSize>
void int16_rows_loop(const Int16Tiles<kTokensSize>& tiles_by_block, Int16Packer pack,
                     const Int16RowsArgs& a, Int16Scratch& scratch,
                     Int16PanelCrossTerms panel_cross_terms = nullptr) {
    constexpr auto kTokens = static_cast<int64_t>(kTokensSize);
    const auto& tiles = tiles_by_block[int16_weight_block(a.type) == kInt16Block ? 0 : 1];
    check_int16_args(a);
    const Int16Activations& x = *a.x;
    const int64_t n_panels = (a.n_rows + kInt16PanelRows - 1) / kInt16PanelRows;
    // Rows of the carried sums a token takes: the block's rows and one panel more, so that the
    // tokens of a tile do not all fall in one L1 set (256 rows apart they would).
    const int64_t ld = (n_panels + 1) * kInt16PanelRows;
    const int64_t x_stride = kInt16TileTokens * x.padded_cols / 2;
    const int64_t scale_stride = kInt16TileTokens * x.n_blocks();
    scratch.panel.resize(static_cast<size_t>(kInt16Depth / 2 * kInt16PanelRows));
    scratch.panel_scales.resize(
        static_cast<size_t>(kInt16Depth / kInt16SmallestWeightBlock * kInt16PanelRows));
    if (panel_cross_terms != nullptr) {
        scratch.panel_cross_terms.resize(
            static_cast<size_t>(kInt16Depth / kInt16CrossBlock * kInt16PanelRows));
    }
    const int64_t n_calls = (x.n_tokens + kTokens - 1) / kTokens;
    scratch.sums.assign(static_cast<size_t>(n_calls * kTokens * ld), 0.0f);
    for (int64_t k0 = 0; k0 < x.padded_cols; k0 += kInt16Depth) {
        const int64_t kc = std::min(kInt16Depth, x.padded_cols - k0);
        for (int64_t p = 0; p < n_panels; ++p) {
            const int64_t row0 = p * kInt16PanelRows;
            pack(a.type, a.rows + row0 * a.row_stride, a.row_stride,
                 static_cast<int>(std::min(kInt16PanelRows, a.n_rows - row0)), x.cols, k0, kc,
                 scratch.panel.data(), scratch.panel_scales.data());
            if (panel_cross_terms != nullptr) {
                panel_cross_terms(scratch.panel.data(), kc, scratch.panel_cross_terms.data());
            }
            // The next panel's rows (of this pass, or the first of the next), while the tiles run
            // over these. (A Q8_0_R16 group holds the pass's columns of its 16 rows in one piece:
            // taken as 16 pieces of a row's bytes.)
            const bool last = p + 1 == n_panels;
            const int64_t next_row = last ? 0 : row0 + kInt16PanelRows;
            const int64_t next_k = last ? k0 + kInt16Depth : k0;
            const int64_t next_bytes =
                row_bytes(a.type, std::clamp<int64_t>(x.cols - next_k, 0, kInt16Depth));
            const bool grouped = is_interleaved(a.type);
            RowPrefetch prefetch(
                a.rows + next_row * a.row_stride + (grouped ? 16 : 1) * row_bytes(a.type, next_k),
                grouped ? next_bytes : a.row_stride, std::min(a.n_rows - next_row, kInt16PanelRows),
                (next_bytes + 63) / 64, n_calls);
            for (int64_t t0 = 0; t0 < x.n_tokens; t0 += kTokens) {
                const int64_t n = std::min<int64_t>(kTokens, x.n_tokens - t0);
                const int64_t tile = t0 / kInt16TileTokens;
                prefetch.next_share();
                // The first panel of a pass meets each token's columns for the first time, from
                // L3 once the call's activations outgrow L2 (4 MB for 512 tokens of 4096): the
                // next call's, into L2 while this one runs. Q8_0 prompt 512 at avx2, Zen 5, 8
                // layers, 2 threads: 104.2 / 104.6 -> 111.9 / 113.9 t/s; the same at every
                // panel, whose tokens are in L2 already, lost (105-107).
                if (p == 0) {
                    const int64_t next_tile = tile + kTokens / kInt16TileTokens;
                    for (int64_t j = next_tile;
                         j < std::min(x.n_tiles(), next_tile + kTokens / kInt16TileTokens); ++j) {
                        prefetch_lines<0, 2>(x.tile_pairs(j) + k0 / 2 * kInt16TileTokens,
                                             kc / 2 * kInt16TileTokens * sizeof(int32_t));
                    }
                }
                tiles[n - 1](
                    scratch.panel.data(), scratch.panel_scales.data(), kc / kInt16Block,
                    x.tile_pairs(tile) + k0 / 2 * kInt16TileTokens,
                    x.tile_scales(tile) + k0 / kInt16Block * kInt16TileTokens, x_stride,
                    scale_stride, scratch.sums.data() + t0 * ld + row0, ld,
                    panel_cross_terms != nullptr ? scratch.panel_cross_terms.data() : nullptr,
                    x.has_cross_terms()
                        ? x.tile_cross_terms(tile) + k0 / kInt16CrossBlock * kInt16TileTokens
                        : nullptr);
            }
        }
    }
    for (int64_t t = 0; t < x.n_tokens; ++t) {
        std::memcpy(a.y + t * a.ldy, scratch.sums.data() + t * ld,
                    static_cast<size_t>(a.n_rows) * sizeof(float));
    }
}

}  // namespace llama::kernels::detail
