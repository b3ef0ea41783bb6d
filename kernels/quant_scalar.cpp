// Portable quantized matrix-vector products: integer dot products per block, one float
// multiply-add per block. The SIMD paths compute exactly these integer sums.

#include "kernels/fp16_scalar.h"
#include "kernels/quant_impl.h"

namespace llama::kernels::detail {

namespace {

float dot_q8_0(const BlockQ8_0* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t b = 0; b < x.n / 32; ++b) {
        const int8_t* xq = x.qs.data() + b * 32;
        int32_t dot = 0;
        for (int j = 0; j < 32; ++j) dot += w[b].qs[j] * xq[j];
        sum += f16_to_f32_scalar(w[b].d) * x.scales[b] * static_cast<float>(dot);
    }
    return sum;
}

float dot_q4_0(const BlockQ4_0* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t b = 0; b < x.n / 32; ++b) {
        const int8_t* xq = x.qs.data() + b * 32;
        int32_t dot = 0;
        for (int j = 0; j < 16; ++j) {
            dot += ((w[b].qs[j] & 0xF) - 8) * xq[j];
            dot += ((w[b].qs[j] >> 4) - 8) * xq[j + 16];
        }
        sum += f16_to_f32_scalar(w[b].d) * x.scales[b] * static_cast<float>(dot);
    }
    return sum;
}

// Q4_K and Q5_K: sum over sub-blocks of d*sc*dot(q, x) - dmin*m*sum(x), in integers per
// super-block. high_bits is null for Q4_K.
template <class Block>
float dot_q45_k(const Block* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const Block& block = w[i];
        const int8_t* xq = x.qs.data() + i * 256;
        const int16_t* bsums = x.bsums.data() + i * 16;
        int32_t scaled_dot = 0;
        int32_t scaled_mins = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc;
            uint8_t m;
            unpack_q4k_scale_min(j, block.scales, &sc, &m);
            const uint8_t* qs = block.qs + (j / 2) * 32;
            const int shift = (j % 2) * 4;
            int32_t dot = 0;
            for (int l = 0; l < 32; ++l) {
                int q = (qs[l] >> shift) & 0xF;
                if constexpr (sizeof(Block) == sizeof(BlockQ5_K)) {
                    q += ((block.qh[l] >> j) & 1) << 4;
                }
                dot += q * xq[j * 32 + l];
            }
            scaled_dot += sc * dot;
            scaled_mins += m * (bsums[2 * j] + bsums[2 * j + 1]);
        }
        sum += x.scales[i] * (f16_to_f32_scalar(block.d) * static_cast<float>(scaled_dot) -
                              f16_to_f32_scalar(block.dmin) * static_cast<float>(scaled_mins));
    }
    return sum;
}

float dot_q6_k(const BlockQ6_K* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockQ6_K& block = w[i];
        const int8_t* xq = x.qs.data() + i * 256;
        int32_t scaled_dot = 0;
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = block.ql + half * 64;
            const uint8_t* qh = block.qh + half * 32;
            const int8_t* sc = block.scales + half * 8;
            const int8_t* xh = xq + half * 128;
            int32_t dots[8] = {};  // per sub-block of 16
            for (int l = 0; l < 32; ++l) {
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const int is = l / 16;
                dots[is + 0] += q1 * xh[l];
                dots[is + 2] += q2 * xh[l + 32];
                dots[is + 4] += q3 * xh[l + 64];
                dots[is + 6] += q4 * xh[l + 96];
            }
            for (int g = 0; g < 8; ++g) scaled_dot += sc[g] * dots[g];
        }
        sum += x.scales[i] * f16_to_f32_scalar(block.d) * static_cast<float>(scaled_dot);
    }
    return sum;
}

// Q4_1 and Q5_1: d * dot(q, x) + m * sum(x), the block sum being the activation bias.
template <class Block>
float dot_q_1(const Block* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t b = 0; b < x.n / 32; ++b) {
        const int8_t* xq = x.qs.data() + b * 32;
        int32_t dot = 0;
        for (int j = 0; j < 32; ++j) {
            int q;
            if constexpr (sizeof(Block) == sizeof(BlockQ5_1)) {
                q = q5_code(w[b].qs, w[b].qh, j);
            } else {
                q = j < 16 ? (w[b].qs[j] & 0xF) : (w[b].qs[j - 16] >> 4);
            }
            dot += q * xq[j];
        }
        sum += x.scales[b] * (f16_to_f32_scalar(w[b].d) * static_cast<float>(dot) +
                              f16_to_f32_scalar(w[b].m) * static_cast<float>(x.bias[b]));
    }
    return sum;
}

float dot_q5_0(const BlockQ5_0* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t b = 0; b < x.n / 32; ++b) {
        const int8_t* xq = x.qs.data() + b * 32;
        int32_t dot = 0;
        for (int j = 0; j < 32; ++j) dot += (q5_code(w[b].qs, w[b].qh, j) - 16) * xq[j];
        sum += f16_to_f32_scalar(w[b].d) * x.scales[b] * static_cast<float>(dot);
    }
    return sum;
}

float dot_iq4_nl(const BlockIQ4_NL* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t b = 0; b < x.n / 32; ++b) {
        const int8_t* xq = x.qs.data() + b * 32;
        int32_t dot = 0;
        for (int j = 0; j < 16; ++j) {
            dot += kIq4nlValues[w[b].qs[j] & 0xF] * xq[j];
            dot += kIq4nlValues[w[b].qs[j] >> 4] * xq[j + 16];
        }
        sum += f16_to_f32_scalar(w[b].d) * x.scales[b] * static_cast<float>(dot);
    }
    return sum;
}

float dot_iq4_xs(const BlockIQ4_XS* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockIQ4_XS& block = w[i];
        int32_t scaled_dot = 0;
        for (int s = 0; s < 8; ++s) {
            const uint8_t* qs = block.qs + 16 * s;
            const int8_t* xq = x.qs.data() + i * 256 + 32 * s;
            int32_t dot = 0;
            for (int j = 0; j < 16; ++j) {
                dot += kIq4nlValues[qs[j] & 0xF] * xq[j];
                dot += kIq4nlValues[qs[j] >> 4] * xq[j + 16];
            }
            scaled_dot += iq4xs_scale(block, s) * dot;
        }
        sum += x.scales[i] * f16_to_f32_scalar(block.d) * static_cast<float>(scaled_dot);
    }
    return sum;
}

// The 2 low bits of element e of a Q2_K/Q3_K super-block.
inline int low_2_bits(const uint8_t* qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

// Q2_K: d * sum_g sc_g * dot_g(q, x) - dmin * sum_g m_g * sum_g(x) over the 16 sub-blocks g.
float dot_q2_k(const BlockQ2_K* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockQ2_K& block = w[i];
        const int8_t* xq = x.qs.data() + i * 256;
        const int16_t* bsums = x.bsums.data() + i * 16;
        int32_t scaled_dot = 0;
        int32_t scaled_mins = 0;
        for (int g = 0; g < 16; ++g) {
            int32_t dot = 0;
            for (int l = 0; l < 16; ++l) dot += low_2_bits(block.qs, 16 * g + l) * xq[16 * g + l];
            scaled_dot += (block.scales[g] & 0xF) * dot;
            scaled_mins += (block.scales[g] >> 4) * bsums[g];
        }
        sum += x.scales[i] * (f16_to_f32_scalar(block.d) * static_cast<float>(scaled_dot) -
                              f16_to_f32_scalar(block.dmin) * static_cast<float>(scaled_mins));
    }
    return sum;
}

float dot_q3_k(const BlockQ3_K* w, const QuantizedActivations& x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockQ3_K& block = w[i];
        const int8_t* xq = x.qs.data() + i * 256;
        int32_t scaled_dot = 0;
        for (int g = 0; g < 16; ++g) {
            int32_t dot = 0;
            for (int l = 0; l < 16; ++l) {
                const int e = 16 * g + l;
                const int q = low_2_bits(block.qs, e) + 4 * ((block.hmask[e % 32] >> (e / 32)) & 1);
                dot += (q - 4) * xq[e];
            }
            scaled_dot += q3k_scale(block.scales, g) * dot;
        }
        sum += x.scales[i] * f16_to_f32_scalar(block.d) * static_cast<float>(scaled_dot);
    }
    return sum;
}

}  // namespace

void quant_matvec_scalar(const QuantMatvecArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            rows_loop<BlockQ8_0, dot_q8_0>(args);
            break;
        case DType::Q4_0:
            rows_loop<BlockQ4_0, dot_q4_0>(args);
            break;
        case DType::Q4_K:
            rows_loop<BlockQ4_K, dot_q45_k<BlockQ4_K>>(args);
            break;
        case DType::Q5_K:
            rows_loop<BlockQ5_K, dot_q45_k<BlockQ5_K>>(args);
            break;
        case DType::Q6_K:
            rows_loop<BlockQ6_K, dot_q6_k>(args);
            break;
        case DType::Q4_1:
            rows_loop<BlockQ4_1, dot_q_1<BlockQ4_1>>(args);
            break;
        case DType::Q5_1:
            rows_loop<BlockQ5_1, dot_q_1<BlockQ5_1>>(args);
            break;
        case DType::Q5_0:
            rows_loop<BlockQ5_0, dot_q5_0>(args);
            break;
        case DType::IQ4_NL:
            rows_loop<BlockIQ4_NL, dot_iq4_nl>(args);
            break;
        case DType::IQ4_XS:
            rows_loop<BlockIQ4_XS, dot_iq4_xs>(args);
            break;
        case DType::Q2_K:
            rows_loop<BlockQ2_K, dot_q2_k>(args);
            break;
        case DType::Q3_K:
            rows_loop<BlockQ3_K, dot_q3_k>(args);
            break;
        default:
            break;  // matvec_quant checked the type
    }
}

}  // namespace llama::kernels::detail
