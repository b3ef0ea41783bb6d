#pragma once

// The 6-bit scales and mins of an interleaved Q4_K / Q5_K block group (quant_interleave.h),
// unpacked for 16 rows (AVX-512) or the 8 rows of one half (AVX2) at once: ggml's kmask trick in
// vector lanes. Lane i holds row i's 12 scale bytes as 3 words u0, u1, u2: scales 0-3 and mins
// 0-3 are the low 6 bits of u0 / u1; scales and mins 4-7 are u2's nibbles with 2 top bits from the
// spare bits of u0 / u1. Byte j of sc[0] / mn[0] is then sub-block j's scale / min, byte j of
// sc[1] / mn[1] sub-block 4 + j's. Shared by the matrix-vector kernels and the AMX packer, as is
// the AVX-512 pick of Q5_K's fifth bits.

#include <cstddef>

#include "kernels/cpu_features.h"
#include "kernels/quant_interleave.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {

// `group`: the block group (AVX-512) or the group + 32 * half (AVX2).
__attribute__((target("avx512f"))) inline void unpack_q4_k_scales_r16(const std::byte* group,
                                                                      __m512i sc[2],
                                                                      __m512i mn[2]) {
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i six_bits = _mm512_set1_epi8(0x3F);
    const __m512i two_bits = _mm512_set1_epi8(0x03);
    const __m512i u0 = _mm512_loadu_si512(group + kQ4_KR16Scales);
    const __m512i u1 = _mm512_loadu_si512(group + kQ4_KR16Scales + 64);
    const __m512i u2 = _mm512_loadu_si512(group + kQ4_KR16Scales + 128);
    sc[0] = _mm512_and_si512(u0, six_bits);
    sc[1] =
        _mm512_or_si512(_mm512_and_si512(u2, low_mask),
                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), two_bits), 4));
    mn[0] = _mm512_and_si512(u1, six_bits);
    mn[1] =
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), low_mask),
                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), two_bits), 4));
}

LLAMA_TARGET_AVX2 inline void unpack_q4_k_scales_r16(const std::byte* rows, __m256i sc[2],
                                                     __m256i mn[2]) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i six_bits = _mm256_set1_epi8(0x3F);
    const __m256i two_bits = _mm256_set1_epi8(0x03);
    const auto* words = reinterpret_cast<const __m256i*>(rows + kQ4_KR16Scales);
    const __m256i u0 = _mm256_loadu_si256(words);
    const __m256i u1 = _mm256_loadu_si256(words + 2);  // 64 bytes on: the next word of 16 rows
    const __m256i u2 = _mm256_loadu_si256(words + 4);
    sc[0] = _mm256_and_si256(u0, six_bits);
    sc[1] =
        _mm256_or_si256(_mm256_and_si256(u2, low_mask),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), two_bits), 4));
    mn[0] = _mm256_and_si256(u1, six_bits);
    mn[1] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), low_mask),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), two_bits), 4));
}

// Q5_K's fifth bits: bit `bit` of every byte (bit j of a qh word: sub-block j) moved to bit 4 and
// the rest cleared (16-bit shifts: what crosses into a neighbouring byte is masked off).
__attribute__((target("avx512f,avx512bw"))) inline __m512i bit_at_4(__m512i v, int bit) {
    const __m512i shifted =
        bit <= 4 ? _mm512_slli_epi16(v, 4 - bit) : _mm512_srli_epi16(v, bit - 4);
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x10));
}

}  // namespace llama::kernels::detail

#endif
