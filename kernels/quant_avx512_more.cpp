// AVX-512 VNNI matrix-vector products for Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS. Q2_K and Q3_K run
// the AVX2 kernels of quant_avx2_more.cpp on this path too: 512-bit versions of them (VPSRLVW on
// the codes in both halves, VPERMW + VPDPWSSD for the scales) measured no faster on Zen 4 (4096 x
// 4096, one thread: Q2_K 391 vs 392 us, Q3_K 500 vs 486 us). Compiled for AVX-512 (F, BW, VL,
// VNNI) with target attributes whatever the build flags, and only called when the CPU has them.
//
// Each 32-value block is one VPDPBUSD of unsigned codes by signed activations, its accumulator
// starting at the activation bias that cancels the code offset (quant_impl.h): Q5_0's -16 and
// IQ4_NL's -128, IQ4_NL looking its codes up in the grid shifted by +128 so that they are
// unsigned. Q4_1 keeps its nibbles packed as quant_avx512.cpp's Q4_0 does (the high half of the
// register holds 16 * q); Q5_0/Q5_1 unpack theirs and add the fifth bit under a byte mask made
// straight from qh. Q4_1/Q5_1's min times the block sum is added in scalar code.

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu_features.h"
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

constexpr int64_t kPrefetchBytes = 2048;  // as quant_avx512.cpp

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

// The unsigned codes of one block as VPDPBUSD takes them. Q4_1: packed, the high half 16 * q.
template <class Block>
LLAMA_TARGET_AVX512_VNNI inline __m256i block_codes(const Block& block, __m256i grid) {
    if constexpr (std::is_same_v<Block, BlockQ4_1>) {
        return _mm256_and_si256(
            _mm256_broadcastsi128_si256(load128(block.qs)),
            _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(0xF0)), _mm_set1_epi8(0x0F)));
    } else if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
        return _mm256_shuffle_epi8(grid, unpack_nibbles(block.qs));
    } else {
        return add_fifth_bits(unpack_nibbles(block.qs), block.qh);
    }
}

template <class Block>
LLAMA_TARGET_AVX512_VNNI float dot_32_more(const Block* row, const QuantizedActivations& x) {
    const int64_t n_blocks = x.n / 32;
    const int8_t* xq = x.qs.data();
    const int32_t* bias = x.bias.data();
    const float* dx = x.scales.data();
    // IQ4_NL's grid + 128 (unsigned) in both 128-bit lanes.
    __m256i grid = _mm256_setzero_si256();
    if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
        const __m128i g =
            _mm_xor_si128(load128(kIq4nlValues), _mm_set1_epi8(static_cast<char>(0x80)));
        grid = _mm256_broadcastsi128_si256(g);
    }
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    float acc_min = 0.0f;
    auto block = [&](int64_t i, __m256& acc) LLAMA_TARGET_AVX512_VNNI {
        // With a min the bias is the plain block sum, which multiplies m below.
        const __m256i start = kHasMin<Block> ? _mm256_setzero_si256()
                                             : _mm256_castsi128_si256(_mm_cvtsi32_si128(bias[i]));
        const __m256i dot =
            _mm256_dpbusd_epi32(start, block_codes(row[i], grid), load256(xq + 32 * i));
        const __m256 scale = _mm256_mul_ps(
            _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(row[i].d))), _mm256_set1_ps(dx[i]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc);
        if constexpr (kHasMin<Block>) {
            acc_min += _cvtsh_ss(row[i].m) * dx[i] * static_cast<float>(bias[i]);
        }
    };
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        _mm_prefetch(reinterpret_cast<const char*>(row + b) + kPrefetchBytes, _MM_HINT_T0);
        block(b, acc0);
        block(b + 1, acc1);
    }
    if (b < n_blocks) block(b, acc0);
    const __m256 acc = _mm256_add_ps(acc0, acc1);
    const float high = hsum128(_mm256_extractf128_ps(acc, 1));
    const float high_scale = std::is_same_v<Block, BlockQ4_1> ? 1.0f / 16.0f : 1.0f;
    return hsum128(_mm256_castps256_ps128(acc)) + high * high_scale + acc_min;
}

// Software prefetch of the super-block kAhead blocks on, every cache line of it.
template <class Block>
inline void prefetch_super_block(const Block* block) {
    constexpr int kAhead = 16;  // as quant_avx2_more.cpp
    const char* p = reinterpret_cast<const char*>(block + kAhead);
    for (size_t offset = 0; offset < sizeof(Block); offset += 64) {
        _mm_prefetch(p + offset, _MM_HINT_T0);
    }
}

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
        prefetch_super_block(row + i);
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

void quant_matvec_avx512_more_types(const QuantMatvecArgs& args) {
    switch (args.dtype) {
        case DType::Q4_1:
            rows_loop<BlockQ4_1, dot_32_more<BlockQ4_1>>(args);
            break;
        case DType::Q5_0:
            rows_loop<BlockQ5_0, dot_32_more<BlockQ5_0>>(args);
            break;
        case DType::Q5_1:
            rows_loop<BlockQ5_1, dot_32_more<BlockQ5_1>>(args);
            break;
        case DType::IQ4_NL:
            rows_loop<BlockIQ4_NL, dot_32_more<BlockIQ4_NL>>(args);
            break;
        case DType::IQ4_XS:
            rows_loop<BlockIQ4_XS, dot_iq4_xs>(args);
            break;
        default:
            quant_matvec_avx2_more_types(args);
            break;
    }
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void quant_matvec_avx512_more_types(const QuantMatvecArgs& args) { quant_matvec_scalar(args); }
}  // namespace llama::kernels::detail

#endif
