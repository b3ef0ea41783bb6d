// Dequantization of the ggml block formats (the loops follow ggml's dequantize_row_* so the
// element order is exactly ggml's), and ggml's reference quantizers for Q8_0 and Q4_0.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "kernels/quant_impl.h"
#include "kernels/quant_interleave.h"
#include "kernels/quantize_search.h"
#include "llama/error.h"

namespace llama::kernels {

using detail::f16_to_f32_scalar;
using detail::f32_to_f16_scalar;

void dequantize_row_q8_0(const BlockQ8_0* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
        const float d = f16_to_f32_scalar(blocks[b].d);
        for (int j = 0; j < 32; ++j) out[b * 32 + j] = d * static_cast<float>(blocks[b].qs[j]);
    }
}

void dequantize_row_q4_0(const BlockQ4_0* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
        const float d = f16_to_f32_scalar(blocks[b].d);
        float* y = out + b * 32;
        for (int j = 0; j < 16; ++j) {
            y[j] = d * static_cast<float>((blocks[b].qs[j] & 0x0F) - 8);
            y[j + 16] = d * static_cast<float>((blocks[b].qs[j] >> 4) - 8);
        }
    }
}

void dequantize_row_q4_k(const BlockQ4_K* blocks, int64_t n, float* out) {
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i) {
        const BlockQ4_K& block = blocks[i];
        const float d = f16_to_f32_scalar(block.d);
        const float dmin = f16_to_f32_scalar(block.dmin);
        const uint8_t* q = block.qs;
        float* y = out + i * kSuperBlockSize;
        for (int j = 0; j < 4; ++j) {  // 64 values: two sub-blocks sharing 32 bytes
            uint8_t sc;
            uint8_t m;
            unpack_q4k_scale_min(2 * j, block.scales, &sc, &m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            unpack_q4k_scale_min(2 * j + 1, block.scales, &sc, &m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
            q += 32;
            y += 64;
        }
    }
}

void dequantize_row_q5_k(const BlockQ5_K* blocks, int64_t n, float* out) {
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i) {
        const BlockQ5_K& block = blocks[i];
        const float d = f16_to_f32_scalar(block.d);
        const float dmin = f16_to_f32_scalar(block.dmin);
        const uint8_t* ql = block.qs;
        float* y = out + i * kSuperBlockSize;
        for (int j = 0; j < 4; ++j) {
            uint8_t sc;
            uint8_t m;
            unpack_q4k_scale_min(2 * j, block.scales, &sc, &m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            unpack_q4k_scale_min(2 * j + 1, block.scales, &sc, &m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            const uint8_t low_bit = static_cast<uint8_t>(1u << (2 * j));
            const uint8_t high_bit = static_cast<uint8_t>(2u << (2 * j));
            for (int l = 0; l < 32; ++l) {
                const int q = (ql[l] & 0xF) + ((block.qh[l] & low_bit) ? 16 : 0);
                y[l] = d1 * static_cast<float>(q) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                const int q = (ql[l] >> 4) + ((block.qh[l] & high_bit) ? 16 : 0);
                y[32 + l] = d2 * static_cast<float>(q) - m2;
            }
            ql += 32;
            y += 64;
        }
    }
}

void dequantize_row_q6_k(const BlockQ6_K* blocks, int64_t n, float* out) {
    for (int64_t i = 0; i < n / kSuperBlockSize; ++i) {
        const BlockQ6_K& block = blocks[i];
        const float d = f16_to_f32_scalar(block.d);
        const uint8_t* ql = block.ql;
        const uint8_t* qh = block.qh;
        const int8_t* sc = block.scales;
        float* y = out + i * kSuperBlockSize;
        for (int half = 0; half < 2; ++half) {  // 128 values from ql[64], qh[32], scales[8]
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * static_cast<float>(sc[is] * q1);
                y[l + 32] = d * static_cast<float>(sc[is + 2] * q2);
                y[l + 64] = d * static_cast<float>(sc[is + 4] * q3);
                y[l + 96] = d * static_cast<float>(sc[is + 6] * q4);
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

void dequantize_rows_quant(DType type, const std::byte* data, int64_t rows, int64_t cols,
                           float* out) {
    dequantize_rows_quant(best_quant_path(), type, data, rows, cols, out);
}

void dequantize_rows_quant(QuantPath path, DType type, const std::byte* data, int64_t rows,
                           int64_t cols, float* out) {
    const int64_t stride = row_bytes(type, cols);  // throws for partial blocks
    if (is_interleaved(type)) {
        // Group by group (data starts a group; the matrix holds whole groups) in the base layout.
        const DType base = interleaved_base(type);
        std::vector<std::byte> group(static_cast<size_t>(kInterleaveRows * stride));
        for (int64_t r = 0; r < rows; r += kInterleaveRows) {
            deinterleave_rows(base, data + r * stride, cols / dtype_traits(base).block_elements,
                              group.data(), stride);
            dequantize_rows_quant(path, base, group.data(),
                                  std::min<int64_t>(kInterleaveRows, rows - r), cols,
                                  out + r * cols);
        }
        return;
    }
    const bool avx512 = path == QuantPath::Avx512Vnni && quant_path_supported(path);
    for (int64_t r = 0; r < rows; ++r) {
        if (avx512 && detail::has_avx512_dequantize(type)) {
            detail::dequantize_row_avx512(type, data + r * stride, cols, out + r * cols);
            continue;
        }
        dequantize_row(type, data + r * stride, cols, out + r * cols);
    }
}

// ---- ggml's reference quantizers --------------------------------------------------------------

void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
    for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
        const float* v = x + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = f32_to_f16_scalar(d);
        for (int j = 0; j < 32; ++j) {
            // Clamped (a no-op for finite input) so a NaN or infinite weight from a corrupt file
            // quantizes to 0 or +-127 instead of an undefined float -> int8 conversion.
            const float q = v[j] * id;
            out[b].qs[j] = static_cast<int8_t>(
                std::isnan(q) ? 0.0f : std::round(std::clamp(q, -127.0f, 127.0f)));
        }
    }
}

void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out) {
    for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
        const float* v = x + b * 32;
        // The value of largest magnitude maps to -8 exactly, keeping its sign: d = max / -8.
        const float d = detail::largest_magnitude(v, 32) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = f32_to_f16_scalar(d);
        for (int j = 0; j < 16; ++j) {
            // ggml truncates x/d + 8.5 toward zero (through int8_t) and clamps at 15.
            // The clamp to [0, 16.5] changes nothing for finite input and keeps NaN and
            // infinities (a corrupt file's weights) out of the undefined float -> int8 cast.
            auto nibble = [&](float x) {
                const float shifted = x * id + 8.5f;
                const float safe = std::isnan(shifted) ? 8.5f : std::clamp(shifted, 0.0f, 16.5f);
                return static_cast<uint8_t>(std::min<int>(15, static_cast<int8_t>(safe)));
            };
            const uint8_t q0 = nibble(v[j]);
            const uint8_t q1 = nibble(v[j + 16]);
            out[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

void quantize_rows(DType type, const float* x, int64_t rows, int64_t cols, std::byte* out) {
    const int64_t stride = row_bytes(type, cols);
    for (int64_t r = 0; r < rows; ++r) {
        const float* v = x + r * cols;
        std::byte* row = out + r * stride;
        switch (type) {
            case DType::Q8_0:
                quantize_row_q8_0(v, cols, reinterpret_cast<BlockQ8_0*>(row));
                break;
            case DType::Q4_0:
                quantize_row_q4_0(v, cols, reinterpret_cast<BlockQ4_0*>(row));
                break;
            case DType::Q4_1:
                quantize_row_q4_1(v, cols, reinterpret_cast<BlockQ4_1*>(row));
                break;
            case DType::Q5_0:
                quantize_row_q5_0(v, cols, reinterpret_cast<BlockQ5_0*>(row));
                break;
            case DType::Q5_1:
                quantize_row_q5_1(v, cols, reinterpret_cast<BlockQ5_1*>(row));
                break;
            case DType::Q2_K:
                quantize_row_q2_k(v, cols, reinterpret_cast<BlockQ2_K*>(row));
                break;
            case DType::Q3_K:
                quantize_row_q3_k(v, cols, reinterpret_cast<BlockQ3_K*>(row));
                break;
            case DType::Q4_K:
                quantize_row_q4_k(v, cols, reinterpret_cast<BlockQ4_K*>(row));
                break;
            case DType::Q5_K:
                quantize_row_q5_k(v, cols, reinterpret_cast<BlockQ5_K*>(row));
                break;
            case DType::Q6_K:
                quantize_row_q6_k(v, cols, reinterpret_cast<BlockQ6_K*>(row));
                break;
            case DType::IQ4_NL:
                quantize_row_iq4_nl(v, cols, reinterpret_cast<BlockIQ4_NL*>(row));
                break;
            case DType::IQ4_XS:
                quantize_row_iq4_xs(v, cols, reinterpret_cast<BlockIQ4_XS*>(row));
                break;
            default:
                throw Error("quantize_rows: " + std::string(dtype_name(type)) +
                            " is not a quantized type");
        }
    }
}

}  // namespace llama::kernels
