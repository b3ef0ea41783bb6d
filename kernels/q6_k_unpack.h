#pragma once

// The 6-bit codes of a Q6_K block, shared by the AVX2 and AVX-512 kernels (an AVX2 function
// inlines into either).

#include "kernels/cpu_features.h"
#include "kernels/quant.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {

// Values 128 * half + 32 * k .. + 31 of the block as unsigned codes 0..63 in q[k]: the low 4 bits
// from ql (bytes 64 * half .. + 63, low nibbles then high nibbles), the top 2 from qh (bytes
// 32 * half .. + 31, bit pairs 0-1, 2-3, 4-5, 6-7 for k = 0..3).
LLAMA_TARGET_AVX2 inline void unpack_q6_k_half(const BlockQ6_K& block, int half, __m256i q[4]) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i high_mask = _mm256_set1_epi8(0x30);
    const auto* ql = reinterpret_cast<const __m256i*>(block.ql + 64 * half);
    const __m256i ql0 = _mm256_loadu_si256(ql);
    const __m256i ql1 = _mm256_loadu_si256(ql + 1);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qh + 32 * half));
    q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 4), high_mask));
    q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low_mask),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), high_mask));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                           _mm256_and_si256(qh, high_mask));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), high_mask));
}

}  // namespace llama::kernels::detail

#endif
