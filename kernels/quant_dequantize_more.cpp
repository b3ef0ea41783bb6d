// Dequantization of Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q2_K and Q3_K (element order as ggml's
// dequantize_row_*, see the layouts in quant.h), and dequantize_row, the portable dispatch over
// every quantized type.

#include <string>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "llama/error.h"

namespace llama::kernels {

using detail::f16_to_f32_scalar;

void dequantize_row_q4_1(const BlockQ4_1* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = f16_to_f32_scalar(blocks[b].d);
        const float m = f16_to_f32_scalar(blocks[b].m);
        float* y = out + b * 32;
        for (int j = 0; j < 16; ++j) {
            y[j] = d * static_cast<float>(blocks[b].qs[j] & 0xF) + m;
            y[j + 16] = d * static_cast<float>(blocks[b].qs[j] >> 4) + m;
        }
    }
}

void dequantize_row_q5_0(const BlockQ5_0* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = f16_to_f32_scalar(blocks[b].d);
        for (int j = 0; j < 32; ++j) {
            out[b * 32 + j] = d * static_cast<float>(q5_code(blocks[b].qs, blocks[b].qh, j) - 16);
        }
    }
}

void dequantize_row_q5_1(const BlockQ5_1* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = f16_to_f32_scalar(blocks[b].d);
        const float m = f16_to_f32_scalar(blocks[b].m);
        for (int j = 0; j < 32; ++j) {
            out[b * 32 + j] = d * static_cast<float>(q5_code(blocks[b].qs, blocks[b].qh, j)) + m;
        }
    }
}

void dequantize_row_iq4_nl(const BlockIQ4_NL* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const float d = f16_to_f32_scalar(blocks[b].d);
        float* y = out + b * 32;
        for (int j = 0; j < 16; ++j) {
            y[j] = d * static_cast<float>(kIq4nlValues[blocks[b].qs[j] & 0xF]);
            y[j + 16] = d * static_cast<float>(kIq4nlValues[blocks[b].qs[j] >> 4]);
        }
    }
}

void dequantize_row_iq4_xs(const BlockIQ4_XS* blocks, int64_t n, float* out) {
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i) {
        const BlockIQ4_XS& block = blocks[i];
        const float d = f16_to_f32_scalar(block.d);
        for (int s = 0; s < 8; ++s) {
            const float dl = d * static_cast<float>(iq4xs_scale(block, s));
            const uint8_t* qs = block.qs + 16 * s;
            float* y = out + i * kSuperBlockSize + 32 * s;
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xF]);
                y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
            }
        }
    }
}

void dequantize_row_q2_k(const BlockQ2_K* blocks, int64_t n, float* out) {
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i) {
        const BlockQ2_K& block = blocks[i];
        const float d = f16_to_f32_scalar(block.d);
        const float dmin = f16_to_f32_scalar(block.dmin);
        float* y = out + i * kSuperBlockSize;
        for (int e = 0; e < 256; ++e) {
            const int q = (block.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const uint8_t sc = block.scales[e / 16];
            y[e] = d * static_cast<float>(sc & 0xF) * static_cast<float>(q) -
                   dmin * static_cast<float>(sc >> 4);
        }
    }
}

void dequantize_row_q3_k(const BlockQ3_K* blocks, int64_t n, float* out) {
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i) {
        const BlockQ3_K& block = blocks[i];
        const float d = f16_to_f32_scalar(block.d);
        float* y = out + i * kSuperBlockSize;
        for (int e = 0; e < 256; ++e) {
            const int low = (block.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            const int high = (block.hmask[e % 32] >> (e / 32)) & 1;
            const int q = low + 4 * high - 4;
            y[e] = d * static_cast<float>(q3k_scale(block.scales, e / 16)) * static_cast<float>(q);
        }
    }
}

void dequantize_row(DType type, const std::byte* row, int64_t n, float* y) {
    switch (type) {
        case DType::Q8_0:
            return dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(row), n, y);
        case DType::Q4_0:
            return dequantize_row_q4_0(reinterpret_cast<const BlockQ4_0*>(row), n, y);
        case DType::Q4_K:
            return dequantize_row_q4_k(reinterpret_cast<const BlockQ4_K*>(row), n, y);
        case DType::Q5_K:
            return dequantize_row_q5_k(reinterpret_cast<const BlockQ5_K*>(row), n, y);
        case DType::Q6_K:
            return dequantize_row_q6_k(reinterpret_cast<const BlockQ6_K*>(row), n, y);
        case DType::Q4_1:
            return dequantize_row_q4_1(reinterpret_cast<const BlockQ4_1*>(row), n, y);
        case DType::Q5_0:
            return dequantize_row_q5_0(reinterpret_cast<const BlockQ5_0*>(row), n, y);
        case DType::Q5_1:
            return dequantize_row_q5_1(reinterpret_cast<const BlockQ5_1*>(row), n, y);
        case DType::IQ4_NL:
            return dequantize_row_iq4_nl(reinterpret_cast<const BlockIQ4_NL*>(row), n, y);
        case DType::IQ4_XS:
            return dequantize_row_iq4_xs(reinterpret_cast<const BlockIQ4_XS*>(row), n, y);
        case DType::Q2_K:
            return dequantize_row_q2_k(reinterpret_cast<const BlockQ2_K*>(row), n, y);
        case DType::Q3_K:
            return dequantize_row_q3_k(reinterpret_cast<const BlockQ3_K*>(row), n, y);
        default:
            throw Error("dequantize_rows_quant: " + std::string(dtype_name(type)) +
                        " is not a quantized type");
    }
}

}  // namespace llama::kernels
