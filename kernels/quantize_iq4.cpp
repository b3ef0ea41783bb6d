// IQ4_NL / IQ4_XS quantizers: each 32-value sub-block's scale is searched over 15 inverse scales
// around the one mapping its largest magnitude to the grid's end, every value taking its nearest
// grid point (kIq4nlValues), keeping the scale of least x^2-weighted error; IQ4_XS then quantizes
// the 8 sub-block scales to 6 bits against one f16 scale. ggml's quantize_iq4_nl/xs without an
// importance matrix.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "kernels/quantize_search.h"

namespace llama::kernels {

using detail::f32_to_f16_scalar;
using detail::largest_magnitude;
using detail::nearest_int;
using detail::nearest_table_index;

namespace {

constexpr int kTries = 7;

// The best scale of 32 values x on the grid (0 for an all-zero block); codes in L.
float search_grid_scale(const float* x, uint8_t* L) {
    const float max = largest_magnitude(x, 32);
    if (std::fabs(max) < 1e-15f) {
        std::fill(L, L + 32, uint8_t{0});
        return 0.0f;
    }
    auto fit = [&](float inverse, float* sum_qx, float* sum_q2, bool store) {
        *sum_qx = 0.0f;
        *sum_q2 = 0.0f;
        for (int j = 0; j < 32; ++j) {
            const int l = nearest_table_index(16, kIq4nlValues, inverse * x[j]);
            if (store) L[j] = static_cast<uint8_t>(l);
            const float q = kIq4nlValues[l];
            const float w = x[j] * x[j];
            *sum_qx += w * q * x[j];
            *sum_q2 += w * q * q;
        }
    };
    float sum_qx, sum_q2;
    fit(1.0f / (-max / kIq4nlValues[0]), &sum_qx, &sum_q2, true);
    float d = sum_q2 > 0.0f ? sum_qx / sum_q2 : 0.0f;
    float best = d * sum_qx;
    for (int t = -kTries; t <= kTries; ++t) {
        const float inverse = (static_cast<float>(t) + kIq4nlValues[0]) / max;
        fit(inverse, &sum_qx, &sum_q2, false);
        if (sum_q2 > 0.0f && sum_qx * sum_qx > best * sum_q2) {
            d = sum_qx / sum_q2;
            best = d * sum_qx;
        }
    }
    return d;
}

// 32 codes into 16 bytes, Q4_0's order.
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(L[j] | L[j + 16] << 4);
}

void requantize(const float* x, float d, uint8_t* L) {
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j)
        L[j] = static_cast<uint8_t>(nearest_table_index(16, kIq4nlValues, inverse * x[j]));
}

}  // namespace

void quantize_row_iq4_nl(const float* x, int64_t n, BlockIQ4_NL* out) {
    uint8_t L[32];
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const float d = search_grid_scale(x, L);
        out[b].d = f32_to_f16_scalar(d);
        requantize(x, d, L);  // with the scale found (the search kept the first try's codes)
        pack_nibbles(L, out[b].qs);
    }
}

void quantize_row_iq4_xs(const float* x, int64_t n, BlockIQ4_XS* out) {
    uint8_t L[32];
    float scales[8];
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i, x += kSuperBlockSize) {
        BlockIQ4_XS& block = out[i];
        for (int s = 0; s < 8; ++s) scales[s] = search_grid_scale(x + 32 * s, L);
        const float max_scale = largest_magnitude(scales, 8);
        const float d = -max_scale / 32.0f;
        block.d = f32_to_f16_scalar(d);
        block.scales_h = 0;
        std::memset(block.scales_l, 0, sizeof(block.scales_l));
        const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
        for (int s = 0; s < 8; ++s) {
            const int l = std::clamp(nearest_int(inverse * scales[s]), -32, 31);
            requantize(x + 32 * s, d * static_cast<float>(l), L);
            pack_nibbles(L, block.qs + 16 * s);
            const int code = l + 32;
            block.scales_l[s / 2] |= static_cast<uint8_t>((code & 0xF) << (4 * (s % 2)));
            block.scales_h |= static_cast<uint16_t>((code >> 4) << (2 * s));
        }
    }
}

}  // namespace llama::kernels
