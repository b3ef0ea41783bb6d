// The AVX-512 kernels of the 16-bit integer GEMM (gemm_int16.h): VPMADDWD + VPADDD (AVX-512 BW)
// or VPDPWSSD (AVX512-VNNI) on zmm registers, whose 16 lanes are a panel's 16 rows, so a column
// pair of the panel is one load. Up to 12 tokens a tile (two packed token tiles): 12 sums, the
// weights and a broadcast in 14 of the 32 registers. The packers are the AVX2 ones.

#include <string>

#include "kernels/cpu_features.h"
#include "kernels/gemm_int16_impl.h"
#include "kernels/quant.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels {

bool gemm_int16_avx512_available() { return cpu_supports(IsaLevel::Avx512); }
bool gemm_int16_avx512_vnni_available() { return cpu_supports(IsaLevel::Avx512Vnni); }

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace {

constexpr int kTokens = 2 * kInt16TileTokens;

// acc + the pair sums of w x x: VPMADDWD then VPADDD, or VPDPWSSD (in assembly, so that the
// tiles of both levels are one template under the AVX-512 target; the caller checks the CPU has
// AVX512-VNNI).
template <bool kVnni>
[[gnu::always_inline]] LLAMA_TARGET_AVX512 inline __m512i dot_pairs(__m512i acc, __m512i w,
                                                                    __m512i x) {
    if constexpr (kVnni) {
        asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(w), "v"(x));
        return acc;
    } else {
        return _mm512_add_epi32(acc, _mm512_madd_epi16(w, x));
    }
}

// Token t's scale in activation block b of a tile of up to 12 tokens, tokens 6..11 scale_stride
// further on. A plain function: a lambda inside the kernel lost its AVX-512 target in a portable
// build.
inline float token_scale(const float* x_scales, int64_t scale_stride, int64_t b, int t) {
    return t < kInt16TileTokens
               ? x_scales[b * kInt16TileTokens + t]
               : x_scales[scale_stride + b * kInt16TileTokens + t - kInt16TileTokens];
}

// The register tile (detail::Int16Tile) of T <= 12 tokens, weight blocks of kWeightBlock columns:
// acc[t] holds the 16 rows of token t.
template <int T, bool kVnni, int kWeightBlock>
LLAMA_TARGET_AVX512 void tile(const int32_t* panel, const float* panel_scales, int64_t n_blocks,
                              const int32_t* x, const float* x_scales, int64_t x_stride,
                              int64_t scale_stride, float* sums, int64_t ld, const int32_t*,
                              const int32_t*) {
    constexpr int64_t kPairs = kWeightBlock / 2;
    constexpr int64_t kWeightBlocks = kInt16Block / kWeightBlock;  // an activation block's
    static_assert(kWeightBlocks == 1 || kWeightBlocks == 2);
    __m512 partial[T];  // kWeightBlocks 2: the first block's
    const int32_t* w = panel;
    const int32_t* x0 = x;
    const int32_t* x1 = x + x_stride;  // tokens 6..11
    for (int64_t wb = 0; wb < n_blocks * kWeightBlocks; ++wb) {
        __m512i acc[T];
#pragma GCC unroll 12
        for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_si512();
        for (int64_t p = 0; p < kPairs; ++p) {
            const __m512i wp = _mm512_load_si512(w);
#pragma GCC unroll 12
            for (int t = 0; t < T; ++t) {
                const __m512i xt =
                    _mm512_set1_epi32(t < kInt16TileTokens ? x0[t] : x1[t - kInt16TileTokens]);
                acc[t] = dot_pairs<kVnni>(acc[t], wp, xt);
            }
            w += kInt16PanelRows;
            x0 += kInt16TileTokens;
            x1 += kInt16TileTokens;
        }
        const __m512 w_scale = _mm512_load_ps(panel_scales + wb * kInt16PanelRows);
        const int64_t b = wb / kWeightBlocks;
        if constexpr (kWeightBlocks == 1) {
            // The block's exact sums into the fp32 sums: float(sum) x (w scale x x scale).
#pragma GCC unroll 12
            for (int t = 0; t < T; ++t) {
                float* s = sums + t * ld;
                _mm512_storeu_ps(
                    s, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]),
                                       _mm512_mul_ps(w_scale, _mm512_set1_ps(token_scale(
                                                                  x_scales, scale_stride, b, t))),
                                       _mm512_loadu_ps(s)));
            }
        } else if (wb % 2 == 0) {
            // The first weight block of two: float(sum) x w scale, kept for the second.
#pragma GCC unroll 12
            for (int t = 0; t < T; ++t) {
                partial[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[t]), w_scale);
            }
        } else {
            // The second: (its float(sum) x w scale + the first's) x x scale into the fp32 sums.
#pragma GCC unroll 12
            for (int t = 0; t < T; ++t) {
                float* s = sums + t * ld;
                const __m512 block =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), w_scale, partial[t]);
                _mm512_storeu_ps(
                    s, _mm512_fmadd_ps(block,
                                       _mm512_set1_ps(token_scale(x_scales, scale_stride, b, t)),
                                       _mm512_loadu_ps(s)));
            }
        }
    }
}

template <bool kVnni>
void run(const Int16RowsArgs& args, Int16Scratch& scratch) {
    static constexpr auto tiles =
        detail::make_int16_tiles<kTokens>([]<int T, int kWeightBlock>() -> detail::Int16Tile {
            return tile<T, kVnni, kWeightBlock>;
        });
    detail::int16_rows_loop(tiles, detail::pack_int16_panel_avx2, args, scratch);
}

}  // namespace

#endif

void gemm_int16_rows_avx512(const Int16RowsArgs& args, Int16Scratch& scratch) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_int16_avx512_available()) {
        throw Error("gemm_int16_rows_avx512: this CPU has no AVX-512");
    }
    run<false>(args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_int16_rows_avx512: no x86 target support in this compiler");
#endif
}

void gemm_int16_rows_avx512_vnni(const Int16RowsArgs& args, Int16Scratch& scratch) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_int16_avx512_vnni_available()) {
        throw Error("gemm_int16_rows_avx512_vnni: this CPU has no AVX512-VNNI");
    }
    run<true>(args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_int16_rows_avx512_vnni: no x86 target support in this compiler");
#endif
}

}  // namespace llama::kernels
