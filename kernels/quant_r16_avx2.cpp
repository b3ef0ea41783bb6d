// AVX2 products of row-interleaved Q4_0 / Q4_K / Q5_K / IQ4_NL / Q8_0 / Q6_K weights
// (quant_interleave.h) with 1 to a few tokens: each 16-row group as two halves of 8 rows, lane i of
// a 256-bit vector = row i of the half. VPMADDUBSW multiplies the unsigned nibbles by 4 broadcast
// signed activation bytes into int16 pairs; 8 of them (32 values) are summed in int16 (at most 8 *
// 2 * 15 * 127 = 30480, no saturation) before VPMADDWD widens them: by ones (Q4_0) or by the
// sub-block scale in both halves of the lane (Q4_K, exact in int32). As in the AVX-512 file, each
// token's arithmetic does not depend on the others in the batch.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/avx2_bits.h"
#include "kernels/cpu_features.h"
#include "kernels/q4_k_scales_r16.h"
#include "kernels/quant_impl.h"
#include "kernels/quant_interleave.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

LLAMA_TARGET_AVX2 inline __m256i load256(const std::byte* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

LLAMA_TARGET_AVX2 inline __m256 load_f16x8(const std::byte* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

LLAMA_TARGET_AVX2 inline __m256i broadcast4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Q4_0: per block and half, 4 loads give the 8 nibble vectors, then per token 8 VPMADDUBSW summed
// in int16, one VPMADDWD by ones, the activation bias, and one FMA with d * x scale. Both halves
// of a block are done before the next block, so the group is read once, front to back.
template <int T>
LLAMA_TARGET_AVX2 void q4_0_group(const std::byte* group, int64_t n_blocks,
                                  const QuantizedActivations* x, float* y, int64_t ldy) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[2][T];
    for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* block = group + b * kQ4_0R16Group;
        prefetch_block32_group<T>(block, kQ4_0R16Group);
        for (int half = 0; half < 2; ++half) {
            const std::byte* g = block + 32 * half;
            __m256i q[8];
            for (int k = 0; k < 4; ++k) {
                const __m256i v = load256(g + kQ4_0R16Qs + 64 * k);
                q[k] = _mm256_and_si256(v, low_mask);
                q[k + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_mask);
            }
            const __m256 d = load_f16x8(block + kQ4_0R16D + 16 * half);
            for (int t = 0; t < T; ++t) {
                const int8_t* xq = x[t].qs.data() + b * 32;
                __m256i s0 = _mm256_maddubs_epi16(q[0], broadcast4(xq));
                __m256i s1 = _mm256_maddubs_epi16(q[1], broadcast4(xq + 4));
                for (int k = 2; k < 8; k += 2) {
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[k], broadcast4(xq + 4 * k)));
                    s1 = _mm256_add_epi16(
                        s1, _mm256_maddubs_epi16(q[k + 1], broadcast4(xq + 4 * k + 4)));
                }
                const __m256i sum =
                    _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones),
                                     _mm256_set1_epi32(x[t].bias[b]));
                acc[half][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[t].scales[b])),
                                               _mm256_cvtepi32_ps(sum), acc[half][t]);
            }
        }
    }
    for (int t = 0; t < T; ++t) {
        _mm256_storeu_ps(y + t * ldy, acc[0][t]);
        _mm256_storeu_ps(y + t * ldy + 8, acc[1][t]);
    }
}

// Signed 8-bit weights: IQ4_NL (kGrid: its nibbles looked up (VPSHUFB) in the signed grid) and
// Q8_0 (the bytes as they are). VPMADDUBSW takes |w| (once per block for all tokens; Q8_0's -128
// becomes 128, which it reads unsigned) times x with w's sign; pairs reach 2 * 127 * 127 = 32258
// (or 2 * 128 * 127 = 32512), so each is widened by VPMADDWD at once, no int16 sums.
template <int T, bool kGrid>
LLAMA_TARGET_AVX2 void signed8_group(const std::byte* group, int64_t n_blocks,
                                     const QuantizedActivations* x, float* y, int64_t ldy) {
    constexpr int64_t kGroupBytes = kGrid ? kQ4_0R16Group : kQ8_0R16Group;
    constexpr int64_t kD = kGrid ? kQ4_0R16D : kQ8_0R16D;
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i grid = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    __m256 acc[2][T];
    for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* block = group + b * kGroupBytes;
        prefetch_block32_group<T>(block, kGroupBytes);
        for (int half = 0; half < 2; ++half) {
            __m256i w[8];
            if constexpr (kGrid) {
                for (int k = 0; k < 4; ++k) {
                    const __m256i raw = load256(block + kQ4_0R16Qs + 64 * k + 32 * half);
                    w[k] = _mm256_shuffle_epi8(grid, _mm256_and_si256(raw, low_mask));
                    w[k + 4] = _mm256_shuffle_epi8(
                        grid, _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_mask));
                }
            } else {
                for (int k = 0; k < 8; ++k) w[k] = load256(block + kQ8_0R16Qs + 64 * k + 32 * half);
            }
            __m256i magnitude[8];
            for (int k = 0; k < 8; ++k) magnitude[k] = _mm256_abs_epi8(w[k]);
            const __m256 d = load_f16x8(block + kD + 16 * half);
            for (int t = 0; t < T; ++t) {
                const int8_t* xq = x[t].qs.data() + b * 32;
                __m256i sum = _mm256_setzero_si256();
                for (int k = 0; k < 8; ++k) {
                    const __m256i p = _mm256_maddubs_epi16(
                        magnitude[k], _mm256_sign_epi8(broadcast4(xq + 4 * k), w[k]));
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, ones));
                }
                acc[half][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[t].scales[b])),
                                               _mm256_cvtepi32_ps(sum), acc[half][t]);
            }
        }
    }
    for (int t = 0; t < T; ++t) {
        _mm256_storeu_ps(y + t * ldy, acc[0][t]);
        _mm256_storeu_ps(y + t * ldy + 8, acc[1][t]);
    }
}

// VPSHUFB indices putting byte j (0..3) of every 32-bit lane into both of its 16-bit halves.
LLAMA_TARGET_AVX2 inline __m256i pair_picker(int j) {
    const __m256i lane_offsets = _mm256_set_epi32(12, 8, 4, 0, 12, 8, 4, 0);
    const __m256i offsets = _mm256_or_si256(lane_offsets, _mm256_slli_epi32(lane_offsets, 16));
    const uint32_t index = 0x80008000u | static_cast<uint32_t>(j) | static_cast<uint32_t>(j) << 16;
    return _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(index)), offsets);
}

// 64 values of one half (8 rows) of a Q4_K or Q5_K (kFiveBit) group, sub-blocks 2h and 2h + 1 with
// their scales s_lo and s_hi, added into sums. Q5_K's fifth bits come from qh word k (bits 2h and
// 2h + 1 for chunk 8h + k's low and high nibbles), one shift and one AND each; its codes reach 31,
// so 4 chunks' VPMADDUBSW pairs (4 * 2 * 31 * 127 = 31496) are summed in int16 before VPMADDWD,
// not 8.
template <int T, bool kFiveBit>
LLAMA_TARGET_AVX2 __attribute__((always_inline)) inline void q45_k_quarter(
    const std::byte* g, int half, int h, int64_t b, const QuantizedActivations* x, __m256i s_lo,
    __m256i s_hi, __m256i* sums) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    constexpr int64_t kQs = kFiveBit ? kQ5_KR16Qs : kQ4_KR16Qs;
    constexpr int kRun = kFiveBit ? 4 : 8;  // chunks summed in int16
    const std::byte* rows = g + 32 * half;
    if (half == 0) {  // the group's lines, once
        if constexpr (kFiveBit) {
            prefetch_q5_k_quarter<T>(g, h);
        } else {
            prefetch_q4_k_quarter<T>(g, h);
        }
    }
    __m256i lo[T];
    __m256i hi[T];
    for (int k = 0; k < 8; ++k) {
        const __m256i v = load256(rows + kQs + 64 * (8 * h + k));
        __m256i q_lo = _mm256_and_si256(v, low_mask);
        __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_mask);
        if constexpr (kFiveBit) {
            const __m256i qh = load256(rows + kQ5_KR16Qh + 64 * k);
            q_lo = _mm256_or_si256(q_lo, _mm256_and_si256(bit_to_4(qh, 2 * h), bit4));
            q_hi = _mm256_or_si256(q_hi, _mm256_and_si256(bit_to_4(qh, 2 * h + 1), bit4));
        }
        for (int t = 0; t < T; ++t) {
            const int8_t* xq = x[t].qs.data() + b * 256 + 64 * h + 4 * k;
            const __m256i p_lo = _mm256_maddubs_epi16(q_lo, broadcast4(xq));
            const __m256i p_hi = _mm256_maddubs_epi16(q_hi, broadcast4(xq + 32));
            lo[t] = k % kRun == 0 ? p_lo : _mm256_add_epi16(lo[t], p_lo);
            hi[t] = k % kRun == 0 ? p_hi : _mm256_add_epi16(hi[t], p_hi);
        }
        if (k % kRun == kRun - 1) {
            for (int t = 0; t < T; ++t) {
                sums[t] =
                    _mm256_add_epi32(sums[t], _mm256_add_epi32(_mm256_madd_epi16(lo[t], s_lo),
                                                               _mm256_madd_epi16(hi[t], s_hi)));
            }
        }
    }
}

// One half (8 rows) of one Q4_K or Q5_K (kFiveBit) super-block group, added into acc.
template <int T, bool kFiveBit>
LLAMA_TARGET_AVX2 inline void q45_k_block_half(const std::byte* g, int half, int64_t b,
                                               const QuantizedActivations* x, __m256* acc) {
    __m256i sc[2];
    __m256i mn[2];
    unpack_q4_k_scales_r16(g + 32 * half, sc, mn);
    const __m256 d = load_f16x8(g + kQ4_KR16D + 16 * half);
    const __m256 dmin = load_f16x8(g + kQ4_KR16Dmin + 16 * half);

    __m256i mins[T];
    for (int t = 0; t < T; ++t) mins[t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
        const __m256i m = _mm256_shuffle_epi8(mn[j / 4], pair_picker(j % 4));
        for (int t = 0; t < T; ++t) {
            mins[t] = _mm256_add_epi32(
                mins[t], _mm256_madd_epi16(m, broadcast4(x[t].bsums.data() + b * 16 + 2 * j)));
        }
    }

    // The 8 sub-block scales in both halves of every lane, picked before the loop and read from
    // memory as VPMADDWD operands, as the Q6_K kernel below does.
    alignas(32) __m256i scales[8];
    for (int j = 0; j < 8; ++j) scales[j] = _mm256_shuffle_epi8(sc[j / 4], pair_picker(j % 4));

    __m256i sums[T];
    for (int t = 0; t < T; ++t) sums[t] = _mm256_setzero_si256();
    // Q5_K's quarters written out, so that its qh shifts take constant counts (one thread, 256 x
    // 4096 from L2: 23.4 -> 26.5 GB/s); Q4_K's loop measured 3% slower unrolled.
    if constexpr (kFiveBit) {
        q45_k_quarter<T, true>(g, half, 0, b, x, scales[0], scales[1], sums);
        q45_k_quarter<T, true>(g, half, 1, b, x, scales[2], scales[3], sums);
        q45_k_quarter<T, true>(g, half, 2, b, x, scales[4], scales[5], sums);
        q45_k_quarter<T, true>(g, half, 3, b, x, scales[6], scales[7], sums);
    } else {
        for (int h = 0; h < 4; ++h) {
            q45_k_quarter<T, false>(g, half, h, b, x, scales[2 * h], scales[2 * h + 1], sums);
        }
    }
    for (int t = 0; t < T; ++t) {
        const __m256 xs = _mm256_set1_ps(x[t].scales[b]);
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, xs), _mm256_cvtepi32_ps(sums[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, xs), _mm256_cvtepi32_ps(mins[t]), acc[t]);
    }
}

// A super-block type's group: both 8-row halves of each super-block (kBlockHalf) before the next,
// so the group is read once, front to back.
using BlockHalf = void (*)(const std::byte* g, int half, int64_t b, const QuantizedActivations* x,
                           __m256* acc);
template <int T, int64_t kGroupBytes, BlockHalf kBlockHalf>
LLAMA_TARGET_AVX2 void super_block_group(const std::byte* group, int64_t n_blocks,
                                         const QuantizedActivations* x, float* y, int64_t ldy) {
    __m256 acc[2][T];
    for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* g = group + b * kGroupBytes;
        kBlockHalf(g, 0, b, x, acc[0]);
        kBlockHalf(g, 1, b, x, acc[1]);
    }
    for (int t = 0; t < T; ++t) {
        _mm256_storeu_ps(y + t * ldy, acc[0][t]);
        _mm256_storeu_ps(y + t * ldy + 8, acc[1][t]);
    }
}

template <int T>
constexpr R16GroupKernel q4_k_group =
    super_block_group<T, kQ4_KR16Group, q45_k_block_half<T, false>>;
template <int T>
constexpr R16GroupKernel q5_k_group =
    super_block_group<T, kQ5_KR16Group, q45_k_block_half<T, true>>;

// VPSHUFB indices putting byte `low` (0..3) of every 32-bit lane into the high byte of the lane's
// low 16-bit half and byte `high` into that of its high half, zeroing the low bytes: an arithmetic
// shift right by 8 then sign-extends the two int8 values into an int16 pair.
LLAMA_TARGET_AVX2 inline __m256i signed_pair_picker(int low, int high) {
    const __m256i lane_offsets = _mm256_set_epi32(12, 8, 4, 0, 12, 8, 4, 0);
    const __m256i offsets =
        _mm256_or_si256(_mm256_slli_epi32(lane_offsets, 8), _mm256_slli_epi32(lane_offsets, 24));
    const uint32_t index =
        0x00800080u | static_cast<uint32_t>(low) << 8 | static_cast<uint32_t>(high) << 24;
    return _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(index)), offsets);
}

LLAMA_TARGET_AVX2 inline __m256i pick_signed_pair(__m256i words, int low, int high) {
    return _mm256_srai_epi16(_mm256_shuffle_epi8(words, signed_pair_picker(low, high)), 8);
}

// One half (8 rows) of one Q6_K super-block group, added into acc. Per 4-byte chunk the two ql
// words and the qh word make four vectors of 6-bit codes (as in the AVX-512 file); VPMADDUBSW
// pairs reach 2 * 63 * 127 = 16002, so two chunks' products are summed in int16 before VPMADDWD
// by the sub-block's int8 scale (sign-extended into both halves of the lane). The codes' offset
// of 32 is -32 x the scales times the activations' 16-value sums (VPMADDWD on scale pairs).
template <int T>
LLAMA_TARGET_AVX2 inline void q6_k_block_half(const std::byte* g, int half, int64_t b,
                                              const QuantizedActivations* x, __m256* acc) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i high_mask = _mm256_set1_epi8(0x30);
    const std::byte* rows = g + 32 * half;
    __m256i scale_words[4];
    for (int w = 0; w < 4; ++w) scale_words[w] = load256(rows + kQ6_KR16Scales + 64 * w);

    __m256i offsets[T];
    for (int t = 0; t < T; ++t) offsets[t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {  // sub-blocks 2j, 2j + 1: bytes 2j % 4, + 1 of word j / 2
        const __m256i pair = pick_signed_pair(scale_words[j / 2], (2 * j) % 4, (2 * j) % 4 + 1);
        for (int t = 0; t < T; ++t) {
            offsets[t] = _mm256_add_epi32(
                offsets[t],
                _mm256_madd_epi16(pair, broadcast4(x[t].bsums.data() + b * 16 + 2 * j)));
        }
    }
    __m256i sums[T];
    for (int t = 0; t < T; ++t) {
        sums[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offsets[t], 5));
    }

    // The 16 sub-block scales, sign-extended into both halves of every lane, picked with constant
    // VPSHUFB indices before the loop (in it, rolled, GCC built each index at run time from the
    // loop counters) and read from memory as VPMADDWD operands (in registers they left too few
    // for the codes: spills).
    alignas(32) __m256i scales[16];
    for (int s = 0; s < 16; ++s) scales[s] = pick_signed_pair(scale_words[s / 4], s % 4, s % 4);

    for (int h = 0; h < 2; ++h) {
        for (int quad = 0; quad < 2; ++quad) {  // chunks 4 * quad .. + 3: 4 sub-blocks
            if (half == 0) prefetch_q6_k_quarter<T>(g, 2 * h + quad);  // the group's lines, once
            for (int pair = 0; pair < 2; ++pair) {
                __m256i p[4][T];
                for (int kk = 0; kk < 2; ++kk) {
                    const int k = 4 * quad + 2 * pair + kk;
                    const std::byte* chunk =
                        rows + kQ6_KR16Chunks + kQ6_KR16ChunkBytes * (8 * h + k);
                    const __m256i a = load256(chunk);
                    const __m256i bq = load256(chunk + 64);
                    const __m256i hb = load256(chunk + 128);
                    const __m256i q[4] = {
                        _mm256_or_si256(_mm256_and_si256(a, low_mask),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 4), high_mask)),
                        _mm256_or_si256(_mm256_and_si256(bq, low_mask),
                                        _mm256_and_si256(_mm256_slli_epi16(hb, 2), high_mask)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low_mask),
                                        _mm256_and_si256(hb, high_mask)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bq, 4), low_mask),
                                        _mm256_and_si256(_mm256_srli_epi16(hb, 2), high_mask))};
                    for (int i = 0; i < 4; ++i) {
                        for (int t = 0; t < T; ++t) {
                            const int8_t* xq = x[t].qs.data() + b * 256 + 128 * h + 32 * i + 4 * k;
                            const __m256i product = _mm256_maddubs_epi16(q[i], broadcast4(xq));
                            p[i][t] = kk == 0 ? product : _mm256_add_epi16(p[i][t], product);
                        }
                    }
                }
                for (int i = 0; i < 4; ++i) {
                    for (int t = 0; t < T; ++t) {
                        sums[t] = _mm256_add_epi32(  // q[i]'s sub-block 8h + quad + 2i
                            sums[t], _mm256_madd_epi16(p[i][t], scales[8 * h + quad + 2 * i]));
                    }
                }
            }
        }
    }
    const __m256 d = load_f16x8(g + kQ6_KR16D + 16 * half);
    for (int t = 0; t < T; ++t) {
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[t].scales[b])),
                                 _mm256_cvtepi32_ps(sums[t]), acc[t]);
    }
}

template <int T>
constexpr R16GroupKernel q6_k_group = super_block_group<T, kQ6_KR16Group, q6_k_block_half<T>>;

}  // namespace

void quant_matvec_r16_avx2(const QuantMatvecArgs& args) {
    static constexpr R16GroupKernel kQ4_0[] = {q4_0_group<1>, q4_0_group<2>, q4_0_group<3>,
                                               q4_0_group<4>};
    static constexpr R16GroupKernel kQ4_K[] = {q4_k_group<1>, q4_k_group<2>, q4_k_group<3>,
                                               q4_k_group<4>};
    static constexpr R16GroupKernel kIq4Nl[] = {signed8_group<1, true>, signed8_group<2, true>,
                                                signed8_group<3, true>, signed8_group<4, true>};
    static constexpr R16GroupKernel kQ8_0[] = {signed8_group<1, false>, signed8_group<2, false>,
                                               signed8_group<3, false>, signed8_group<4, false>};
    static constexpr R16GroupKernel kQ6_K[] = {q6_k_group<1>, q6_k_group<2>, q6_k_group<3>,
                                               q6_k_group<4>};
    static constexpr R16GroupKernel kQ5_K[] = {q5_k_group<1>, q5_k_group<2>, q5_k_group<3>,
                                               q5_k_group<4>};
    r16_dispatch(args, {kQ4_0, kQ4_K, kIq4Nl, kQ8_0, kQ6_K, kQ5_K});
}

}  // namespace llama::kernels::detail

#else  // not x86: never selected (quant_path_supported is false)

namespace llama::kernels::detail {
void quant_matvec_r16_avx2(const QuantMatvecArgs& args) { quant_matvec_r16_scalar(args); }
}  // namespace llama::kernels::detail

#endif
