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
//
// Q4_1, Q5_0, Q5_1 and IQ4_NL: each 32-value block is one VPDPBUSD of unsigned codes by signed
// activations, its accumulator starting at the activation bias that cancels the code offset:
// Q5_0's -16 and IQ4_NL's -128, IQ4_NL looking its codes up in the grid shifted by +128 so that
// they are unsigned. Q4_1 keeps its nibbles packed as Q4_0 does; Q5_0/Q5_1 unpack theirs and add
// the fifth bit under a byte mask made straight from qh; Q4_1/Q5_1's min times the block sum is
// added in scalar code. Q2_K and Q3_K run the AVX2 kernels of quant_avx2_more.cpp: 512-bit
// versions of them (VPSRLVW on the codes in both halves, VPERMW + VPDPWSSD for the scales)
// measured no faster on Zen 4 (4096 x 4096, one thread: Q2_K 391 vs 392 us, Q3_K 500 vs 486 us).

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu_features.h"
#include "kernels/prefetch.h"
#include "kernels/q6_k_unpack.h"
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
// Software prefetch (prefetch.h): on Zen 4 the hardware prefetcher alone left the loops waiting
// on DRAM (measured 20-30% slower; 1 KB ahead was ~10% slower than 2-4 KB).

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

LLAMA_TARGET_AVX512_VNNI inline __m128i load128(const void* p) {
    return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

LLAMA_TARGET_AVX512_VNNI inline __m256i bias_vector(int32_t bias) {
    return _mm256_castsi128_si256(_mm_cvtsi32_si128(bias));
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
        prefetch_stream_lines(row + i, sizeof(Block));
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

// Q6_K with T tokens: the weights are unpacked once per block for all of them; each token's
// arithmetic is that of one token alone (its own sums and accumulator, in the same order), so its
// result does not depend on the batch. A llama-server step of 8 slots ran the output matrix (Q6_K
// in llama.cpp's Q4_0 and Q4_K_M files) one token at a time: 7% of the step.
template <int T>
LLAMA_TARGET_AVX512_VNNI void dot_q6_k_tokens(const BlockQ6_K* row, const QuantizedActivations* x,
                                              float* out) {
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < x[0].n / 256; ++i) {
        prefetch_stream_lines(row + i, sizeof(BlockQ6_K));
        const BlockQ6_K& block = row[i];
        const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales));
        const __m256i scales16 = _mm256_cvtepi8_epi16(scales8);
        __m256i sumi0[T];
        __m256i sumi1[T];
        for (int t = 0; t < T; ++t) {
            const __m256i offset = _mm256_madd_epi16(scales16, load256(x[t].bsums.data() + i * 16));
            sumi0[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
            sumi1[t] = _mm256_setzero_si256();
        }
        for (int half = 0; half < 2; ++half) {
            __m256i q[4];
            unpack_q6_k_half(block, half, q);
            for (int k = 0; k < 4; ++k) {
                const int g = 8 * half + 2 * k;
                const __m128i pattern =
                    _mm_set_epi64x(0x0101010101010101LL * (g + 1), 0x0101010101010101LL * g);
                const __m256i scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, pattern));
                for (int t = 0; t < T; ++t) {
                    const int8_t* xq = x[t].qs.data() + i * 256;
                    const __m256i p = _mm256_maddubs_epi16(q[k], load256(xq + 128 * half + 32 * k));
                    if (k % 2 == 0) {
                        sumi0[t] = _mm256_dpwssd_epi32(sumi0[t], p, scale);
                    } else {
                        sumi1[t] = _mm256_dpwssd_epi32(sumi1[t], p, scale);
                    }
                }
            }
        }
        const float d = _cvtsh_ss(block.d);
        for (int t = 0; t < T; ++t) {
            acc[t] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * x[t].scales[i]),
                                _mm256_cvtepi32_ps(_mm256_add_epi32(sumi0[t], sumi1[t])), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) out[t] = hsum(acc[t]);
}

// The 32 codes of a block in element order: low nibbles (elements 0-15) in the low 128 bits,
// high nibbles (16-31) in the high 128 bits.
LLAMA_TARGET_AVX512_VNNI inline __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i q = load128(qs);
    return _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1),
        _mm256_set1_epi8(0x0F));
}

// Codes q (< 16) with 16 added where bit j of the little-endian qh is set: Q5's fifth bit.
LLAMA_TARGET_AVX512_VNNI inline __m256i add_fifth_bits(__m256i q, const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    return _mm256_mask_add_epi8(q, _cvtu32_mask32(bits), q, _mm256_set1_epi8(0x10));
}

template <class Block>
constexpr bool kHasMin = std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>;
// Q4_0/Q4_1 keep their nibbles packed: the high half of the register holds 16 * q.
template <class Block>
constexpr bool kPackedNibbles =
    std::is_same_v<Block, BlockQ4_0> || std::is_same_v<Block, BlockQ4_1>;

// The per-row constant block_codes needs: Q4_0/Q4_1 the nibble masks 0x0F / 0xF0 of the two
// halves, Q8_0 the flip to w + 128, IQ4_NL its grid + 128 in both 128-bit lanes.
template <class Block>
LLAMA_TARGET_AVX512_VNNI inline __m256i codes_constant() {
    if constexpr (kPackedNibbles<Block>) {
        return _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(0xF0)), _mm_set1_epi8(0x0F));
    } else if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
        return _mm256_broadcastsi128_si256(
            _mm_xor_si128(load128(kIq4nlValues), _mm_set1_epi8(static_cast<char>(0x80))));
    } else {
        return _mm256_set1_epi8(static_cast<char>(0x80));
    }
}

// The unsigned codes of one block as VPDPBUSD takes them.
template <class Block>
LLAMA_TARGET_AVX512_VNNI inline __m256i block_codes(const Block& block, __m256i constant) {
    if constexpr (kPackedNibbles<Block>) {
        return _mm256_and_si256(_mm256_broadcastsi128_si256(load128(block.qs)), constant);
    } else if constexpr (std::is_same_v<Block, BlockQ8_0>) {
        return _mm256_xor_si256(load256(block.qs), constant);
    } else if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
        return _mm256_shuffle_epi8(constant, unpack_nibbles(block.qs));
    } else {  // Q5_0, Q5_1
        return add_fifth_bits(unpack_nibbles(block.qs), block.qh);
    }
}

// The 32-value block types: dot(row, x[t]) for T tokens. Each block's codes and weight scale are
// unpacked once; every token then runs exactly the one-token arithmetic (T = 1 is the decode
// kernel; see rows_loop_tokens).
template <class Block, int T>
LLAMA_TARGET_AVX512_VNNI void dot_32(const Block* row, const QuantizedActivations* xs, float* out) {
    const int64_t n_blocks = xs[0].n / 32;
    const __m256i constant = codes_constant<Block>();
    __m256 acc0[T];
    __m256 acc1[T];
    float acc_min[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
        acc0[t] = acc1[t] = _mm256_setzero_ps();
        acc_min[t] = 0.0f;
    }
    auto block = [&](int64_t i, __m256* acc) LLAMA_TARGET_AVX512_VNNI {
        const __m256i codes = block_codes(row[i], constant);
        const __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(row[i].d)));
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
            const QuantizedActivations& x = xs[t];
            // With a min the bias is the plain block sum, which multiplies m below.
            const __m256i start = kHasMin<Block> ? _mm256_setzero_si256() : bias_vector(x.bias[i]);
            const __m256i dot = _mm256_dpbusd_epi32(start, codes, load256(x.qs.data() + 32 * i));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(x.scales[i]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[t]);
            if constexpr (kHasMin<Block>) {
                acc_min[t] += _cvtsh_ss(row[i].m) * x.scales[i] * static_cast<float>(x.bias[i]);
            }
        }
    };
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        prefetch_stream(row + b);
        block(b, acc0);
        block(b + 1, acc1);
    }
    if (b < n_blocks) block(b, acc0);
    const float high_scale = kPackedNibbles<Block> ? 1.0f / 16.0f : 1.0f;
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
        const __m256 acc = _mm256_add_ps(acc0[t], acc1[t]);
        out[t] = hsum128(_mm256_castps256_ps128(acc)) +
                 hsum128(_mm256_extractf128_ps(acc, 1)) * high_scale + acc_min[t];
    }
}

// Up to this many tokens share each unpacked block (more only adds accumulators). llama-server,
// 8 slots in reproducible mode, 7B Q4_0: 12.5 t/s with 4, 11.7 with 8, 9.7 one token at a time.
constexpr size_t kDotTokens = 4;
template <class Block>
constexpr std::array<MultiTokenDot<Block>, kDotTokens> kDot32 = {
    dot_32<Block, 1>, dot_32<Block, 2>, dot_32<Block, 3>, dot_32<Block, 4>};
constexpr std::array<MultiTokenDot<BlockQ6_K>, kDotTokens> kDotQ6K = {
    dot_q6_k_tokens<1>, dot_q6_k_tokens<2>, dot_q6_k_tokens<3>, dot_q6_k_tokens<4>};

// The 8 signed sub-block scales (ls - 32) of an IQ4_XS block as int16.
LLAMA_TARGET_AVX512_VNNI inline __m128i iq4xs_scales16(const BlockIQ4_XS& block) {
    uint32_t low_bits;
    std::memcpy(&low_bits, block.scales_l, 4);
    const __m128i packed = _mm_cvtsi32_si128(static_cast<int>(low_bits));
    const __m128i nibble = _mm_set1_epi8(0x0F);
    // Nibble j (low nibble of byte j / 2 first) to int16 lane j.
    const __m128i low = _mm_cvtepu8_epi16(_mm_unpacklo_epi8(
        _mm_and_si128(packed, nibble), _mm_and_si128(_mm_srli_epi16(packed, 4), nibble)));
    // Bits 2j, 2j + 1 of scales_h to bits 4, 5 of lane j.
    const __m128i high = _mm_slli_epi16(
        _mm_and_si128(_mm_srlv_epi16(_mm_set1_epi16(static_cast<int16_t>(block.scales_h)),
                                     _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14)),
                      _mm_set1_epi16(3)),
        4);
    return _mm_sub_epi16(_mm_or_si128(low, high), _mm_set1_epi16(32));
}

// IQ4_XS, four sub-blocks per 512-bit register: 64 bytes of qs give the low nibbles (elements
// 0-15 of four sub-blocks) and the high nibbles (16-31), each paired with the matching halves of
// x gathered by VPERMT2Q, looked up in the grid + 128 and summed by VPDPBUSD, so that 128-bit lane
// k holds sub-block k's sums. Scaled by the sub-block scales (VPMULLD); the +128 comes off through
// the 16-value sums: -128 * sum_s ls_s * sum_s(x).
LLAMA_TARGET_AVX512_VNNI float dot_iq4_xs(const BlockIQ4_XS* row, const QuantizedActivations& x) {
    const __m512i grid = _mm512_broadcast_i32x4(
        _mm_xor_si128(load128(kIq4nlValues), _mm_set1_epi8(static_cast<char>(0x80))));
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    const __m512i low_halves = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i high_halves = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    const __m512i lane_scale[2] = {
        _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
        _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4)};
    const __m256i pair_scale = _mm256_setr_epi16(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockIQ4_XS& block = row[i];
        prefetch_stream_lines(row + i, sizeof(block));
        const int8_t* xq = x.qs.data() + 256 * i;
        const __m128i ls16 = iq4xs_scales16(block);
        const __m512i ls32 = _mm512_castsi256_si512(_mm256_cvtepi16_epi32(ls16));
        __m512i sum = _mm512_setzero_si512();
        for (int j = 0; j < 2; ++j) {
            const __m512i q = _mm512_loadu_si512(block.qs + 64 * j);
            const __m512i x0 = _mm512_loadu_si512(xq + 128 * j);
            const __m512i x1 = _mm512_loadu_si512(xq + 128 * j + 64);
            const __m512i v_low = _mm512_shuffle_epi8(grid, _mm512_and_si512(q, nibble));
            const __m512i v_high =
                _mm512_shuffle_epi8(grid, _mm512_and_si512(_mm512_srli_epi16(q, 4), nibble));
            __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v_low,
                                              _mm512_permutex2var_epi64(x0, low_halves, x1));
            dot = _mm512_dpbusd_epi32(dot, v_high, _mm512_permutex2var_epi64(x0, high_halves, x1));
            sum = _mm512_add_epi32(
                sum, _mm512_mullo_epi32(dot, _mm512_permutexvar_epi32(lane_scale[j], ls32)));
        }
        const __m256i offset =
            _mm256_madd_epi16(_mm256_permutexvar_epi16(pair_scale, _mm256_castsi128_si256(ls16)),
                              load256(x.bsums.data() + 16 * i));
        sum = _mm512_sub_epi32(sum, _mm512_zextsi256_si512(_mm256_slli_epi32(offset, 7)));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum),
                              _mm512_set1_ps(_cvtsh_ss(block.d) * x.scales[i]), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

}  // namespace

void quant_matvec_avx512(const QuantMatvecArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            rows_loop_tokens(args, kDot32<BlockQ8_0>);
            break;
        case DType::Q4_0:
            rows_loop_tokens(args, kDot32<BlockQ4_0>);
            break;
        case DType::Q4_K:
            rows_loop<BlockQ4_K, dot_q45_k<false, BlockQ4_K>>(args);
            break;
        case DType::Q5_K:
            rows_loop<BlockQ5_K, dot_q45_k<true, BlockQ5_K>>(args);
            break;
        case DType::Q6_K:
            rows_loop_tokens(args, kDotQ6K);
            break;
        case DType::Q4_1:
            rows_loop_tokens(args, kDot32<BlockQ4_1>);
            break;
        case DType::Q5_0:
            rows_loop_tokens(args, kDot32<BlockQ5_0>);
            break;
        case DType::Q5_1:
            rows_loop_tokens(args, kDot32<BlockQ5_1>);
            break;
        case DType::IQ4_NL:
            rows_loop_tokens(args, kDot32<BlockIQ4_NL>);
            break;
        case DType::IQ4_XS:
            rows_loop<BlockIQ4_XS, dot_iq4_xs>(args);
            break;
        default:  // Q2_K, Q3_K
            quant_matvec_avx2_more_types(args);
            break;
    }
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void quant_matvec_avx512(const QuantMatvecArgs& args) { quant_matvec_scalar(args); }
}  // namespace llama::kernels::detail

#endif
