#pragma once

// Plain-float weight loads and the 8 x 8 transpose on AVX2, shared by the packers of the fp32 FMA
// GEMM (gemm_fma.cpp) and the 16-bit integer GEMM (gemm_int16_avx2.cpp). Always inlined: the two
// files are compiled with different flags (the AVX2 one without AVX-512 in a native build), so an
// out-of-line copy could come from either.

#include <cstddef>
#include <cstdint>

#include "kernels/cpu_features.h"
#include "kernels/simd.h"
#include "llama/tensor.h"

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace llama::kernels::detail {

// Eight values of a row from column `col`, widened to fp32.
template <DType kType>
[[gnu::always_inline]] LLAMA_TARGET_AVX2 inline __m256 load8(const std::byte* row, int64_t col) {
    if constexpr (kType == DType::F32) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + col);
    } else {
        const __m128i half = _mm_loadu_si128(
            reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + col));
        if constexpr (kType == DType::F16) {
            return _mm256_cvtph_ps(half);
        } else {
            return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
        }
    }
}

// 8 rows x 8 columns -> 8 columns x 8 rows, in registers.
[[gnu::always_inline]] LLAMA_TARGET_AVX2 inline void transpose8(__m256 (&v)[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]);
    const __m256 t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]);
    const __m256 t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]);
    const __m256 t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]);
    const __m256 t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44);
    const __m256 s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44);
    const __m256 s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44);
    const __m256 s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44);
    const __m256 s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

}  // namespace llama::kernels::detail

#endif
