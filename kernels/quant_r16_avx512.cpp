// AVX-512 VNNI products of row-interleaved Q4_0 / Q4_K / Q5_K / IQ4_NL / Q8_0 / Q6_K weights
// (quant_interleave.h) with 1 to a few tokens. Lane i of every vector is row i of a 16-row group:
// one 512-bit load is the next 4 bytes of all 16 rows, each nibble half is one VPDPBUSD against 4
// activation values broadcast from memory, and the block scales of 16 rows are widened with one
// VCVTPH2PS. Each token's arithmetic is the same whatever else is in the batch (its own
// accumulators, the same order), so a token's result does not depend on the batch; what the tokens
// share is the loading and unpacking of the weights.
//
// Q4_K's 6-bit scales and mins are unpacked for 16 rows at once from the packed words (ggml's
// kmask trick in vector lanes) and picked per sub-block with VPSHUFB; the sub-block sums are
// scaled with VPMULLD and the mins applied with VPDPWSSD on the activations' 16-value sums. The
// high nibbles go in unshifted (byte & 0xF0 = 16 x code, one VPANDN instead of a shift and a mask),
// their sums shifted right by 4 afterwards: 35 -> 39 GB/s from L2 on one Xeon thread. Q5_K's
// codes (the nibbles with a fifth bit from its qh words) are unpacked in place, one VPTERNLOGD
// putting the bit beside the nibble.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/avx512_float.h"
#include "kernels/avx512_vnni.h"
#include "kernels/cpu_features.h"
#include "kernels/q4_k_scales_r16.h"
#include "kernels/quant_impl.h"
#include "kernels/quant_interleave.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

LLAMA_TARGET_AVX512_VNNI inline __m512i load512(const std::byte* p) {
    return _mm512_loadu_si512(p);
}

// 4 activation bytes broadcast to every lane.
LLAMA_TARGET_AVX512_VNNI inline __m512i broadcast4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// The 32-value block types. Q4_0 (Codes::Nibbles): per block, 4 loads give the 8 nibble vectors
// (values 4k.. of all rows), then per token 8 VPDPBUSD from the activation bias (which cancels the
// -8 offset) and one FMA with d * x scale. IQ4_NL (Codes::Grid): the nibbles are looked up
// (VPSHUFB) in the grid shifted by +128 to be unsigned, the bias cancelling the -128. Q8_0
// (Codes::Signed8): 8 loads of the signed bytes, + 128 by XOR 0x80, the bias cancelling the +128.
enum class Codes { Nibbles, Grid, Signed8 };

template <int T, Codes kCodes = Codes::Nibbles>
LLAMA_TARGET_AVX512_VNNI void block32_group(const std::byte* group, int64_t n_blocks,
                                            const QuantizedActivations* x, float* y, int64_t ldy) {
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i grid = _mm512_broadcast_i32x4(
        _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)),
                      _mm_set1_epi8(static_cast<char>(0x80))));
    // One block at a time, every token unrolled: the accumulators stay in registers (GCC
    // unrolls two blocks and rolls the token loop from T = 5 on, keeping acc[] on the stack: at 8
    // tokens that ran at half the speed per token of 4).
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
#pragma GCC unroll 1
    for (int64_t b = 0; b < n_blocks; ++b) {
        constexpr int64_t kGroupBytes = kCodes == Codes::Signed8 ? kQ8_0R16Group : kQ4_0R16Group;
        const std::byte* g = group + b * kGroupBytes;
        prefetch_block32_group<T>(g, kGroupBytes);
        __m512i q[8];
        if constexpr (kCodes == Codes::Signed8) {
            const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
            for (int k = 0; k < 8; ++k) {
                q[k] = _mm512_xor_si512(load512(g + kQ8_0R16Qs + 64 * k), flip);
            }
        } else {
            for (int k = 0; k < 4; ++k) {
                const __m512i v = load512(g + kQ4_0R16Qs + 64 * k);
                q[k] = _mm512_and_si512(v, low_mask);
                q[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low_mask);
                if constexpr (kCodes == Codes::Grid) {
                    q[k] = _mm512_shuffle_epi8(grid, q[k]);
                    q[k + 4] = _mm512_shuffle_epi8(grid, q[k + 4]);
                }
            }
        }
        const __m512 d = load_f16x16(g + (kCodes == Codes::Signed8 ? kQ8_0R16D : kQ4_0R16D));
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const int8_t* xq = x[t].qs.data() + b * 32;
            __m512i s0 = _mm512_set1_epi32(x[t].bias[b]);
            __m512i s1 = _mm512_setzero_si512();
            for (int k = 0; k < 8; k += 2) {
                s0 = dpbusd_broadcast(s0, q[k], xq + 4 * k);
                s1 = dpbusd_broadcast(s1, q[k + 1], xq + 4 * k + 4);
            }
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(x[t].scales[b])),
                                     _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// VPSHUFB indices picking byte j (0..3) of every 32-bit lane into the lane's low byte (`pair`:
// into both 16-bit halves), zeroing the rest.
LLAMA_TARGET_AVX512_VNNI inline __m512i byte_picker(int j, bool pair) {
    const __m512i lane_offsets =
        _mm512_set_epi32(12, 8, 4, 0, 12, 8, 4, 0, 12, 8, 4, 0, 12, 8, 4, 0);
    const __m512i offsets =
        pair ? _mm512_or_si512(lane_offsets, _mm512_slli_epi32(lane_offsets, 16)) : lane_offsets;
    const uint32_t index =
        pair ? (0x80008000u | static_cast<uint32_t>(j) | static_cast<uint32_t>(j) << 16)
             : (0x80808000u | static_cast<uint32_t>(j));
    return _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(index)), offsets);
}

// 64 values (sub-blocks 2 * quarter and 2 * quarter + 1) of a Q4_K or Q5_K (kFiveBit) group, added
// into sums: the sub-blocks' VPDPBUSD chains times their scales (picked from sc).
template <int T, bool kFiveBit>
LLAMA_TARGET_AVX512_VNNI __attribute__((always_inline)) inline void q45_k_quarter(
    const std::byte* g, int quarter, int64_t b, const QuantizedActivations* x, const __m512i* sc,
    const __m512i* scale_pick, __m512i* sums) {
    // One token has two accumulator chains per sub-block (even and odd words) to hide VPDPBUSD's
    // latency; several tokens interleave their own chains.
    constexpr int kChains = T == 1 ? 2 : 1;
    constexpr int64_t kQs = kFiveBit ? kQ5_KR16Qs : kQ4_KR16Qs;
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    if constexpr (kFiveBit) {
        prefetch_q5_k_quarter<T>(g, quarter);
    } else {
        prefetch_q4_k_quarter<T>(g, quarter);
    }
    __m512i lo[kChains][T];
    __m512i hi[kChains][T];
    for (int c = 0; c < kChains; ++c) {
        for (int t = 0; t < T; ++t) lo[c][t] = hi[c][t] = _mm512_setzero_si512();
    }
    for (int k = 0; k < 8; ++k) {
        const __m512i v = load512(g + kQs + 64 * (8 * quarter + k));
        __m512i q_lo;
        __m512i q_hi;  // Q4_K: 16 x the high nibble (the sums shifted back below)
        if constexpr (kFiveBit) {
            // 0xEA: (a & b) | c, the nibble and its fifth bit.
            const __m512i qh = load512(g + kQ5_KR16Qh + 64 * k);
            q_lo = _mm512_ternarylogic_epi32(v, low_mask, bit_at_4(qh, 2 * quarter), 0xEA);
            q_hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4), low_mask,
                                             bit_at_4(qh, 2 * quarter + 1), 0xEA);
        } else {
            q_lo = _mm512_and_si512(v, low_mask);
            q_hi = _mm512_andnot_si512(low_mask, v);
        }
        const int c = k % kChains;
        for (int t = 0; t < T; ++t) {
            const int8_t* xq = x[t].qs.data() + b * 256 + 64 * quarter + 4 * k;
            lo[c][t] = dpbusd_broadcast(lo[c][t], q_lo, xq);
            hi[c][t] = dpbusd_broadcast(hi[c][t], q_hi, xq + 32);
        }
    }
    const int j = 2 * quarter;
    const __m512i s_lo = _mm512_shuffle_epi8(sc[j / 4], scale_pick[j % 4]);
    const __m512i s_hi = _mm512_shuffle_epi8(sc[(j + 1) / 4], scale_pick[(j + 1) % 4]);
    for (int t = 0; t < T; ++t) {
        __m512i l = lo[0][t];
        __m512i h = hi[0][t];
        if constexpr (kChains == 2) {
            l = _mm512_add_epi32(l, lo[1][t]);
            h = _mm512_add_epi32(h, hi[1][t]);
        }
        if constexpr (!kFiveBit) {
            h = _mm512_srai_epi32(h, 4);  // exact: every product was a multiple of 16
        }
        sums[t] = _mm512_add_epi32(
            sums[t], _mm512_add_epi32(_mm512_mullo_epi32(l, s_lo), _mm512_mullo_epi32(h, s_hi)));
    }
}

template <int T, bool kFiveBit>
LLAMA_TARGET_AVX512_VNNI void q45_k_group(const std::byte* group, int64_t n_blocks,
                                          const QuantizedActivations* x, float* y, int64_t ldy) {
    __m512i scale_pick[4];
    __m512i min_pick[4];
    for (int j = 0; j < 4; ++j) {
        scale_pick[j] = byte_picker(j, false);
        min_pick[j] = byte_picker(j, true);
    }
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    constexpr int64_t kGroupBytes = kFiveBit ? kQ5_KR16Group : kQ4_KR16Group;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* g = group + b * kGroupBytes;
        __m512i sc[2];
        __m512i mn[2];
        unpack_q4_k_scales_r16(g, sc, mn);
        const __m512 d = load_f16x16(g + kQ4_KR16D);
        const __m512 dmin = load_f16x16(g + kQ4_KR16Dmin);

        // Mins: sum_j m_j * (sum of x over sub-block j), from the pairs of 16-value sums.
        __m512i mins[T];
        for (int t = 0; t < T; ++t) mins[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
            const __m512i m = _mm512_shuffle_epi8(mn[j / 4], min_pick[j % 4]);
            for (int t = 0; t < T; ++t) {
                mins[t] =
                    _mm512_dpwssd_epi32(mins[t], m, broadcast4(x[t].bsums.data() + b * 16 + 2 * j));
            }
        }

        __m512i sums[T];
        for (int t = 0; t < T; ++t) sums[t] = _mm512_setzero_si512();
        // Q5_K's quarters written out, so that its qh shifts take constant counts; Q4_K's stay a
        // loop.
        if constexpr (kFiveBit) {
            q45_k_quarter<T, true>(g, 0, b, x, sc, scale_pick, sums);
            q45_k_quarter<T, true>(g, 1, b, x, sc, scale_pick, sums);
            q45_k_quarter<T, true>(g, 2, b, x, sc, scale_pick, sums);
            q45_k_quarter<T, true>(g, 3, b, x, sc, scale_pick, sums);
        } else {
            for (int quarter = 0; quarter < 4; ++quarter) {
                q45_k_quarter<T, false>(g, quarter, b, x, sc, scale_pick, sums);
            }
        }
        for (int t = 0; t < T; ++t) {
            const __m512 xs = _mm512_set1_ps(x[t].scales[b]);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, xs), _mm512_cvtepi32_ps(sums[t]), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, xs), _mm512_cvtepi32_ps(mins[t]), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// Q6_K: per 4-byte chunk k of a 128-value half h, two ql words (A: values +4k and +64+4k in
// their nibbles, B: +32+4k and +96+4k) and one qh word (their top 2 bits) make four vectors of
// 6-bit codes, each one VPDPBUSD into the 16-value sub-block it belongs to. A sub-block's chain
// starts at -32 x (its activations' sum), which takes the codes' offset of 32 out exactly; the
// sub-block sums are then scaled by the sign-extended int8 scales (VPMULLD).
template <int T>
LLAMA_TARGET_AVX512_VNNI void q6_k_group(const std::byte* group, int64_t n_blocks,
                                         const QuantizedActivations* x, float* y, int64_t ldy) {
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i high_mask = _mm512_set1_epi8(0x30);
    // VPSHUFB tables from a low nibble n to (n & 3) << 4 and (n >> 2) << 4: the top bits of the
    // codes in bits 0-1 and 2-3 of the qh byte moved to bits 4-5 on port 5, where two shifts and
    // masks took port 0 beside VPDPBUSD. One Xeon thread, quant_bench, 256 rows from L2: 35-39 ->
    // 44-45 GB/s; 11008 rows from DRAM 12.7-13.0 -> 13.1-13.4 (8-layer Q4_K_M decode, 2 threads,
    // within 1% of before: memory-bound).
    const __m512i bits01_to_45 = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48));
    const __m512i bits23_to_45 = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, 0, 0, 0, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 48));
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* g = group + b * kQ6_KR16Group;
        __m512i scale_words[4];
        for (int w = 0; w < 4; ++w) scale_words[w] = load512(g + kQ6_KR16Scales + 64 * w);
        __m512i sums[T];
        const int8_t* xq_block[T];
        const int16_t* bsums[T];
        for (int t = 0; t < T; ++t) {
            sums[t] = _mm512_setzero_si512();
            xq_block[t] = x[t].qs.data() + b * 256;
            bsums[t] = x[t].bsums.data() + b * 16;
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
            for (int quad = 0; quad < 2; ++quad) {  // chunks 4 * quad .. + 3: 4 sub-blocks
                prefetch_q6_k_quarter<T>(g, 2 * h + quad);
                // Sub-blocks of q1..q4: 8h + quad + 0, 2, 4, 6.
                __m512i sub[4][T];
                for (int i = 0; i < 4; ++i) {
                    const int s = 8 * h + quad + 2 * i;
                    for (int t = 0; t < T; ++t) sub[i][t] = _mm512_set1_epi32(-32 * bsums[t][s]);
                }
                for (int kk = 0; kk < 4; ++kk) {
                    const int k = 4 * quad + kk;
                    const std::byte* chunk = g + kQ6_KR16Chunks + kQ6_KR16ChunkBytes * (8 * h + k);
                    const __m512i a = load512(chunk);
                    const __m512i bq = load512(chunk + 64);
                    const __m512i hb = load512(chunk + 128);
                    // 0xF8: a | (b & c): the high part (masked) or'ed with the low nibbles.
                    const __m512i hb_low = _mm512_and_si512(hb, low_mask);
                    const __m512i q[4] = {
                        _mm512_ternarylogic_epi32(_mm512_shuffle_epi8(bits01_to_45, hb_low), a,
                                                  low_mask, 0xF8),
                        _mm512_ternarylogic_epi32(_mm512_shuffle_epi8(bits23_to_45, hb_low), bq,
                                                  low_mask, 0xF8),
                        _mm512_ternarylogic_epi32(_mm512_and_si512(hb, high_mask),
                                                  _mm512_srli_epi16(a, 4), low_mask, 0xF8),
                        _mm512_ternarylogic_epi32(
                            _mm512_and_si512(_mm512_srli_epi16(hb, 2), high_mask),
                            _mm512_srli_epi16(bq, 4), low_mask, 0xF8)};
                    for (int i = 0; i < 4; ++i) {
                        for (int t = 0; t < T; ++t) {
                            const int8_t* xq = xq_block[t] + 128 * h + 32 * i + 4 * k;
                            sub[i][t] = dpbusd_broadcast(sub[i][t], q[i], xq);
                        }
                    }
                }
                for (int i = 0; i < 4; ++i) {
                    const int s = 8 * h + quad + 2 * i;
                    const int j = s % 4;  // the scale's byte in its word
                    const __m512i scale =
                        _mm512_srai_epi32(_mm512_slli_epi32(scale_words[s / 4], 24 - 8 * j), 24);
                    for (int t = 0; t < T; ++t) {
                        sums[t] = _mm512_add_epi32(sums[t], _mm512_mullo_epi32(sub[i][t], scale));
                    }
                }
            }
        }
        const __m512 d = load_f16x16(g + kQ6_KR16D);
        for (int t = 0; t < T; ++t) {
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(x[t].scales[b])),
                                     _mm512_cvtepi32_ps(sums[t]), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

}  // namespace

void quant_matvec_r16_avx512(const QuantMatvecArgs& args) {
    static constexpr R16GroupKernel kQ4_0[] = {block32_group<1>, block32_group<2>, block32_group<3>,
                                               block32_group<4>, block32_group<5>, block32_group<6>,
                                               block32_group<7>, block32_group<8>};
    static constexpr R16GroupKernel kQ4_K[] = {q45_k_group<1, false>, q45_k_group<2, false>,
                                               q45_k_group<3, false>, q45_k_group<4, false>};
    static constexpr R16GroupKernel kQ5_K[] = {q45_k_group<1, true>, q45_k_group<2, true>,
                                               q45_k_group<3, true>, q45_k_group<4, true>};
    constexpr Codes kGrid = Codes::Grid;
    static constexpr R16GroupKernel kIq4Nl[] = {block32_group<1, kGrid>, block32_group<2, kGrid>,
                                                block32_group<3, kGrid>, block32_group<4, kGrid>,
                                                block32_group<5, kGrid>, block32_group<6, kGrid>,
                                                block32_group<7, kGrid>, block32_group<8, kGrid>};
    constexpr Codes kQ8 = Codes::Signed8;
    static constexpr R16GroupKernel kQ8_0[] = {
        block32_group<1, kQ8>, block32_group<2, kQ8>, block32_group<3, kQ8>, block32_group<4, kQ8>,
        block32_group<5, kQ8>, block32_group<6, kQ8>, block32_group<7, kQ8>, block32_group<8, kQ8>};
    static constexpr R16GroupKernel kQ6_K[] = {q6_k_group<1>, q6_k_group<2>, q6_k_group<3>,
                                               q6_k_group<4>};
    r16_dispatch(args, {kQ4_0, kQ4_K, kIq4Nl, kQ8_0, kQ6_K, kQ5_K});
}

}  // namespace llama::kernels::detail

#else  // not x86: never selected (quant_path_supported is false)

namespace llama::kernels::detail {
void quant_matvec_r16_avx512(const QuantMatvecArgs& args) { quant_matvec_r16_scalar(args); }
}  // namespace llama::kernels::detail

#endif
