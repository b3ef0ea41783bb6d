// ggml's reference quantizers for Q4_1, Q5_0 and Q5_1 (round to nearest on the block's range,
// same truncation and clamping as ggml so our files match llama.cpp's bit for bit).

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "kernels/quantize_search.h"

namespace llama::kernels {

using detail::f32_to_f16_scalar;

namespace {

// Codes 0..max of x on [min, min + d * max]: ggml adds 0.5 and truncates (values are >= 0).
template <int kMax>
void range_codes(const float* v, float* d_out, float* min_out, uint8_t* L) {
    float lo = FLT_MAX;
    float hi = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
        lo = std::min(lo, v[j]);
        hi = std::max(hi, v[j]);
    }
    const float d = (hi - lo) / kMax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) {
        L[j] = static_cast<uint8_t>(std::min(kMax, static_cast<int>((v[j] - lo) * id + 0.5f)));
    }
    *d_out = d;
    *min_out = lo;
}

// 5-bit codes into Q5's low nibbles and 32 high bits.
void pack_5_bits(const uint8_t* L, uint8_t* qs, uint8_t* qh) {
    uint32_t high = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = static_cast<uint8_t>((L[j] & 0xF) | (L[j + 16] & 0xF) << 4);
        high |= static_cast<uint32_t>(L[j] >> 4) << j;
        high |= static_cast<uint32_t>(L[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(high >> (8 * k));
}

}  // namespace

void quantize_row_q4_1(const float* x, int64_t n, BlockQ4_1* out) {
    uint8_t L[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        float d;
        float min;
        range_codes<15>(x + 32 * b, &d, &min, L);
        out[b].d = f32_to_f16_scalar(d);
        out[b].m = f32_to_f16_scalar(min);
        for (int j = 0; j < 16; ++j) out[b].qs[j] = static_cast<uint8_t>(L[j] | L[j + 16] << 4);
    }
}

void quantize_row_q5_1(const float* x, int64_t n, BlockQ5_1* out) {
    uint8_t L[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        float d;
        float min;
        range_codes<31>(x + 32 * b, &d, &min, L);
        out[b].d = f32_to_f16_scalar(d);
        out[b].m = f32_to_f16_scalar(min);
        pack_5_bits(L, out[b].qs, out[b].qh);
    }
}

void quantize_row_q5_0(const float* x, int64_t n, BlockQ5_0* out) {
    uint8_t L[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* v = x + 32 * b;
        // The value of largest magnitude maps to -16 exactly, keeping its sign (as Q4_0).
        const float d = detail::largest_magnitude(v, 32) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = f32_to_f16_scalar(d);
        for (int j = 0; j < 32; ++j) {
            // ggml truncates x/d + 16.5 toward zero (through int8_t) and clamps at 31.
            L[j] = static_cast<uint8_t>(std::min<int>(31, static_cast<int8_t>(v[j] * id + 16.5f)));
        }
        pack_5_bits(L, out[b].qs, out[b].qh);
    }
}

}  // namespace llama::kernels
