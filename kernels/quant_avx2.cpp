// AVX2 quantized matrix-vector products (ggml's maddubs formulation). Compiled for AVX2 with
// target attributes whatever the build flags, and only called when the CPU has AVX2, FMA, F16C.
//
// VPMADDUBSW multiplies unsigned by signed bytes and adds pairs into saturating int16, so every
// product pair must stay below 32767: Q8_0 uses |w| * sign(x, w) (128*127*2), the 4-, 5- and
// 6-bit quants use their unsigned codes (at most 63*127*2) and correct the offset afterwards.

#include <cstdint>
#include <cstring>

#include "kernels/avx2_bits.h"
#include "kernels/cpu_features.h"
#include "kernels/prefetch.h"
#include "kernels/q6_k_unpack.h"
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

LLAMA_TARGET_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

LLAMA_TARGET_AVX2 inline float f16(uint16_t h) { return _cvtsh_ss(h); }

LLAMA_TARGET_AVX2 inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// Sum of pairs of int16 into int32.
LLAMA_TARGET_AVX2 inline __m256i pairs_to_i32(__m256i v) {
    return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

// dot(row, x[t]) for T tokens: each block's weights are loaded and unpacked once, and every token
// then runs exactly the one-token arithmetic (T = 1 is the decode kernel; see rows_loop_tokens).
template <int T>
LLAMA_TARGET_AVX2 void dot_q8_0(const BlockQ8_0* w, const QuantizedActivations* xs, float* out) {
    __m256 acc0[T];
    __m256 acc1[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    const int64_t n_blocks = xs[0].n / 32;
    int64_t b = 0;
    auto block = [&](int64_t i, __m256* acc) LLAMA_TARGET_AVX2 {
        const __m256i wv = load256(w[i].qs);
        const __m256i magnitude = _mm256_sign_epi8(wv, wv);
        const float dw = f16(w[i].d);
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
            const QuantizedActivations& x = xs[t];
            const __m256i xv = load256(x.qs.data() + i * 32);
            const __m256i p = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(xv, wv));
            const __m256 scale = _mm256_set1_ps(dw * x.scales[i]);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pairs_to_i32(p)), scale, acc[t]);
        }
    };
    for (; b + 2 <= n_blocks; b += 2) {
        prefetch_stream(w + b);
        block(b, acc0);
        block(b + 1, acc1);
    }
    if (b < n_blocks) block(b, acc0);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
}

// Q4_0, two blocks per 256-bit register: the 16 code bytes of blocks i and i+1 fill the two
// 128-bit halves, so one AND and one shift unpack 64 codes, two VPMADDUBSW multiply them with the
// matching halves of the activations (low nibbles with x[0..15] of each block, high ones with
// x[16..31]), and after VPMADDWD lanes 0-3 hold block i's partial sums and lanes 4-7 block
// i+1's. Each block's scale d_w * d_x then spans its four lanes. About 9 instructions per block
// where one block at a time took 15, which matters where 2 AVX2 cores cannot unpack 4-bit weights
// as fast as DRAM delivers them. T tokens share the unpacked codes (as dot_q8_0).
template <int T>
LLAMA_TARGET_AVX2 void dot_q4_0(const BlockQ4_0* row, const QuantizedActivations* xs, float* out) {
    const int64_t n_blocks = xs[0].n / 32;
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i spread = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0);  // [a a a a b b b b]
    __m256 acc[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= n_blocks; i += 2) {
        prefetch_stream(row + i);
        // Written per token in the one-token order; with the token loop unrolled the compiler
        // loads and unpacks the codes once for all T (as measured, keeping T = 1 as fast as the
        // one-token kernel was, where unpacking ahead of the loop cost 4%).
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
            const QuantizedActivations& x = xs[t];
            const int8_t* x0 = x.qs.data() + 32 * i;
            const __m256i x_low = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(x0 + 32),
                                                      reinterpret_cast<const __m128i*>(x0));
            const __m256i x_high = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(x0 + 48),
                                                       reinterpret_cast<const __m128i*>(x0 + 16));
            // The activation bias (-8 * block sum) in one lane of each block's four.
            const __m256i bias = _mm256_set_epi32(0, 0, 0, x.bias[i + 1], 0, 0, 0, x.bias[i]);
            const __m128 dx = _mm_castsi128_ps(_mm_loadl_epi64(
                reinterpret_cast<const __m128i*>(x.scales.data() + i)));  // [dx_i, dx_i+1]
            const BlockQ4_0& a = row[i];
            const BlockQ4_0& b = row[i + 1];
            const __m256i q = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b.qs),
                                                  reinterpret_cast<const __m128i*>(a.qs));
            const __m256i p_low = _mm256_maddubs_epi16(_mm256_and_si256(q, low_mask), x_low);
            const __m256i p_high =
                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask), x_high);
            const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(
                static_cast<int>(static_cast<uint32_t>(a.d) | static_cast<uint32_t>(b.d) << 16)));
            const __m256i dot =
                _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(p_low, p_high), ones), bias);
            const __m256 scale =
                _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(dw, dx)), spread);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
        const QuantizedActivations& x = xs[t];
        float total = hsum(acc[t]);
        if (i < n_blocks) {  // an odd last block
            const BlockQ4_0& a = row[i];
            const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.qs));
            const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs),
                                               low_mask);  // elements 0..15, 16..31
            const __m256i p = _mm256_maddubs_epi16(q, load256(x.qs.data() + 32 * i));
            const __m256i sums = pairs_to_i32(p);
            const __m128i s4 =
                _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
            const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
            const int32_t dot =
                _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1))) + x.bias[i];
            total += f16(a.d) * x.scales[i] * static_cast<float>(dot);
        }
        out[t] = total;
    }
}

// Tokens sharing each unpacked block (as in quant_avx512.cpp).
constexpr size_t kDotTokens = 4;
constexpr std::array<MultiTokenDot<BlockQ8_0>, kDotTokens> kDotQ8_0 = {dot_q8_0<1>, dot_q8_0<2>,
                                                                       dot_q8_0<3>, dot_q8_0<4>};
constexpr std::array<MultiTokenDot<BlockQ4_0>, kDotTokens> kDotQ4_0 = {dot_q4_0<1>, dot_q4_0<2>,
                                                                       dot_q4_0<3>, dot_q4_0<4>};

// The 8 scales and 8 mins of a Q4_K/Q5_K block as bytes: [sc0..sc7, m0..m7] (ggml's kmask trick,
// equivalent to unpack_q4k_scale_min for j = 0..7).
inline void unpack_scales_mins(const uint8_t* packed, uint8_t out[16]) {
    constexpr uint32_t kmask1 = 0x3f3f3f3f;
    constexpr uint32_t kmask2 = 0x0f0f0f0f;
    constexpr uint32_t kmask3 = 0x03030303;
    uint32_t u[4];
    std::memcpy(u, packed, 12);
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t mins_low = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = mins_low;
    u[0] &= kmask1;
    std::memcpy(out, u, 16);
}

// int16 vector holding scale j in all 16 lanes, from the 8 scales widened to int16 in both
// 128-bit lanes of `scales16` (one VPSHUFB; picking in 128 bits and inserting took two).
LLAMA_TARGET_AVX2 inline __m256i broadcast_scale(__m256i scales16, int j) {
    return _mm256_shuffle_epi8(scales16,
                               _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * j)));
}

template <bool kFiveBit, class Block>
LLAMA_TARGET_AVX2 float dot_q45_k(const Block* w, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    float acc_mins = 0.0f;
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const Block& block = w[i];
        prefetch_stream_lines(w + i, sizeof(*w));
        const int8_t* xq = x.qs.data() + i * 256;
        alignas(16) uint8_t scales_mins[16];
        unpack_scales_mins(block.scales, scales_mins);
        const __m128i sm = _mm_load_si128(reinterpret_cast<const __m128i*>(scales_mins));
        const __m256i scales16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));

        // Mins: sum_j m_j * (sum of x over sub-block j) from the 16-value partial sums.
        const __m256i bsums = load256(x.bsums.data() + i * 16);
        const __m128i pair_sums =
            _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        const __m128i mins_dot = _mm_madd_epi16(mins16, pair_sums);
        __m128i m = _mm_add_epi32(mins_dot, _mm_unpackhi_epi64(mins_dot, mins_dot));
        m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 1));
        const int32_t mins_sum = _mm_cvtsi128_si32(m);

        __m256i hbits;
        if constexpr (kFiveBit) hbits = load256(block.qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i q = load256(block.qs + 32 * j);
            __m256i q_low = _mm256_and_si256(q, low_mask);
            __m256i q_high = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
            if constexpr (kFiveBit) {
                // qh bit 2j (2j + 1) of each byte shifted straight to bit 4 and masked: one shift
                // and one AND where shifting down to bit 0, masking and shifting up took three.
                q_low = _mm256_or_si256(q_low, _mm256_and_si256(bit_to_4(hbits, 2 * j), bit4));
                q_high =
                    _mm256_or_si256(q_high, _mm256_and_si256(bit_to_4(hbits, 2 * j + 1), bit4));
            }
            const __m256i p_low = _mm256_maddubs_epi16(q_low, load256(xq + 64 * j));
            const __m256i p_high = _mm256_maddubs_epi16(q_high, load256(xq + 64 * j + 32));
            sumi =
                _mm256_add_epi32(sumi, _mm256_madd_epi16(p_low, broadcast_scale(scales16, 2 * j)));
            sumi = _mm256_add_epi32(
                sumi, _mm256_madd_epi16(p_high, broadcast_scale(scales16, 2 * j + 1)));
        }
        const float dx = x.scales[i];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(block.d) * dx), _mm256_cvtepi32_ps(sumi), acc);
        acc_mins += f16(block.dmin) * dx * static_cast<float>(mins_sum);
    }
    return hsum(acc) - acc_mins;
}

LLAMA_TARGET_AVX2 float dot_q6_k(const BlockQ6_K* w, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockQ6_K& block = w[i];
        prefetch_stream_lines(w + i, sizeof(*w));
        const int8_t* xq = x.qs.data() + i * 256;
        const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales));

        // The -32 offset: 32 * sum_g sc_g * (sum of x over sub-block g).
        const __m256i offset =
            _mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8), load256(x.bsums.data() + i * 16));
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));

        for (int half = 0; half < 2; ++half) {
            __m256i q[4];
            unpack_q6_k_half(block, half, q);
            for (int k = 0; k < 4; ++k) {
                const int g = 8 * half + 2 * k;  // sub-blocks g and g+1 (16 values each)
                const __m128i pattern =
                    _mm_set_epi64x(0x0101010101010101LL * (g + 1), 0x0101010101010101LL * g);
                const __m256i scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, pattern));
                const __m256i p = _mm256_maddubs_epi16(q[k], load256(xq + 128 * half + 32 * k));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(block.d) * x.scales[i]), _mm256_cvtepi32_ps(sumi),
                              acc);
    }
    return hsum(acc);
}

}  // namespace

void quant_matvec_avx2(const QuantMatvecArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            rows_loop_tokens(args, kDotQ8_0);
            break;
        case DType::Q4_0:
            rows_loop_tokens(args, kDotQ4_0);
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
            quant_matvec_avx2_more_types(args);
            break;
    }
}

// Bit-identical to the portable quantize_block for finite input, as the AVX-512 one: the same
// max, the same 127/amax, the same products, VCVTPS2DQ rounding to nearest even, and the values
// (within +-127) narrowed by saturating packs. count is a multiple of 32.
LLAMA_TARGET_AVX2 float quantize_block_avx2(const float* x, int64_t count, int8_t* q) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    for (int64_t j = 0; j < count; j += 8) {
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j)));
    }
    __m128 max4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
    const float max = _mm_cvtss_f32(_mm_max_ss(max4, _mm_movehdup_ps(max4)));
    const __m256 inverse = _mm256_set1_ps(activation_inverse(max));
    // packs interleave 128-bit lanes: bytes come out as dwords 0 2 4 6 1 3 5 7 of 4-byte groups.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t j = 0; j < count; j += 32) {
        __m256i r[4];
        for (int i = 0; i < 4; ++i) {
            r[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * i), inverse));
        }
        const __m256i bytes =
            _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j),
                            _mm256_permutevar8x32_epi32(bytes, order));
    }
    return max / 127.0f;
}

}  // namespace llama::kernels::detail

#else  // not x86: never selected (quant_path_supported is false)

namespace llama::kernels::detail {
void quant_matvec_avx2(const QuantMatvecArgs& args) { quant_matvec_scalar(args); }
float quantize_block_avx2(const float*, int64_t, int8_t*) { return 0.0f; }
}  // namespace llama::kernels::detail

#endif
