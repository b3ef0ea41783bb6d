#pragma once

// Internals shared by gemm_int16.cpp (scalar reference, dispatch) and gemm_int16_avx2.cpp (the
// AVX2 and AVX-VNNI kernels): the rules that set a block's scale, the argument check and the
// scalar panel packer the SIMD loop falls back on for partial blocks.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/gemm_int16.h"

namespace llama::kernels::detail {

// A float's magnitude bits: their integer order is the order of the magnitudes, and every NaN or
// infinity is above every finite value, which a float max would not promise.
inline constexpr uint32_t kNotFiniteBits = 0x7f800000u;

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
    return {std::ldexp(1.0f, 10 - exponent), std::ldexp(1.0f, exponent - 10)};
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

// One token's block of activations: `count` values (the rest of the block zeros) into
// pairs[0], pairs[kInt16TileTokens], ... (the token's slots in a packed tile) and its scale.
void quantize_int16_activation_block(const float* values, int64_t count, int32_t* pairs,
                                     float* scale);

// Packs columns [first_col, first_col + kc) (kc a multiple of kInt16Block; columns from `cols` on
// are zeros) of rows [0, n_rows) of a weight matrix into a panel: pairs[(k / 2) * 16 + r] holds
// columns k, k + 1 of row r as two int16, scales[(k / kInt16Block) * 16 + r] the block's scale;
// rows from n_rows on are zeros with scale 0.
void pack_int16_panel_scalar(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                             int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                             float* scales);

}  // namespace llama::kernels::detail
