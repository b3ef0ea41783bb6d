// IEEE binary16 and bfloat16 conversions. The scalar versions (fp16_scalar.h) are exact bit
// manipulations; the bulk versions use F16C / AVX-512 where the active ISA level allows and must
// give bit-identical results (the tests compare them over every half value), which is why the
// scalar NaN handling mirrors the hardware's.

#include <cassert>
#include <cmath>
#include <cstdint>
#include <span>

#include "kernels/cpu_features.h"
#include "kernels/fp16_scalar.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace llama::kernels {

float f16_to_f32(uint16_t h) { return detail::f16_to_f32_scalar(h); }
uint16_t f32_to_f16(float f) { return detail::f32_to_f16_scalar(f); }
float bf16_to_f32(uint16_t h) { return detail::bf16_to_f32_scalar(h); }
uint16_t f32_to_bf16(float f) { return detail::f32_to_bf16_scalar(f); }

namespace {

// Each wide loop converts the longest prefix it can and returns where it stopped; the scalar
// conversions finish the tail.
#if defined(LLAMA_HAVE_X86_TARGETS)

LLAMA_TARGET_AVX512 size_t f16_to_f32_avx512(const uint16_t* src, size_t n, float* dst) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
    return i;
}

LLAMA_TARGET_AVX2 size_t f16_to_f32_f16c(const uint16_t* src, size_t n, float* dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    return i;
}

LLAMA_TARGET_AVX512 size_t f32_to_f16_avx512(const float* src, size_t n, uint16_t* dst) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
    }
    return i;
}

LLAMA_TARGET_AVX2 size_t f32_to_f16_f16c(const float* src, size_t n, uint16_t* dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    }
    return i;
}

LLAMA_TARGET_AVX2 size_t bf16_to_f32_avx2(const uint16_t* src, size_t n, float* dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        const __m256i widened = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(widened));
    }
    return i;
}

LLAMA_TARGET_AVX512 size_t bf16_to_f32_avx512(const uint16_t* src, size_t n, float* dst) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        const __m512i widened = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(widened));
    }
    return i;
}

// Integer rounding rather than VCVTNEPS2BF16, which flushes subnormal inputs to zero.
LLAMA_TARGET_AVX512 size_t f32_to_bf16_avx512(const float* src, size_t n, uint16_t* dst) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
    const __m512i inf_bits = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet_bit = _mm512_set1_epi32(0x00400000);
    const __m512i round_bias = _mm512_set1_epi32(0x7fff);
    const __m512i one = _mm512_set1_epi32(1);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(src + i));
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
        const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(bits, round_bias), odd);
        const __mmask16 is_nan =
            _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, abs_mask), inf_bits);
        const __m512i result =
            _mm512_mask_blend_epi32(is_nan, rounded, _mm512_or_si512(bits, quiet_bit));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                            _mm512_cvtepi32_epi16(_mm512_srli_epi32(result, 16)));
    }
    return i;
}

#endif

}  // namespace

void f16_to_f32(std::span<const uint16_t> src, std::span<float> dst) {
    assert(dst.size() >= src.size());
    const size_t n = src.size();
    size_t i = 0;
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (isa_enabled(IsaLevel::Avx512)) {
        i = f16_to_f32_avx512(src.data(), n, dst.data());
    } else if (isa_enabled(IsaLevel::Avx2)) {
        i = f16_to_f32_f16c(src.data(), n, dst.data());
    }
#endif
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void f32_to_f16(std::span<const float> src, std::span<uint16_t> dst) {
    assert(dst.size() >= src.size());
    const size_t n = src.size();
    size_t i = 0;
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (isa_enabled(IsaLevel::Avx512)) {
        i = f32_to_f16_avx512(src.data(), n, dst.data());
    } else if (isa_enabled(IsaLevel::Avx2)) {
        i = f32_to_f16_f16c(src.data(), n, dst.data());
    }
#endif
    for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

bool round_to_f16(std::span<const float> src, std::span<uint16_t> dst) {
    // Written so the compiler vectorises it: a running maximum, NaN caught by the comparison.
    constexpr float kLargestHalf = 65504.0f;
    bool in_range = true;
    for (const float v : src) in_range &= std::fabs(v) <= kLargestHalf;
    if (!in_range) return false;
    f32_to_f16(src, dst);
    return true;
}

void bf16_to_f32(std::span<const uint16_t> src, std::span<float> dst) {
    assert(dst.size() >= src.size());
    const size_t n = src.size();
    size_t i = 0;
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (isa_enabled(IsaLevel::Avx512)) {
        i = bf16_to_f32_avx512(src.data(), n, dst.data());
    } else if (isa_enabled(IsaLevel::Avx2)) {
        i = bf16_to_f32_avx2(src.data(), n, dst.data());
    }
#endif
    for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f32_to_bf16(std::span<const float> src, std::span<uint16_t> dst) {
    assert(dst.size() >= src.size());
    const size_t n = src.size();
    size_t i = 0;
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (isa_enabled(IsaLevel::Avx512)) i = f32_to_bf16_avx512(src.data(), n, dst.data());
#endif
    for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace llama::kernels
