// K-quant quantizers (llama-quantize): per sub-block scale (and min) searches as ggml's reference
// quantizers do them, the sub-block scales quantized against one f16 super-block scale, then every
// value re-rounded with the scale it will actually be decoded with.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "kernels/quantize_search.h"

namespace llama::kernels {

using detail::f16_to_f32_scalar;
using detail::f32_to_f16_scalar;
using detail::nearest_int;

namespace {

// Packs 256 2-bit codes: element 128h + 32k + l goes to bits 2k of byte 32h + l.
void pack_2_bits(const uint8_t* L, uint8_t* qs) {
    for (int h = 0; h < 2; ++h) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t* c = L + 128 * h + l;
            qs[32 * h + l] = static_cast<uint8_t>(c[0] | c[32] << 2 | c[64] << 4 | c[96] << 6);
        }
    }
}

// Q4_K/Q5_K: 8 sub-blocks of 32 with asymmetric codes 0..nmax; scales and mins to 6 bits.
template <int kMax>
void quantize_q45_k(const float* x, uint16_t* d_out, uint16_t* dmin_out, uint8_t* packed,
                    uint8_t* L) {
    constexpr bool kFiveBit = kMax == 31;
    float scales[8];
    float mins[8];
    float weights[32];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float* v = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; ++l) sum_x2 += v[l] * v[l];
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(v[l]);
        scales[j] =
            detail::search_scale_min(32, kMax, v, weights, L + 32 * j, &mins[j],
                                     kFiveBit ? -0.5f : -1.0f, 0.1f, kFiveBit ? 15 : 20, false);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    std::memset(packed, 0, 12);
    for (int j = 0; j < 8; ++j) {
        const auto ls = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
        const auto lm = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
        if (j < 4) {
            packed[j] |= ls;
            packed[j + 4] |= lm;
        } else {
            packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | (lm & 0xF) << 4);
            packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
            packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
        }
    }
    *d_out = f32_to_f16_scalar(max_scale / 63.0f);
    *dmin_out = f32_to_f16_scalar(max_min / 63.0f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc;
        uint8_t m;
        unpack_q4k_scale_min(j, packed, &sc, &m);
        const float d = f16_to_f32_scalar(*d_out) * sc;
        if (d == 0.0f) continue;
        const float dm = f16_to_f32_scalar(*dmin_out) * m;
        for (int l = 0; l < 32; ++l) {
            L[32 * j + l] =
                static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, kMax));
        }
    }
}

}  // namespace

void quantize_row_q4_k(const float* x, int64_t n, BlockQ4_K* out) {
    uint8_t L[256];
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i, x += kSuperBlockSize) {
        BlockQ4_K& block = out[i];
        quantize_q45_k<15>(x, &block.d, &block.dmin, block.scales, L);
        for (int j = 0; j < 4; ++j) {  // sub-blocks 2j (low nibbles) and 2j+1 (high)
            for (int l = 0; l < 32; ++l) {
                block.qs[32 * j + l] =
                    static_cast<uint8_t>(L[64 * j + l] | L[64 * j + 32 + l] << 4);
            }
        }
    }
}

void quantize_row_q5_k(const float* x, int64_t n, BlockQ5_K* out) {
    uint8_t L[256];
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i, x += kSuperBlockSize) {
        BlockQ5_K& block = out[i];
        quantize_q45_k<31>(x, &block.d, &block.dmin, block.scales, L);
        std::memset(block.qh, 0, sizeof(block.qh));
        for (int j = 0; j < 4; ++j) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t a = L[64 * j + l];
                const uint8_t b = L[64 * j + 32 + l];
                block.qs[32 * j + l] = static_cast<uint8_t>((a & 0xF) | (b & 0xF) << 4);
                block.qh[l] |= static_cast<uint8_t>((a >> 4) << (2 * j) | (b >> 4) << (2 * j + 1));
            }
        }
    }
}

void quantize_row_q6_k(const float* x, int64_t n, BlockQ6_K* out) {
    int8_t L[256];
    float scales[16];
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i, x += kSuperBlockSize) {
        BlockQ6_K& block = out[i];
        for (int g = 0; g < 16; ++g) {
            scales[g] = detail::search_scale_symmetric(16, 32, x + 16 * g, L + 16 * g);
        }
        const float max_scale = detail::largest_magnitude(scales, 16);
        std::memset(&block, 0, sizeof(block));
        if (std::fabs(max_scale) < 1e-15f) continue;
        const float inverse = -128.0f / max_scale;
        block.d = f32_to_f16_scalar(1.0f / inverse);
        for (int g = 0; g < 16; ++g) {
            block.scales[g] = static_cast<int8_t>(std::min(127, nearest_int(inverse * scales[g])));
        }
        for (int g = 0; g < 16; ++g) {
            const float d = f16_to_f32_scalar(block.d) * block.scales[g];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = std::clamp(nearest_int(x[16 * g + l] / d), -32, 31);
                L[16 * g + l] = static_cast<int8_t>(q + 32);
            }
        }
        for (int h = 0; h < 2; ++h) {
            const int8_t* c = L + 128 * h;
            for (int l = 0; l < 32; ++l) {
                block.ql[64 * h + l] = static_cast<uint8_t>((c[l] & 0xF) | (c[l + 64] & 0xF) << 4);
                block.ql[64 * h + 32 + l] =
                    static_cast<uint8_t>((c[l + 32] & 0xF) | (c[l + 96] & 0xF) << 4);
                block.qh[32 * h + l] =
                    static_cast<uint8_t>(c[l] >> 4 | (c[l + 32] >> 4) << 2 | (c[l + 64] >> 4) << 4 |
                                         (c[l + 96] >> 4) << 6);
            }
        }
    }
}

void quantize_row_q2_k(const float* x, int64_t n, BlockQ2_K* out) {
    uint8_t L[256];
    float scales[16];
    float mins[16];
    float weights[16];
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i, x += kSuperBlockSize) {
        BlockQ2_K& block = out[i];
        float max_scale = 0.0f;
        float max_min = 0.0f;
        for (int g = 0; g < 16; ++g) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * g + l]);
            scales[g] = detail::search_scale_min(16, 3, x + 16 * g, weights, L + 16 * g, &mins[g],
                                                 -0.5f, 0.1f, 15, true);
            max_scale = std::max(max_scale, scales[g]);
            max_min = std::max(max_min, mins[g]);
        }
        std::memset(block.scales, 0, sizeof(block.scales));
        block.d = f32_to_f16_scalar(max_scale > 0.0f ? max_scale / 15.0f : 0.0f);
        block.dmin = f32_to_f16_scalar(max_min > 0.0f ? max_min / 15.0f : 0.0f);
        for (int g = 0; g < 16; ++g) {
            const int ls = max_scale > 0.0f ? nearest_int(15.0f / max_scale * scales[g]) : 0;
            const int lm = max_min > 0.0f ? nearest_int(15.0f / max_min * mins[g]) : 0;
            block.scales[g] = static_cast<uint8_t>(ls | lm << 4);
        }
        for (int g = 0; g < 16; ++g) {
            const float d = f16_to_f32_scalar(block.d) * (block.scales[g] & 0xF);
            if (d == 0.0f) continue;
            const float dm = f16_to_f32_scalar(block.dmin) * (block.scales[g] >> 4);
            for (int l = 0; l < 16; ++l) {
                L[16 * g + l] =
                    static_cast<uint8_t>(std::clamp(nearest_int((x[16 * g + l] + dm) / d), 0, 3));
            }
        }
        pack_2_bits(L, block.qs);
    }
}

void quantize_row_q3_k(const float* x, int64_t n, BlockQ3_K* out) {
    int8_t L[256];
    float scales[16];
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i, x += kSuperBlockSize) {
        BlockQ3_K& block = out[i];
        for (int g = 0; g < 16; ++g) {
            scales[g] = detail::search_scale_symmetric_refined(16, 4, x + 16 * g, L + 16 * g);
        }
        const float max_scale = detail::largest_magnitude(scales, 16);
        std::memset(block.scales, 0, sizeof(block.scales));
        if (max_scale != 0.0f) {
            const float inverse = -32.0f / max_scale;
            for (int g = 0; g < 16; ++g) {
                const int l = std::clamp(nearest_int(inverse * scales[g]), -32, 31) + 32;
                if (g < 8) {
                    block.scales[g] = static_cast<uint8_t>(l & 0xF);
                } else {
                    block.scales[g - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
                }
                block.scales[8 + g % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (g / 4)));
            }
            block.d = f32_to_f16_scalar(1.0f / inverse);
        } else {
            block.d = f32_to_f16_scalar(0.0f);
        }
        for (int g = 0; g < 16; ++g) {
            const float d = f16_to_f32_scalar(block.d) * q3k_scale(block.scales, g);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = std::clamp(nearest_int(x[16 * g + l] / d), -4, 3);
                L[16 * g + l] = static_cast<int8_t>(q + 4);
            }
        }
        std::memset(block.hmask, 0, sizeof(block.hmask));
        uint8_t low[256];
        for (int e = 0; e < 256; ++e) {
            if (L[e] > 3) block.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
            low[e] = static_cast<uint8_t>(L[e] & 3);
        }
        pack_2_bits(low, block.qs);
    }
}

}  // namespace llama::kernels
