#pragma once

// The 16-value f16 load of the AVX-512 kernels (attention, matrix-vector products, interleaved
// decode, bf16 packing). Always inlined, with only the features it needs, so that kernels compiled
// for any AVX-512 target attribute can take it.

#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {

#define LLAMA_TARGET_AVX512_LOAD __attribute__((target("avx512f,avx512bw,avx512vl")))

// 16 f16 values at p widened to fp32.
[[gnu::always_inline]] LLAMA_TARGET_AVX512_LOAD inline __m512 load_f16x16(const void* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
}

// The same reading only the lanes in `mask` (zeros in the others).
[[gnu::always_inline]] LLAMA_TARGET_AVX512_LOAD inline __m512 load_f16x16(const void* p,
                                                                          __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
}

#undef LLAMA_TARGET_AVX512_LOAD

}  // namespace llama::kernels::detail

#endif
