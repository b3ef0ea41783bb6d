// AVX2 matrix-vector products for Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q2_K and Q3_K (the AVX-512
// path runs these too: their inner loops are byte shuffles and VPMADDUBSW, which AVX-512 would
// only widen). Compiled for AVX2 with target attributes whatever the build flags, and only called
// when the CPU has AVX2, FMA, F16C.
//
// Each computes exactly the integer sums of the scalar path (quant_scalar.cpp): unsigned codes
// times signed activations through VPMADDUBSW (every pair below 32767: 31*127*2 for 5-bit codes),
// block offsets through the activation bias or the 16-value sums; IQ4's signed grid values
// (|v| <= 127) go through the sign trick, |v| * sign(x, v), as Q8_0 does.

#include <cstdint>
#include <cstring>

#include "kernels/cpu_features.h"
#include "kernels/prefetch.h"
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

// Software prefetch as the other decode kernels do it (prefetch.h; the hardware prefetcher alone
// leaves the loops waiting): one line per 64 bytes of 32-value blocks, every line of a
// super-block.

LLAMA_TARGET_AVX2 inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// The 32 nibbles of a 16-byte block in element order: elements 0-15 (low nibbles) in the low
// 128-bit lane, 16-31 (high nibbles) in the high lane.
LLAMA_TARGET_AVX2 inline __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

// Bit j of the 32-bit little-endian qh as 0x10 in byte j (the fifth bit of Q5's code j).
LLAMA_TARGET_AVX2 inline __m256i fifth_bits(const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    // Byte j takes byte j/8 of bits, then tests its bit j%8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0));
    const __m256i mask = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Sum of the 32 products of unsigned codes q with signed activations x, as 8 int32 lanes.
LLAMA_TARGET_AVX2 inline __m256i dot_u8_i8(__m256i q, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1));
}

// The IQ4 grid in both 128-bit lanes, for VPSHUFB lookups.
LLAMA_TARGET_AVX2 inline __m256i iq4_grid() {
    const __m128i grid = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues));
    return _mm256_set_m128i(grid, grid);
}

// Signed values v times signed x: |v| * sign(x, v), 8 int32 lanes (v never -128).
LLAMA_TARGET_AVX2 inline __m256i dot_i8_i8(__m256i v, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(x, v)),
                             _mm256_set1_epi16(1));
}

// Q4_1 / Q5_1: d * dot(q, x) + m * sum(x) per block, x's scale applied once per block.
template <class Block>
LLAMA_TARGET_AVX2 float dot_q_1(const Block* w, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    float acc_min = 0.0f;
    for (int64_t b = 0; b < x.n / 32; ++b) {
        if (b % 2 == 0) prefetch_stream(w + b);
        __m256i q = unpack_nibbles(w[b].qs);
        if constexpr (sizeof(Block) == sizeof(BlockQ5_1)) {
            q = _mm256_or_si256(q, fifth_bits(w[b].qh));
        }
        const __m256i dot = dot_u8_i8(q, load256(x.qs.data() + 32 * b));
        const float dx = x.scales[b];
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(f16(w[b].d) * dx), acc);
        acc_min += f16(w[b].m) * dx * static_cast<float>(x.bias[b]);
    }
    return hsum(acc) + acc_min;
}

// Q5_0: unsigned 5-bit codes, the -16 offset in the activation bias (-16 * block sum).
LLAMA_TARGET_AVX2 float dot_q5_0(const BlockQ5_0* w, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < x.n / 32; ++b) {
        if (b % 2 == 0) prefetch_stream(w + b);
        const __m256i q = _mm256_or_si256(unpack_nibbles(w[b].qs), fifth_bits(w[b].qh));
        __m256i dot = dot_u8_i8(q, load256(x.qs.data() + 32 * b));
        dot = _mm256_add_epi32(dot, _mm256_setr_epi32(x.bias[b], 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(f16(w[b].d) * x.scales[b]),
                              acc);
    }
    return hsum(acc);
}

LLAMA_TARGET_AVX2 float dot_iq4_nl(const BlockIQ4_NL* w, const QuantizedActivations& x) {
    const __m256i grid = iq4_grid();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < x.n / 32; ++b) {
        if (b % 2 == 0) prefetch_stream(w + b);
        const __m256i v = _mm256_shuffle_epi8(grid, unpack_nibbles(w[b].qs));
        const __m256i dot = dot_i8_i8(v, load256(x.qs.data() + 32 * b));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(f16(w[b].d) * x.scales[b]),
                              acc);
    }
    return hsum(acc);
}

// IQ4_XS: each sub-block's 16-bit products scaled by its signed 6-bit scale in the same VPMADDWD
// that widens them to 32 bits.
LLAMA_TARGET_AVX2 float dot_iq4_xs(const BlockIQ4_XS* w, const QuantizedActivations& x) {
    const __m256i grid = iq4_grid();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockIQ4_XS& block = w[i];
        prefetch_stream_lines(w + i, sizeof(*w));
        const int8_t* xq = x.qs.data() + 256 * i;
        __m256i sumi0 = _mm256_setzero_si256();
        __m256i sumi1 = _mm256_setzero_si256();
        for (int s = 0; s < 8; ++s) {
            const __m256i v = _mm256_shuffle_epi8(grid, unpack_nibbles(block.qs + 16 * s));
            const __m256i x8 = load256(xq + 32 * s);
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(x8, v));
            const __m256i scaled = _mm256_madd_epi16(
                p, _mm256_set1_epi16(static_cast<int16_t>(iq4xs_scale(block, s))));
            if (s % 2 == 0) {
                sumi0 = _mm256_add_epi32(sumi0, scaled);
            } else {
                sumi1 = _mm256_add_epi32(sumi1, scaled);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sumi0, sumi1)),
                              _mm256_set1_ps(f16(block.d) * x.scales[i]), acc);
    }
    return hsum(acc);
}

// VPSHUFB patterns picking int16 lane 2k of a 128-bit lane into every word of the low lane and
// lane 2k + 1 into every word of the high lane: the scales of sub-blocks 2k and 2k + 1 of a
// group of 8 held (as int16) in both lanes.
LLAMA_TARGET_AVX2 inline __m256i scale_pair_pattern(int k) {
    const auto low = static_cast<int16_t>(0x0100 + 0x0202 * (2 * k));
    const auto high = static_cast<int16_t>(0x0100 + 0x0202 * (2 * k + 1));
    return _mm256_set_m128i(_mm_set1_epi16(high), _mm_set1_epi16(low));
}

// Element 128h + 32k + l of a Q2_K/Q3_K super-block is bits 2k of qs[32h + l], so each shift of
// the 32 code bytes gives 32 consecutive elements: sub-blocks 8h + 2k (low lane) and 8h + 2k + 1
// (high lane). Sums sc_g * dot_g(code, x) over the 16 sub-blocks, the codes of group h, shift k
// coming from code(h, k) and the 16 int16 scales from scales16.
template <class Codes>
LLAMA_TARGET_AVX2 inline __m256i scaled_dots_2bit(const int8_t* xq, __m256i scales16, Codes code) {
    const __m256i scales[2] = {_mm256_permute2x128_si256(scales16, scales16, 0x00),
                               _mm256_permute2x128_si256(scales16, scales16, 0x11)};
    __m256i sumi0 = _mm256_setzero_si256();
    __m256i sumi1 = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
        for (int k = 0; k < 4; ++k) {
            const __m256i p = _mm256_maddubs_epi16(code(h, k), load256(xq + 128 * h + 32 * k));
            const __m256i scaled =
                _mm256_madd_epi16(p, _mm256_shuffle_epi8(scales[h], scale_pair_pattern(k)));
            if (k % 2 == 0) {
                sumi0 = _mm256_add_epi32(sumi0, scaled);
            } else {
                sumi1 = _mm256_add_epi32(sumi1, scaled);
            }
        }
    }
    return _mm256_add_epi32(sumi0, sumi1);
}

// Q2_K: d * sum_g sc_g * dot_g(q, x) - dmin * sum_g m_g * bsum_g, the 4-bit scales and mins
// unpacked and the mins applied to the 16-value sums with vector instructions.
LLAMA_TARGET_AVX2 float dot_q2_k(const BlockQ2_K* w, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i two_bits = _mm256_set1_epi8(3);
    const __m128i nibble = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockQ2_K& block = w[i];
        prefetch_stream_lines(w + i, sizeof(*w));
        const int8_t* xq = x.qs.data() + 256 * i;
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales));
        const __m256i mins16 =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), nibble));
        const __m256i mins = _mm256_madd_epi16(mins16, load256(x.bsums.data() + 16 * i));
        const __m256i scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, nibble));
        const __m256i codes[2] = {load256(block.qs), load256(block.qs + 32)};
        const __m256i sumi = scaled_dots_2bit(xq, scales16, [&](int h, int k) LLAMA_TARGET_AVX2 {
            return _mm256_and_si256(_mm256_srli_epi16(codes[h], 2 * k), two_bits);
        });
        const float dx = x.scales[i];
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(f16(block.d) * dx), acc);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(-f16(block.dmin) * dx), acc);
    }
    return hsum(acc);
}

// The 16 signed scales of a Q3_K block (q3k_scale) as int16.
LLAMA_TARGET_AVX2 inline __m256i q3k_scales16(const uint8_t* packed) {
    constexpr uint32_t kLow = 0x0F0F0F0F;
    constexpr uint32_t kHigh = 0x03030303;
    uint32_t u[3];
    std::memcpy(u, packed, 12);
    // Byte b of word j: scale 4j + b, low 4 bits from nibble j / 2 of byte b + 4 (j % 2), top 2
    // bits from bits 2j of byte 8 + b.
    const uint32_t s0 = (u[0] & kLow) | ((u[2] & kHigh) << 4);
    const uint32_t s1 = (u[1] & kLow) | (((u[2] >> 2) & kHigh) << 4);
    const uint32_t s2 = ((u[0] >> 4) & kLow) | (((u[2] >> 4) & kHigh) << 4);
    const uint32_t s3 = ((u[1] >> 4) & kLow) | (((u[2] >> 6) & kHigh) << 4);
    const __m128i scales8 = _mm_sub_epi8(_mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2),
                                                       static_cast<int>(s1), static_cast<int>(s0)),
                                         _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(scales8);
}

// Q3_K: the 3-bit code q = low 2 bits (as Q2_K) + 4 * bit (4h + k) of hmask[l], value q - 4: the
// -4 goes through the 16-value sums, sum_g sc_g * (dot_g(q, x) - 4 * bsum_g).
LLAMA_TARGET_AVX2 float dot_q3_k(const BlockQ3_K* w, const QuantizedActivations& x) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i two_bits = _mm256_set1_epi8(3);
    const __m256i bit2 = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < x.n / 256; ++i) {
        const BlockQ3_K& block = w[i];
        prefetch_stream_lines(w + i, sizeof(*w));
        const int8_t* xq = x.qs.data() + 256 * i;
        const __m256i scales16 = q3k_scales16(block.scales);
        const __m256i offset = _mm256_madd_epi16(scales16, load256(x.bsums.data() + 16 * i));
        const __m256i hmask = load256(block.hmask);
        const __m256i codes[2] = {load256(block.qs), load256(block.qs + 32)};
        const __m256i sumi = scaled_dots_2bit(xq, scales16, [&](int h, int k) LLAMA_TARGET_AVX2 {
            const __m256i low = _mm256_and_si256(_mm256_srli_epi16(codes[h], 2 * k), two_bits);
            // Bit 4h + k of each hmask byte moved to bit 2.
            const int bit = 4 * h + k;
            const __m256i moved =
                bit >= 2 ? _mm256_srli_epi16(hmask, bit - 2) : _mm256_slli_epi16(hmask, 2 - bit);
            return _mm256_or_si256(low, _mm256_and_si256(moved, bit2));
        });
        const __m256i total = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offset, 2));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_set1_ps(f16(block.d) * x.scales[i]),
                              acc);
    }
    return hsum(acc);
}

}  // namespace

void quant_matvec_avx2_more_types(const QuantMatvecArgs& args) {
    switch (args.dtype) {
        case DType::Q4_1:
            rows_loop<BlockQ4_1, dot_q_1<BlockQ4_1>>(args);
            break;
        case DType::Q5_1:
            rows_loop<BlockQ5_1, dot_q_1<BlockQ5_1>>(args);
            break;
        case DType::Q5_0:
            rows_loop<BlockQ5_0, dot_q5_0>(args);
            break;
        case DType::IQ4_NL:
            rows_loop<BlockIQ4_NL, dot_iq4_nl>(args);
            break;
        case DType::IQ4_XS:
            rows_loop<BlockIQ4_XS, dot_iq4_xs>(args);
            break;
        case DType::Q2_K:
            rows_loop<BlockQ2_K, dot_q2_k>(args);
            break;
        case DType::Q3_K:
            rows_loop<BlockQ3_K, dot_q3_k>(args);
            break;
        default:
            quant_matvec_scalar(args);
            break;
    }
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void quant_matvec_avx2_more_types(const QuantMatvecArgs& args) { quant_matvec_scalar(args); }
}  // namespace llama::kernels::detail

#endif
