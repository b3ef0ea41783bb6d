#pragma once

// Helpers shared by the AVX-512 VNNI kernels.

#include <cstdint>

#include "kernels/cpu_features.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {

// acc + the dot products of the 4-byte groups of q (unsigned) with the 4 signed activation bytes
// at p, broadcast to every lane. The broadcast is folded into VPDPBUSD ({1to16}): GCC emits a
// separate VPBROADCASTD for _mm512_set1_epi32 of a load, two instructions where one does (the
// interleaved 8-token kernel ran 17-20% faster with it, in L2 on Zen 4).
LLAMA_TARGET_AVX512_VNNI inline __m512i dpbusd_broadcast(__m512i acc, __m512i q, const void* p) {
    asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(q), "m"(*static_cast<const int32_t*>(p)));
    return acc;
}

}  // namespace llama::kernels::detail

#endif
