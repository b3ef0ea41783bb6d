#pragma once

// Bit moves on AVX2 vectors shared by the Q5_K kernels of both layouts.

#include "kernels/cpu_features.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {

// Bit `bit` of every byte moved to bit 4 (16-bit shifts: the bits that cross into a neighbouring
// byte are masked off afterwards).
LLAMA_TARGET_AVX2 inline __m256i bit_to_4(__m256i v, int bit) {
    return bit <= 4 ? _mm256_slli_epi16(v, 4 - bit) : _mm256_srli_epi16(v, bit - 4);
}

}  // namespace llama::kernels::detail

#endif
