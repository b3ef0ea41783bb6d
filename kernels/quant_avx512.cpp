// AVX-512 VNNI quantized matrix-vector products. Compiled for AVX-512 (F, BW, VL, VNNI) with
// target attributes whatever the build flags, and only called when the CPU has them.
//
// VPDPBUSD adds four unsigned-by-signed byte products into each int32 lane without saturation,
// so Q8_0 runs on w + 128 and Q4_0 on its raw nibbles, each block's accumulator starting at the
// activation bias that cancels the offset (quant_impl.h). Q4_0 avoids unpacking its nibbles:
// the 16 bytes are broadcast to both halves of a 256-bit register and masked with 0x0F / 0xF0,
// so the high half holds 16 * q; the int32 lanes of the two halves never mix until the end of
// the row, where the high half's sum is divided by 16. Each block's f16 scale is widened in the
// loop (VPBROADCASTW + VCVTPH2PS): measured 20-35% faster than gathering a row's scales first.
// The K-quants use VPMADDUBSW for the byte products and VPDPWSSD to apply the sub-block scales.

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu_features.h"
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

// Each row is read on its own, start to end, as one sequential stream. Reading 4 rows side by
// side to share each block's activation loads (as this file did) measured 1.1-1.6x slower in
// whole-model decode (7B shape, 8 layers, 2 threads, Zen 4: Q8_0 10.5 vs 16.5 t/s, Q4_0 23 vs
// 26, Q4_K_M 19 vs 21): the activations sit in L1 anyway, and interleaved row streams defeat
// the hardware prefetcher.
//
// Software prefetch distance (2 KB; Q4_K/Q5_K/Q6_K a few super-blocks): the hardware
// prefetcher alone left the loops waiting on DRAM (measured 20-30% slower; 1 KB ahead was ~10%
// slower than 2-4 KB).
constexpr int64_t kPrefetchBytes = 2048;

inline void prefetch_ahead(const void* row, int64_t offset) {
    _mm_prefetch(static_cast<const char*>(row) + offset + kPrefetchBytes, _MM_HINT_T0);
}

LLAMA_TARGET_AVX512_VNNI inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

LLAMA_TARGET_AVX512_VNNI inline float hsum128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

LLAMA_TARGET_AVX512_VNNI inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

LLAMA_TARGET_AVX512_VNNI inline __m256i bias_vector(int32_t bias) {
    return _mm256_castsi128_si256(_mm_cvtsi32_si128(bias));
}

template <class Block>
LLAMA_TARGET_AVX512_VNNI inline __m256i block_codes(const Block& block, __m256i constant) {
    if constexpr (std::is_same_v<Block, BlockQ4_0>) {
        return _mm256_and_si256(_mm256_broadcastsi128_si256(
                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs))),
                                constant);
    } else {
        return _mm256_xor_si256(load256(block.qs), constant);
    }
}

// Q8_0 and Q4_0: dot(row, x).
template <class Block>
LLAMA_TARGET_AVX512_VNNI float dot_32(const Block* row, const QuantizedActivations& x) {
    constexpr bool kQ4 = std::is_same_v<Block, BlockQ4_0>;
    const int64_t n_blocks = x.n / 32;
    const int8_t* xq = x.qs.data();
    const int32_t* bias = x.bias.data();
    const float* dx = x.scales.data();
    // Q4_0: low nibbles in the low 128 bits, 16 * high nibbles in the high 128 bits. Q8_0: the
    // flip to w + 128.
    const __m256i constant =
        kQ4 ? _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(0xF0)), _mm_set1_epi8(0x0F))
            : _mm256_set1_epi8(static_cast<char>(0x80));
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    auto block = [&](int64_t i, __m256& acc) LLAMA_TARGET_AVX512_VNNI {
        const __m256i dot = _mm256_dpbusd_epi32(bias_vector(bias[i]), block_codes(row[i], constant),
                                                load256(xq + 32 * i));
        const __m256 scale = _mm256_mul_ps(
            _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(row[i].d))), _mm256_set1_ps(dx[i]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc);
    };
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        prefetch_ahead(row + b, 0);
        block(b, acc0);
        block(b + 1, acc1);
    }
    if (b < n_blocks) block(b, acc0);
    const __m256 acc = _mm256_add_ps(acc0, acc1);
    if constexpr (kQ4) {
        return hsum128(_mm256_castps256_ps128(acc)) +
               hsum128(_mm256_extractf128_ps(acc, 1)) * (1.0f / 16.0f);
    } else {
        return hsum(acc);
    }
}

// The 8 scales and 8 mins of a Q4_K/Q5_K block as bytes [sc0..sc7, m0..m7] (ggml's kmask trick,
// equivalent to unpack_q4k_scale_min for j = 0..7).
LLAMA_TARGET_AVX512_VNNI inline __m128i unpack_scales_mins(const uint8_t* packed) {
    constexpr uint32_t kmask1 = 0x3f3f3f3f;
    constexpr uint32_t kmask2 = 0x0f0f0f0f;
    constexpr uint32_t kmask3 = 0x03030303;
    uint32_t u[3];
    std::memcpy(u, packed, 12);
    const uint32_t mins_high = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t mins_low = u[1] & kmask1;
    const uint32_t scales_high = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    const uint32_t scales_low = u[0] & kmask1;
    return _mm_set_epi32(static_cast<int>(mins_high), static_cast<int>(mins_low),
                         static_cast<int>(scales_high), static_cast<int>(scales_low));
}

// Two x ranges of 32 values as one 512-bit register.
LLAMA_TARGET_AVX512_VNNI inline __m512i load_pair(const int8_t* low, const int8_t* high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load256(low)), load256(high), 1);
}

// Q4_K and Q5_K, 512 bits at a time: 64 bytes of qs hold two 64-value groups; their low nibbles
// are sub-blocks (s, s+2) and their high nibbles (s+1, s+3), each half of a register scaled by
// its own sub-block scale (VPERMW broadcasts it) through VPDPWSSD.
// int16 lanes 0-15 hold a, lanes 16-31 hold b.
LLAMA_TARGET_AVX512_VNNI inline __m512i pair_index(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(a)),
                              _mm256_set1_epi16(static_cast<int16_t>(b)), 1);
}

template <bool kFiveBit, class Block>
LLAMA_TARGET_AVX512_VNNI float dot_q45_k(const Block* row, const QuantizedActivations& x) {
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_mins = _mm_setzero_ps();
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    const __m512i index[4] = {pair_index(0, 2), pair_index(1, 3), pair_index(4, 6),
                              pair_index(5, 7)};
    // Q5_K: shifts moving bit s of each qh byte to bit 4, for sub-blocks (0,2), (1,3) (left) and
    // (4,6), (5,7) (right).
    const __m512i shift_left[2] = {pair_index(4, 2), pair_index(3, 1)};
    const __m512i shift_right[2] = {pair_index(0, 2), pair_index(1, 3)};

    for (int64_t i = 0; i < x.n / 256; ++i) {
        for (size_t offset = 0; offset < sizeof(Block); offset += 64) {
            prefetch_ahead(row + i, static_cast<int64_t>(offset));
        }
        const int8_t* xq = x.qs.data() + i * 256;
        // Mins: sum_j m_j * (sum of x over sub-block j), from the 16-value partial sums.
        const __m256i bsums = load256(x.bsums.data() + i * 16);
        const __m128i pair_sums =
            _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        const Block& block = row[i];
        const __m128i scales_mins = unpack_scales_mins(block.scales);
        uint32_t d_dmin;
        std::memcpy(&d_dmin, &block.d, 4);  // d and dmin are adjacent halves
        const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d_dmin))),
                                    _mm_set1_ps(x.scales[i]));
        const __m128i mins_dot =
            _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scales_mins, 8)), pair_sums);
        acc_mins = _mm_fmadd_ps(_mm_shuffle_ps(d, d, 0x55), _mm_cvtepi32_ps(mins_dot), acc_mins);

        const __m512i scales = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(scales_mins));
        __m512i hbits;
        if constexpr (kFiveBit) {
            hbits = _mm512_broadcast_i64x4(load256(block.qh));
        }
        __m512i sumi0 = _mm512_setzero_si512();
        __m512i sumi1 = _mm512_setzero_si512();
        for (int half = 0; half < 2; ++half) {
            const __m512i q = _mm512_loadu_si512(block.qs + 64 * half);
            __m512i q_low = _mm512_and_si512(q, low_mask);
            __m512i q_high = _mm512_and_si512(_mm512_srli_epi16(q, 4), low_mask);
            if constexpr (kFiveBit) {
                // q | (moved & bit4) as one ternary-logic op.
                const __m512i moved_low = half == 0 ? _mm512_sllv_epi16(hbits, shift_left[0])
                                                    : _mm512_srlv_epi16(hbits, shift_right[0]);
                const __m512i moved_high = half == 0 ? _mm512_sllv_epi16(hbits, shift_left[1])
                                                     : _mm512_srlv_epi16(hbits, shift_right[1]);
                q_low = _mm512_ternarylogic_epi32(q_low, moved_low, bit4, 0xF8);
                q_high = _mm512_ternarylogic_epi32(q_high, moved_high, bit4, 0xF8);
            }
            const int8_t* xh = xq + 128 * half;
            const __m512i p_low = _mm512_maddubs_epi16(q_low, load_pair(xh, xh + 64));
            const __m512i p_high = _mm512_maddubs_epi16(q_high, load_pair(xh + 32, xh + 96));
            sumi0 = _mm512_dpwssd_epi32(sumi0, p_low,
                                        _mm512_permutexvar_epi16(index[2 * half], scales));
            sumi1 = _mm512_dpwssd_epi32(sumi1, p_high,
                                        _mm512_permutexvar_epi16(index[2 * half + 1], scales));
        }
        acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(d),
                              _mm512_cvtepi32_ps(_mm512_add_epi32(sumi0, sumi1)), acc);
    }
    return _mm512_reduce_add_ps(acc) - hsum128(acc_mins);
}

LLAMA_TARGET_AVX512_VNNI float dot_q6_k(const BlockQ6_K* row, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i high_mask = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < x.n / 256; ++i) {
        for (size_t offset = 0; offset < sizeof(BlockQ6_K); offset += 64) {
            prefetch_ahead(row + i, static_cast<int64_t>(offset));
        }
        const int8_t* xq = x.qs.data() + i * 256;
        {
            const BlockQ6_K& block = row[i];
            const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales));
            const __m256i offset =
                _mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8), load256(x.bsums.data() + i * 16));
            __m256i sumi0 = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
            __m256i sumi1 = _mm256_setzero_si256();

            for (int half = 0; half < 2; ++half) {
                const __m256i ql0 = load256(block.ql + 64 * half);
                const __m256i ql1 = load256(block.ql + 64 * half + 32);
                const __m256i qh = load256(block.qh + 32 * half);
                const __m256i q[4] = {
                    _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                                    _mm256_and_si256(_mm256_slli_epi16(qh, 4), high_mask)),
                    _mm256_or_si256(_mm256_and_si256(ql1, low_mask),
                                    _mm256_and_si256(_mm256_slli_epi16(qh, 2), high_mask)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                                    _mm256_and_si256(qh, high_mask)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
                                    _mm256_and_si256(_mm256_srli_epi16(qh, 2), high_mask)),
                };
                for (int k = 0; k < 4; ++k) {
                    const int g = 8 * half + 2 * k;
                    const __m128i pattern =
                        _mm_set_epi64x(0x0101010101010101LL * (g + 1), 0x0101010101010101LL * g);
                    const __m256i scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, pattern));
                    const __m256i p = _mm256_maddubs_epi16(q[k], load256(xq + 128 * half + 32 * k));
                    if (k % 2 == 0) {
                        sumi0 = _mm256_dpwssd_epi32(sumi0, p, scale);
                    } else {
                        sumi1 = _mm256_dpwssd_epi32(sumi1, p, scale);
                    }
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(block.d) * x.scales[i]),
                                  _mm256_cvtepi32_ps(_mm256_add_epi32(sumi0, sumi1)), acc);
        }
    }
    return hsum(acc);
}

}  // namespace

void quant_matvec_avx512(const QuantMatvecArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            rows_loop<BlockQ8_0, dot_32<BlockQ8_0>>(args);
            break;
        case DType::Q4_0:
            rows_loop<BlockQ4_0, dot_32<BlockQ4_0>>(args);
            break;
        case DType::Q4_K:
            rows_loop<BlockQ4_K, dot_q45_k<false, BlockQ4_K>>(args);
            break;
        case DType::Q5_K:
            rows_loop<BlockQ5_K, dot_q45_k<true, BlockQ5_K>>(args);
            break;
        case DType::Q6_K:
            rows_loop<BlockQ6_K, dot_q6_k>(args);
            break;
        default:
            quant_matvec_avx512_more_types(args);
            break;
    }
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void quant_matvec_avx512(const QuantMatvecArgs& args) { quant_matvec_scalar(args); }
}  // namespace llama::kernels::detail

#endif
