// AVX-512 dequantization (prompt processing dequantizes weight tiles for a float GEMM, so this
// runs once per weight per forward chunk), and the AVX-512 activation quantizer. Same results as
// the portable code up to float rounding of d * sc * q - dmin * m (FMA vs. separate ops).

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu_features.h"
#include "kernels/q6_k_unpack.h"
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

LLAMA_TARGET_AVX512_VNNI inline __m512 bytes_to_ps_u8(__m128i bytes) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
}
LLAMA_TARGET_AVX512_VNNI inline __m512 bytes_to_ps_i8(__m128i bytes) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes));
}

LLAMA_TARGET_AVX512_VNNI void q8_0_row(const BlockQ8_0* blocks, int64_t n, float* out) {
    for (int64_t b = 0; b < n / 32; ++b) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(blocks[b].d));
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
        _mm512_storeu_ps(out + 32 * b, _mm512_mul_ps(d, bytes_to_ps_i8(_mm256_castsi256_si128(q))));
        _mm512_storeu_ps(out + 32 * b + 16,
                         _mm512_mul_ps(d, bytes_to_ps_i8(_mm256_extracti128_si256(q, 1))));
    }
}

LLAMA_TARGET_AVX512_VNNI void q4_0_row(const BlockQ4_0* blocks, int64_t n, float* out) {
    const __m128i low_mask = _mm_set1_epi8(0x0F);
    const __m128i eight = _mm_set1_epi8(8);
    for (int64_t b = 0; b < n / 32; ++b) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(blocks[b].d));
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[b].qs));
        const __m128i low = _mm_sub_epi8(_mm_and_si128(q, low_mask), eight);
        const __m128i high = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low_mask), eight);
        _mm512_storeu_ps(out + 32 * b, _mm512_mul_ps(d, bytes_to_ps_i8(low)));
        _mm512_storeu_ps(out + 32 * b + 16, _mm512_mul_ps(d, bytes_to_ps_i8(high)));
    }
}

// 32 unsigned codes (one sub-block) as d * q - m.
LLAMA_TARGET_AVX512_VNNI inline void store_sub_block(__m256i codes, float d, float m, float* out) {
    const __m512 vd = _mm512_set1_ps(d);
    const __m512 vm = _mm512_set1_ps(m);
    _mm512_storeu_ps(out, _mm512_fmsub_ps(vd, bytes_to_ps_u8(_mm256_castsi256_si128(codes)), vm));
    _mm512_storeu_ps(out + 16,
                     _mm512_fmsub_ps(vd, bytes_to_ps_u8(_mm256_extracti128_si256(codes, 1)), vm));
}

template <bool kFiveBit, class Block>
LLAMA_TARGET_AVX512_VNNI void q45_k_row(const Block* blocks, int64_t n, float* out) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / 256; ++i) {
        const Block& block = blocks[i];
        const float d = _cvtsh_ss(block.d);
        const float dmin = _cvtsh_ss(block.dmin);
        __m256i hbits;
        if constexpr (kFiveBit) {
            hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qh));
        }
        float* y = out + i * 256;
        for (int j = 0; j < 4; ++j) {
            const __m256i q =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs + 32 * j));
            __m256i low = _mm256_and_si256(q, low_mask);
            __m256i high = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
            if constexpr (kFiveBit) {
                const __m256i b_low = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one);
                const __m256i b_high = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one);
                low = _mm256_or_si256(low, _mm256_slli_epi16(b_low, 4));
                high = _mm256_or_si256(high, _mm256_slli_epi16(b_high, 4));
            }
            uint8_t sc, m;
            unpack_q4k_scale_min(2 * j, block.scales, &sc, &m);
            store_sub_block(low, d * sc, dmin * m, y + 64 * j);
            unpack_q4k_scale_min(2 * j + 1, block.scales, &sc, &m);
            store_sub_block(high, d * sc, dmin * m, y + 64 * j + 32);
        }
    }
}

LLAMA_TARGET_AVX512_VNNI void q6_k_row(const BlockQ6_K* blocks, int64_t n, float* out) {
    const __m256i offset = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / 256; ++i) {
        const BlockQ6_K& block = blocks[i];
        const float d = _cvtsh_ss(block.d);
        float* y = out + i * 256;
        for (int half = 0; half < 2; ++half) {
            __m256i q[4];
            unpack_q6_k_half(block, half, q);
            for (int k = 0; k < 4; ++k) {
                const __m256i centered = _mm256_sub_epi8(q[k], offset);  // -32..31
                const int g = 8 * half + 2 * k;  // 16-value sub-blocks g, g+1
                float* dst = y + 128 * half + 32 * k;
                _mm512_storeu_ps(dst,
                                 _mm512_mul_ps(_mm512_set1_ps(d * block.scales[g]),
                                               bytes_to_ps_i8(_mm256_castsi256_si128(centered))));
                _mm512_storeu_ps(
                    dst + 16, _mm512_mul_ps(_mm512_set1_ps(d * block.scales[g + 1]),
                                            bytes_to_ps_i8(_mm256_extracti128_si256(centered, 1))));
            }
        }
    }
}

}  // namespace

void dequantize_row_avx512(DType type, const std::byte* row, int64_t n, float* out) {
    switch (type) {
        case DType::Q8_0:
            q8_0_row(reinterpret_cast<const BlockQ8_0*>(row), n, out);
            break;
        case DType::Q4_0:
            q4_0_row(reinterpret_cast<const BlockQ4_0*>(row), n, out);
            break;
        case DType::Q4_K:
            q45_k_row<false>(reinterpret_cast<const BlockQ4_K*>(row), n, out);
            break;
        case DType::Q5_K:
            q45_k_row<true>(reinterpret_cast<const BlockQ5_K*>(row), n, out);
            break;
        case DType::Q6_K:
            q6_k_row(reinterpret_cast<const BlockQ6_K*>(row), n, out);
            break;
        default:
            break;
    }
}

// Bit-identical to the portable quantize_block for finite input: the same max, the same
// 127/amax, the same products, and VCVTPS2DQ rounds to nearest even like std::nearbyint.
LLAMA_TARGET_AVX512_VNNI float quantize_block_avx512(const float* x, int64_t count, int8_t* q) {
    __m512 amax = _mm512_setzero_ps();
    for (int64_t j = 0; j < count; j += 16) {
        amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    }
    const float max = _mm512_reduce_max_ps(amax);
    const __m512 inverse = _mm512_set1_ps(activation_inverse(max));
    for (int64_t j = 0; j < count; j += 16) {
        const __m512i rounded = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), inverse));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + j), _mm512_cvtsepi32_epi8(rounded));
    }
    return max / 127.0f;
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void dequantize_row_avx512(DType, const std::byte*, int64_t, float*) {}
float quantize_block_avx512(const float*, int64_t, int8_t*) { return 0.0f; }
}  // namespace llama::kernels::detail

#endif
