// Packing of activations and weights into the bf16 tile layouts of gemm_amx.h. The AVX-512 paths
// use the same integer round-to-nearest-even as f32_to_bf16 (not VCVTNEPS2BF16, which flushes
// subnormals), so both paths give bit-identical packs and the tests can compare them exactly; only
// values that can never be subnormal floats (F16 weights, dequantized weights) are rounded with
// VCVTNE2PS2BF16 where the CPU has AVX512-BF16. Row-interleaved weights are packed from their
// groups directly.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "kernels/avx512_float.h"
#include "kernels/cpu_features.h"
#include "kernels/fp16_scalar.h"
#include "kernels/gemm_amx.h"
#include "kernels/kernels.h"
#include "kernels/q4_k_scales_r16.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels {

namespace {

using detail::load_f16x16;

constexpr int64_t kBlockValues = kAmxTokenBlock * kAmxColumnStep;  // 512 bf16 = 1 KB

int64_t column_steps(int64_t cols) { return (cols + kAmxColumnStep - 1) / kAmxColumnStep; }

// Throws unless a buffer holds `need` values: "function: what holds ... values, need ...".
void check_size(const char* function, const char* what, size_t have, int64_t need) {
    if (static_cast<int64_t>(have) < need) {
        throw Error(std::string(function) + ": " + what + " holds " + std::to_string(have) +
                    " values, need " + std::to_string(need));
    }
}

// Column `col` of a row of one of the plain float types, rounded to bf16.
uint16_t weight_bf16(DType type, const std::byte* row, int64_t col) {
    if (type == DType::F32) {
        float v;
        std::memcpy(&v, row + col * 4, 4);
        return detail::f32_to_bf16_scalar(v);
    }
    uint16_t h;
    std::memcpy(&h, row + col * 2, 2);
    return type == DType::F16 ? detail::f32_to_bf16_scalar(detail::f16_to_f32_scalar(h)) : h;
}

// Writes one group of up to 16 weight rows (`count` valid rows of a plain float type at
// row_ptr) into its run of ksteps VNNI blocks.
void pack_weight_group_scalar(DType type, const std::byte* const* row_ptr, int64_t count,
                              int64_t cols, uint16_t* out) {
    const int64_t ksteps = column_steps(cols);
    for (int64_t s = 0; s < ksteps; ++s) {
        uint16_t* block = out + s * kBlockValues;
        for (int64_t pair = 0; pair < kAmxColumnStep / 2; ++pair) {
            for (int64_t n = 0; n < kAmxRowBlock; ++n) {
                for (int64_t j = 0; j < 2; ++j) {
                    const int64_t col = s * kAmxColumnStep + 2 * pair + j;
                    const bool valid = n < count && col < cols;
                    block[(pair * kAmxRowBlock + n) * 2 + j] =
                        valid ? weight_bf16(type, row_ptr[n], col) : 0;
                }
            }
        }
    }
}

#if defined(__x86_64__)
#define LLAMA_PACK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
// Packers that round with VCVTNE2PS2BF16 where the CPU has AVX512-BF16.
#define LLAMA_PACK_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// 16 floats rounded to bf16 (to nearest even; NaNs kept quiet), each in the high half of its lane.
LLAMA_PACK_TARGET inline __m512i rounded_bf16_bits(__m512 v) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
    const __m512i inf_bits = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet_bit = _mm512_set1_epi32(0x00400000);
    const __m512i round_bias = _mm512_set1_epi32(0x7fff);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
    const __m512i sum = _mm512_add_epi32(_mm512_add_epi32(bits, round_bias), odd);
    const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, abs_mask), inf_bits);
    return _mm512_mask_blend_epi32(is_nan, sum, _mm512_or_si512(bits, quiet_bit));
}

// Rounds 32 floats (lo holds columns 0-15, hi 16-31) to bf16 in column order.
LLAMA_PACK_TARGET inline __m512i round_to_bf16(__m512 lo, __m512 hi) {
    // The high 16 bits of every 32-bit lane: odd 16-bit words, lo's first.
    const __m512i odd_words =
        _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27,
                         25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    return _mm512_permutex2var_epi16(rounded_bf16_bits(lo), odd_words, rounded_bf16_bits(hi));
}

// Lane n = bf16(even[n]) | bf16(odd[n]) << 16: one row of a VNNI block, the pair of columns of 16
// weight rows.
LLAMA_PACK_TARGET inline __m512i bf16_pairs(__m512 even, __m512 odd) {
    return _mm512_or_si512(_mm512_srli_epi32(rounded_bf16_bits(even), 16),
                           _mm512_and_si512(rounded_bf16_bits(odd),
                                            _mm512_set1_epi32(static_cast<int32_t>(0xffff0000))));
}

// Columns [col, col + 32) that are inside the row.
inline __mmask32 column_mask(int64_t col, int64_t cols) {
    const int64_t left = std::min<int64_t>(cols - col, 32);
    return left >= 32 ? ~__mmask32{0} : ((__mmask32{1} << left) - 1);
}

// Loads columns [col, col + 32) of a row as bf16, zero past `cols`.
LLAMA_PACK_TARGET inline __m512i load_bf16x32(DType type, const std::byte* row, int64_t col,
                                              int64_t cols) {
    const __mmask32 mask = column_mask(col, cols);
    switch (type) {
        case DType::F32: {
            const float* src = reinterpret_cast<const float*>(row) + col;
            const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), src);
            const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask >> 16), src + 16);
            return round_to_bf16(lo, hi);
        }
        case DType::F16: {
            const uint16_t* src = reinterpret_cast<const uint16_t*>(row) + col;
            const __m512i h = _mm512_maskz_loadu_epi16(mask, src);
            const __m512 lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
            const __m512 hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
            return round_to_bf16(lo, hi);
        }
        default:
            return _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(row) + col);
    }
}

// Within every 128-bit lane, a 4 x 4 transpose of 32-bit elements across v[0..3]: element k of
// a lane of v[j] goes to element j of that lane of v[k].
LLAMA_PACK_TARGET inline void transpose_4x4_in_lanes(__m512i v[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]);
    const __m512i t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]);
    const __m512i t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    v[0] = _mm512_unpacklo_epi64(t0, t2);
    v[1] = _mm512_unpackhi_epi64(t0, t2);
    v[2] = _mm512_unpacklo_epi64(t1, t3);
    v[3] = _mm512_unpackhi_epi64(t1, t3);
}

// In-register transpose of a 16x16 matrix of 32-bit elements.
LLAMA_PACK_TARGET inline void transpose_16x16_epi32(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 4) transpose_4x4_in_lanes(r + i);
    // Each 128-bit lane l of r[4g + j] now holds elements (rows 4g..4g+3, columns 4l + j').
    // Gather lanes across groups: first pair up lanes (0,1)/(2,3) of groups g and g+1, then ...
    for (int j = 0; j < 4; ++j) {
        t[j] = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x88);            // lanes 0,2 of r0 | 0,2 of r4
        t[4 + j] = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xdd);        // lanes 1,3
        t[8 + j] = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x88);   // lanes 0,2
        t[12 + j] = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xdd);  // lanes 1,3
    }
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0xdd);
        r[4 + j] = _mm512_shuffle_i32x4(t[4 + j], t[12 + j], 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(t[4 + j], t[12 + j], 0xdd);
    }
}

LLAMA_PACK_TARGET void pack_weight_group_avx512(DType type, const std::byte* const* row_ptr,
                                                int64_t count, int64_t cols, uint16_t* out) {
    const int64_t ksteps = column_steps(cols);
    for (int64_t s = 0; s < ksteps; ++s) {
        __m512i r[16];
        for (int64_t n = 0; n < 16; ++n) {
            r[n] = n < count ? load_bf16x32(type, row_ptr[n], s * kAmxColumnStep, cols)
                             : _mm512_setzero_si512();
        }
        transpose_16x16_epi32(r);
        uint16_t* block = out + s * kBlockValues;
        for (int64_t pair = 0; pair < 16; ++pair) {
            _mm512_storeu_si512(block + pair * 32, r[pair]);
        }
    }
}

// Within each 256-bit half of v[0..7], an 8 x 8 transpose of 32-bit elements: element j of half
// h of v[i] goes to element i of half h of v[j].
LLAMA_PACK_TARGET inline void transpose_8x8_epi32_halves(__m512i v[8]) {
    // 128-bit lane l of v[i + k]: column 4l + k of rows i..i+3 (per half).
    transpose_4x4_in_lanes(v);
    transpose_4x4_in_lanes(v + 4);
    __m512i t[8];
    // Per half, t[j]: column j of rows 0-3 (v[j]'s first lane), then of rows 4-7 (v[4 + j]'s);
    // t[4 + j]: column 4 + j (their second lanes).
    const __m512i first_lanes = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i second_lanes = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    for (int j = 0; j < 4; ++j) {
        t[j] = _mm512_permutex2var_epi64(v[j], first_lanes, v[4 + j]);
        t[4 + j] = _mm512_permutex2var_epi64(v[j], second_lanes, v[4 + j]);
    }
    for (int i = 0; i < 8; ++i) v[i] = t[i];
}

// 16 F16 values of a row from column col on, widened to fp32 (zero past `cols` with kMasked).
template <bool kMasked>
LLAMA_PACK_BF16_TARGET inline __m512 load_f16x16(const std::byte* row, int64_t col, int64_t cols) {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(row) + col;
    if constexpr (!kMasked) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
    }
    const int64_t left = std::clamp<int64_t>(cols - col, 0, 16);
    const auto mask = static_cast<__mmask16>((1u << left) - 1);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, src));
}

// One column step of 16 F16 rows (`count` of them real, the rest zero) rounded to bf16 pairs:
// r[n] (n < 8) holds pairs 0-7 of row n, then of row n + 8; r[8 + n] pairs 8-15 of the same rows.
// kWhole: 16 rows, 32 columns: no masks, no branches.
template <bool kWhole>
LLAMA_PACK_BF16_TARGET inline void convert_f16_step(const std::byte* const* row_ptr, int64_t count,
                                                    int64_t col, int64_t cols, __m512i r[16]) {
    for (int64_t n = 0; n < 8; ++n) {
        for (int64_t half = 0; half < 2; ++half) {
            const int64_t c = col + 16 * half;
            const __m512 upper = kWhole || n + 8 < count
                                     ? load_f16x16<!kWhole>(row_ptr[n + 8], c, cols)
                                     : _mm512_setzero_ps();
            const __m512 lower = kWhole || n < count ? load_f16x16<!kWhole>(row_ptr[n], c, cols)
                                                     : _mm512_setzero_ps();
            r[8 * half + n] = (__m512i)_mm512_cvtne2ps_pbh(upper, lower);  // lower's first
        }
    }
}

// F16 weights where the CPU has AVX512-BF16: VCVTNE2PS2BF16 rounds what VCVTPH2PS widens, in place
// of the integer rounding. It treats subnormal floats as zero, but no f16 value widens to one, so
// the bits are pack_weight_group_avx512's (one Xeon, 8-layer F16 file, pp128: the packing was
// half of the tiles' time). VCVTNE2PS2BF16 also does the first step of the transpose: it joins
// row n's 16 columns with row n + 8's, so that two 8 x 8 transposes a half finish the block
// (48 shuffles instead of a 16 x 16 transpose's 64). Against the 16 x 16 transpose of whole
// converted rows (Zen 5, one core, tiles of 48 rows x 4096 columns, values/ns): in L2 8.5 -> 9.8,
// streamed from DRAM 5.3 -> 5.8.
LLAMA_PACK_BF16_TARGET void pack_f16_group_avx512_bf16(DType type, const std::byte* const* row_ptr,
                                                       int64_t count, int64_t cols, uint16_t* out) {
    (void)type;  // F16
    const int64_t ksteps = column_steps(cols);
    for (int64_t s = 0; s < ksteps; ++s) {
        const int64_t col = s * kAmxColumnStep;
        __m512i r[16];
        if (count == 16 && col + kAmxColumnStep <= cols) {
            convert_f16_step<true>(row_ptr, count, col, cols, r);
        } else {
            convert_f16_step<false>(row_ptr, count, col, cols, r);
        }
        // Half h of r[8 * g + n] holds pairs 8g..8g+7 of row 8h + n: transposed, pair p's
        // 16 rows.
        transpose_8x8_epi32_halves(r);
        transpose_8x8_epi32_halves(r + 8);
        uint16_t* block = out + s * kBlockValues;
        for (int64_t pair = 0; pair < 16; ++pair) {
            _mm512_storeu_si512(block + pair * 32, r[pair]);
        }
    }
}

// Lane n's 4 codes (bytes of a 32-bit lane) as 16-lane vectors of int32, unsigned or signed.
LLAMA_PACK_TARGET inline __m512i code_byte(__m512i codes, int i, bool is_signed) {
    return is_signed ? _mm512_srai_epi32(_mm512_slli_epi32(codes, 24 - 8 * i), 24)
                     : _mm512_and_si512(_mm512_srli_epi32(codes, 8 * i), _mm512_set1_epi32(0xFF));
}

// Values 4k .. 4k + 3 of a step (lane n: row n) into the VNNI block's rows 2k and 2k + 1. kCvt:
// VCVTNE2PS2BF16 and one word permute instead of the integer rounding (about 17 instructions a
// pair). The instruction treats subnormal inputs as zero, but a dequantized weight never is one
// (an integer multiple of its f16 scale's 2^-24 unit, or 0), so both give the same bits.
template <bool kCvt>
LLAMA_PACK_BF16_TARGET inline void store_four_columns(uint16_t* block, int k,
                                                      const __m512 values[4]) {
    for (int pair = 0; pair < 2; ++pair) {
        const __m512 even = values[2 * pair];
        const __m512 odd = values[2 * pair + 1];
        __m512i words;
        if constexpr (kCvt) {
            // even's 16 bf16 in words 0-15, odd's in 16-31, then interleaved.
            const __m512i interleave =
                _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23,
                                 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
            words = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
        } else {
            words = bf16_pairs(even, odd);
        }
        _mm512_storeu_si512(block + (2 * k + pair) * 32, words);
    }
}

// One 16-row group of row-interleaved Q4_K / Q5_K (kFiveBit; quant_interleave.h) straight into
// its VNNI blocks: lane n of an interleaved vector is row n, as in a block row, so each 32-column
// step (one sub-block) is its 8 chunk vectors widened in place, where taking the group back to
// rows, dequantizing them and transposing 16 x 16 cost a Q5_K_M prompt 7% at the amx level. The
// values are dequantize_rows's on the AVX-512 path (d * sc * q - dmin * m, one FMA), so the pack
// is the same bit for bit.
template <bool kFiveBit, bool kCvt>
LLAMA_PACK_BF16_TARGET void pack_q45_k_r16_group(const std::byte* group, int64_t cols,
                                                 uint16_t* out) {
    const int64_t group_bytes = kFiveBit ? kQ5_KR16Group : kQ4_KR16Group;
    const int64_t qs = kFiveBit ? kQ5_KR16Qs : kQ4_KR16Qs;
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < cols / 256; ++b) {
        const std::byte* g = group + b * group_bytes;
        __m512i sc[2];  // as the matrix-vector kernels unpack them
        __m512i mn[2];
        detail::unpack_q4_k_scales_r16(g, sc, mn);
        const __m512 d = load_f16x16(g + kQ4_KR16D);
        const __m512 dmin = load_f16x16(g + kQ4_KR16Dmin);
        for (int j = 0; j < 8; ++j) {  // sub-block j: chunks 8 (j / 2) + k, low or high nibbles
            const __m512 scale =
                _mm512_mul_ps(d, _mm512_cvtepi32_ps(code_byte(sc[j / 4], j % 4, false)));
            const __m512 min =
                _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(code_byte(mn[j / 4], j % 4, false)));
            uint16_t* block = out + (8 * b + j) * kBlockValues;
            for (int k = 0; k < 8; ++k) {  // values 4k .. 4k + 3 of the sub-block
                const __m512i v = _mm512_loadu_si512(g + qs + 64 * (8 * (j / 2) + k));
                __m512i codes =
                    _mm512_and_si512(j % 2 == 0 ? v : _mm512_srli_epi16(v, 4), low_mask);
                if constexpr (kFiveBit) {  // bit j of the qh word: the fifth bit
                    const __m512i qh = _mm512_loadu_si512(g + kQ5_KR16Qh + 64 * k);
                    codes = _mm512_or_si512(codes, detail::bit_at_4(qh, j));
                }
                __m512 values[4];
                for (int i = 0; i < 4; ++i) {
                    const __m512i q = code_byte(codes, i, false);
                    values[i] = _mm512_fmsub_ps(scale, _mm512_cvtepi32_ps(q), min);
                }
                store_four_columns<kCvt>(block, k, values);
            }
        }
    }
}

// One 16-row group of row-interleaved Q4_0 or Q8_0 (kSigned8): one 32-column step a block, values
// d * (q - 8) and d * q as dequantize_rows's AVX-512 path makes them.
template <bool kSigned8, bool kCvt>
LLAMA_PACK_BF16_TARGET void pack_block32_r16_group(const std::byte* group, int64_t cols,
                                                   uint16_t* out) {
    const int64_t group_bytes = kSigned8 ? kQ8_0R16Group : kQ4_0R16Group;
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i eight = _mm512_set1_epi32(8);
    for (int64_t b = 0; b < cols / 32; ++b) {
        const std::byte* g = group + b * group_bytes;
        const __m512 d = load_f16x16(g + (kSigned8 ? kQ8_0R16D : kQ4_0R16D));
        uint16_t* block = out + b * kBlockValues;
        for (int k = 0; k < (kSigned8 ? 8 : 4); ++k) {
            const __m512i v = _mm512_loadu_si512(g + (kSigned8 ? kQ8_0R16Qs : kQ4_0R16Qs) + 64 * k);
            __m512 values[4];
            if constexpr (kSigned8) {  // values 4k ..
                for (int i = 0; i < 4; ++i) {
                    values[i] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(code_byte(v, i, true)));
                }
                store_four_columns<kCvt>(block, k, values);
                continue;
            }
            const __m512i nibbles[2] = {_mm512_and_si512(v, low_mask),  // values 4k ..
                                        _mm512_and_si512(_mm512_srli_epi16(v, 4), low_mask)};
            for (int h = 0; h < 2; ++h) {  // values 16h + 4k ..
                for (int i = 0; i < 4; ++i) {
                    const __m512i q = _mm512_sub_epi32(code_byte(nibbles[h], i, false), eight);
                    values[i] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(q));
                }
                store_four_columns<kCvt>(block, 4 * h + k, values);
            }
        }
    }
}

// One 16-row group of row-interleaved Q6_K: step 4h + j holds values 128h + 32j .., chunk k's
// codes from its ql word (A for j = 0, 2; B for 1, 3; low nibbles for j < 2) and the qh word's
// bit pair j; values (d * scale) * (q - 32) as dequantize_rows's AVX-512 path makes them.
template <bool kCvt>
LLAMA_PACK_BF16_TARGET void pack_q6_k_r16_group(const std::byte* group, int64_t cols,
                                                uint16_t* out) {
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i high_mask = _mm512_set1_epi8(0x30);
    const __m512i thirty_two = _mm512_set1_epi32(32);
    for (int64_t b = 0; b < cols / 256; ++b) {
        const std::byte* g = group + b * kQ6_KR16Group;
        const __m512 d = load_f16x16(g + kQ6_KR16D);
        for (int h = 0; h < 2; ++h) {
            for (int j = 0; j < 4; ++j) {
                uint16_t* block = out + (8 * b + 4 * h + j) * kBlockValues;
                __m512 scales[2];  // sub-blocks 8h + 2j and + 1
                for (int half = 0; half < 2; ++half) {
                    const int sub = 8 * h + 2 * j + half;
                    const __m512i word = _mm512_loadu_si512(g + kQ6_KR16Scales + 64 * (sub / 4));
                    scales[half] =
                        _mm512_mul_ps(d, _mm512_cvtepi32_ps(code_byte(word, sub % 4, true)));
                }
                for (int k = 0; k < 8; ++k) {
                    const std::byte* chunk = g + kQ6_KR16Chunks + kQ6_KR16ChunkBytes * (8 * h + k);
                    const __m512i ql = _mm512_loadu_si512(chunk + 64 * (j % 2));
                    const __m512i hb = _mm512_loadu_si512(chunk + 128);
                    const __m512i low =
                        _mm512_and_si512(j < 2 ? ql : _mm512_srli_epi16(ql, 4), low_mask);
                    const __m512i top = j == 0   ? _mm512_slli_epi16(hb, 4)
                                        : j == 1 ? _mm512_slli_epi16(hb, 2)
                                        : j == 2 ? hb
                                                 : _mm512_srli_epi16(hb, 2);
                    const __m512i codes = _mm512_or_si512(low, _mm512_and_si512(top, high_mask));
                    __m512 values[4];
                    for (int i = 0; i < 4; ++i) {
                        const __m512i q = _mm512_sub_epi32(code_byte(codes, i, false), thirty_two);
                        values[i] = _mm512_mul_ps(scales[k / 4], _mm512_cvtepi32_ps(q));
                    }
                    store_four_columns<kCvt>(block, k, values);
                }
            }
        }
    }
}

// Whether pack_interleaved_avx512 takes `type` (the dequantizing path's values must be the AVX-512
// ones it reproduces).
bool packs_interleaved_directly(DType type) {
    return (type == DType::Q4_0_R16 || type == DType::Q8_0_R16 || type == DType::Q4_K_R16 ||
            type == DType::Q5_K_R16 || type == DType::Q6_K_R16) &&
           best_quant_path() == QuantPath::Avx512Vnni;
}

template <bool kCvt>
void pack_interleaved_avx512(DType type, const std::byte* w, int64_t rows, int64_t cols,
                             uint16_t* packed) {
    const int64_t stride = row_bytes(type, cols);
    const int64_t group_values = column_steps(cols) * kBlockValues;
    for (int64_t row0 = 0; row0 < rows; row0 += kAmxRowBlock) {
        uint16_t* out = packed + (row0 / kAmxRowBlock) * group_values;
        const std::byte* group = w + row0 * stride;
        switch (type) {
            case DType::Q4_0_R16:
                pack_block32_r16_group<false, kCvt>(group, cols, out);
                break;
            case DType::Q8_0_R16:
                pack_block32_r16_group<true, kCvt>(group, cols, out);
                break;
            case DType::Q4_K_R16:
                pack_q45_k_r16_group<false, kCvt>(group, cols, out);
                break;
            case DType::Q5_K_R16:
                pack_q45_k_r16_group<true, kCvt>(group, cols, out);
                break;
            default:
                pack_q6_k_r16_group<kCvt>(group, cols, out);
                break;
        }
    }
}

LLAMA_PACK_TARGET void pack_activations_avx512(const float* x, int64_t n_tokens, int64_t cols,
                                               uint16_t* packed) {
    const int64_t ksteps = column_steps(cols);
    const int64_t n_blocks = (n_tokens + kAmxTokenBlock - 1) / kAmxTokenBlock;
    for (int64_t b = 0; b < n_blocks; ++b) {
        for (int64_t t = 0; t < kAmxTokenBlock; ++t) {
            const int64_t token = b * kAmxTokenBlock + t;
            uint16_t* out = packed + b * ksteps * kBlockValues + t * kAmxColumnStep;
            if (token >= n_tokens) {
                for (int64_t s = 0; s < ksteps; ++s) {
                    _mm512_storeu_si512(out + s * kBlockValues, _mm512_setzero_si512());
                }
                continue;
            }
            const auto* row = reinterpret_cast<const std::byte*>(x + token * cols);
            for (int64_t s = 0; s < ksteps; ++s) {
                _mm512_storeu_si512(out + s * kBlockValues,
                                    load_bf16x32(DType::F32, row, s * kAmxColumnStep, cols));
            }
        }
    }
}
#endif

using GroupPacker = void (*)(DType, const std::byte* const*, int64_t, int64_t, uint16_t*);

void pack_weights_with(GroupPacker pack_group, DType type, const std::byte* w, int64_t rows,
                       int64_t cols, std::span<uint16_t> packed, std::span<float> scratch) {
    check_size("pack_weights_bf16", "packed", packed.size(), packed_weights_size(rows, cols));
    const bool direct = is_plain_float(type);
    if (!direct) {
        check_size("pack_weights_bf16", "scratch", scratch.size(), pack_weights_scratch_size(cols));
    }
    const int64_t stride = row_bytes(type, cols);
    const int64_t group_values = column_steps(cols) * kBlockValues;
    for (int64_t row0 = 0; row0 < rows; row0 += kAmxRowBlock) {
        const int64_t count = std::min(kAmxRowBlock, rows - row0);
        const std::byte* row_ptr[kAmxRowBlock];
        DType source_type = type;
        if (direct) {
            for (int64_t n = 0; n < count; ++n) row_ptr[n] = w + (row0 + n) * stride;
        } else {
            dequantize_rows(type, w + row0 * stride, count, cols, scratch);
            for (int64_t n = 0; n < count; ++n) {
                row_ptr[n] = reinterpret_cast<const std::byte*>(scratch.data() + n * cols);
            }
            source_type = DType::F32;
        }
        pack_group(source_type, row_ptr, count, cols,
                   packed.data() + (row0 / kAmxRowBlock) * group_values);
    }
}

}  // namespace

int64_t packed_activations_size(int64_t n_tokens, int64_t cols) {
    return (n_tokens + kAmxTokenBlock - 1) / kAmxTokenBlock * column_steps(cols) * kBlockValues;
}

int64_t packed_weights_size(int64_t rows, int64_t cols) {
    return (rows + kAmxRowBlock - 1) / kAmxRowBlock * column_steps(cols) * kBlockValues;
}

int64_t pack_weights_scratch_size(int64_t cols) { return kAmxRowBlock * cols; }

namespace detail {

bool pack_avx512_available() { return cpu_supports(IsaLevel::Avx512); }

void pack_activations_bf16_scalar(std::span<const float> x, int64_t n_tokens, int64_t cols,
                                  std::span<uint16_t> packed) {
    check_size("pack_activations_bf16", "x", x.size(), n_tokens * cols);
    check_size("pack_activations_bf16", "packed", packed.size(),
               packed_activations_size(n_tokens, cols));
    const int64_t ksteps = column_steps(cols);
    const int64_t padded_tokens = (n_tokens + kAmxTokenBlock - 1) / kAmxTokenBlock * kAmxTokenBlock;
    for (int64_t token = 0; token < padded_tokens; ++token) {
        const int64_t b = token / kAmxTokenBlock;
        const int64_t t = token % kAmxTokenBlock;
        for (int64_t col = 0; col < ksteps * kAmxColumnStep; ++col) {
            const int64_t s = col / kAmxColumnStep;
            const bool valid = token < n_tokens && col < cols;
            packed[(b * ksteps + s) * kBlockValues + t * kAmxColumnStep + col % kAmxColumnStep] =
                valid ? f32_to_bf16_scalar(x[token * cols + col]) : 0;
        }
    }
}

void check_packed_gemm_args(const char* kernel, std::span<const uint16_t> packed_x,
                            int64_t n_tokens, int64_t cols, std::span<const uint16_t> packed_w,
                            int64_t rows, std::span<const float> y, int64_t ldy) {
    if (ldy < rows) {
        throw Error(std::string(kernel) + ": ldy " + std::to_string(ldy) + " < rows " +
                    std::to_string(rows));
    }
    check_size(kernel, "packed_x", packed_x.size(), packed_activations_size(n_tokens, cols));
    check_size(kernel, "packed_w", packed_w.size(), packed_weights_size(rows, cols));
    check_size(kernel, "y", y.size(), (n_tokens - 1) * ldy + rows);
    const auto misaligned = [](const void* p) {
        return reinterpret_cast<uintptr_t>(p) % kPackedAlignment != 0;
    };
    if (misaligned(packed_x.data()) || misaligned(packed_w.data())) {
        throw Error(std::string(kernel) +
                    ": packed operands must be 64-byte aligned (use PackedBuffer)");
    }
}

void pack_weights_bf16_scalar(DType type, const std::byte* w, int64_t rows, int64_t cols,
                              std::span<uint16_t> packed, std::span<float> scratch) {
    pack_weights_with(pack_weight_group_scalar, type, w, rows, cols, packed, scratch);
}

}  // namespace detail

void pack_activations_bf16(std::span<const float> x, int64_t n_tokens, int64_t cols,
                           std::span<uint16_t> packed) {
#if defined(__x86_64__)
    if (isa_enabled(IsaLevel::Avx512)) {
        check_size("pack_activations_bf16", "x", x.size(), n_tokens * cols);
        check_size("pack_activations_bf16", "packed", packed.size(),
                   packed_activations_size(n_tokens, cols));
        pack_activations_avx512(x.data(), n_tokens, cols, packed.data());
        return;
    }
#endif
    detail::pack_activations_bf16_scalar(x, n_tokens, cols, packed);
}

void pack_weights_bf16(DType type, const std::byte* w, int64_t rows, int64_t cols,
                       std::span<uint16_t> packed, std::span<float> scratch) {
#if defined(__x86_64__)
    if (isa_enabled(IsaLevel::Avx512)) {
        if (packs_interleaved_directly(type)) {
            check_size("pack_weights_bf16", "packed", packed.size(),
                       packed_weights_size(rows, cols));
            check_whole_groups(Matrix{type, rows, cols, w}, "pack_weights_bf16");
            if (isa_enabled(IsaLevel::Avx512Bf16)) {
                pack_interleaved_avx512<true>(type, w, rows, cols, packed.data());
            } else {
                pack_interleaved_avx512<false>(type, w, rows, cols, packed.data());
            }
            return;
        }
        const bool f16_cvt = type == DType::F16 && isa_enabled(IsaLevel::Avx512Bf16);
        pack_weights_with(f16_cvt ? pack_f16_group_avx512_bf16 : pack_weight_group_avx512, type, w,
                          rows, cols, packed, scratch);
        return;
    }
#endif
    detail::pack_weights_bf16_scalar(type, w, rows, cols, packed, scratch);
}

}  // namespace llama::kernels
