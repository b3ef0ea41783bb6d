// AVX-512 packing of gemm_quant panels (layout in quant_gemm_impl.h) straight from the weight
// rows: 16 rows' bytes are loaded side by side, transposed in 4-byte words with shuffles and
// unpacked with vector masks and shifts, 16 rows per instruction; super-block scales are
// gathered, the 32-value blocks' scales loaded one by one (a gather per 32 values cost more).
// Partial panels (fewer than 16 rows, at most one per matrix) take the portable packer.

#include <cstdint>
#include <cstring>

#include "kernels/cpu_features.h"
#include "kernels/quant_gemm_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

LLAMA_TARGET_AVX512_VNNI inline __m256i load256(const std::byte* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// out[k] lane r = word k of the 32 bytes at base + r * stride, for r < 16. Rows r and r + 8
// share a register (one per 256-bit half), then an 8x8 word transpose runs in both halves at
// once: 32-bit and 64-bit interleaves within 128-bit lanes, and a two-register qword permute that
// pairs the lanes of rows 0-3 and 4-7.
LLAMA_TARGET_AVX512_VNNI inline void transpose_16x8(const std::byte* base, int64_t stride,
                                                    __m512i out[8]) {
    __m512i r[8];
    for (int i = 0; i < 8; ++i) {
        r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(base + i * stride)),
                                  load256(base + (i + 8) * stride), 1);
    }
    __m512i t[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    __m512i u[8];  // u[j] (rows 0-3), u[j + 4] (rows 4-7): words j (low lanes) and j + 4 (high)
    for (int h = 0; h < 2; ++h) {
        const __m512i* tt = t + 4 * h;
        u[4 * h + 0] = _mm512_unpacklo_epi64(tt[0], tt[2]);
        u[4 * h + 1] = _mm512_unpackhi_epi64(tt[0], tt[2]);
        u[4 * h + 2] = _mm512_unpacklo_epi64(tt[1], tt[3]);
        u[4 * h + 3] = _mm512_unpackhi_epi64(tt[1], tt[3]);
    }
    const __m512i low = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i high = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    for (int j = 0; j < 4; ++j) {
        out[j] = _mm512_permutex2var_epi64(u[j], low, u[j + 4]);
        out[j + 4] = _mm512_permutex2var_epi64(u[j], high, u[j + 4]);
    }
}

// out[k] lane r = word k of the 16 bytes at base + r * stride, for r < 16: four rows per
// register (one per 128-bit lane), then two rounds of two-register word permutes.
LLAMA_TARGET_AVX512_VNNI inline void transpose_16x4(const std::byte* base, int64_t stride,
                                                    __m512i out[4]) {
    __m512i z[4];
    for (int j = 0; j < 4; ++j) {
        const std::byte* p = base + 4 * j * stride;
        auto row = [&](int l) {
            return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + l * stride));
        };
        // The lane index must be a literal for clang (gcc also folds a loop counter).
        __m512i v = _mm512_castsi128_si512(row(0));
        v = _mm512_inserti32x4(v, row(1), 1);
        v = _mm512_inserti32x4(v, row(2), 2);
        v = _mm512_inserti32x4(v, row(3), 3);
        z[j] = v;
    }
    // Round 1: words (c, c+1) of rows 0-7 (from z0, z1) and of rows 8-15 (z2, z3): lane i < 8 is
    // word c of row i, lane i >= 8 word c + 1 of row i - 8 (row r's word c is entry 4r + c).
    const __m512i pick01 =
        _mm512_set_epi32(29, 25, 21, 17, 13, 9, 5, 1, 28, 24, 20, 16, 12, 8, 4, 0);
    const __m512i pick23 =
        _mm512_set_epi32(31, 27, 23, 19, 15, 11, 7, 3, 30, 26, 22, 18, 14, 10, 6, 2);
    const __m512i a0 = _mm512_permutex2var_epi32(z[0], pick01, z[1]);
    const __m512i a1 = _mm512_permutex2var_epi32(z[0], pick23, z[1]);
    const __m512i b0 = _mm512_permutex2var_epi32(z[2], pick01, z[3]);
    const __m512i b1 = _mm512_permutex2var_epi32(z[2], pick23, z[3]);
    // Round 2: the low (high) 8 lanes of a and b make one word of all 16 rows.
    const __m512i lows = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i highs =
        _mm512_set_epi32(31, 30, 29, 28, 27, 26, 25, 24, 15, 14, 13, 12, 11, 10, 9, 8);
    out[0] = _mm512_permutex2var_epi32(a0, lows, b0);
    out[1] = _mm512_permutex2var_epi32(a0, highs, b0);
    out[2] = _mm512_permutex2var_epi32(a1, lows, b1);
    out[3] = _mm512_permutex2var_epi32(a1, highs, b1);
}

// The 4 bytes at base + r * stride of 16 rows, one per lane.
LLAMA_TARGET_AVX512_VNNI inline __m512i gather_rows(const std::byte* base, __m512i offsets) {
    return _mm512_i32gather_epi32(offsets, base, 1);
}

// The f16 at the start of each of 16 rows' blocks, as fp32: sixteen scalar loads into one vector
// (measured faster than a gather here).
LLAMA_TARGET_AVX512_VNNI inline __m512 block_scales(const std::byte* base, int64_t stride) {
    alignas(32) uint16_t halves[kPanelRows];
    for (int r = 0; r < kPanelRows; ++r) std::memcpy(&halves[r], base + r * stride, 2);
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(halves)));
}

// fp16 in the low (high) half of each lane to fp32.
LLAMA_TARGET_AVX512_VNNI inline __m512 low_halves(__m512i v) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}
LLAMA_TARGET_AVX512_VNNI inline __m512 high_halves(__m512i v) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
}

LLAMA_TARGET_AVX512_VNNI inline void store(std::byte* p, __m512i v) { _mm512_store_si512(p, v); }
LLAMA_TARGET_AVX512_VNNI inline void store(std::byte* p, __m512 v) { _mm512_store_ps(p, v); }

// Prefetches the part of each of the 16 rows `ahead` bytes on, lines [0, bytes).
inline void prefetch_rows(const std::byte* rows, int64_t stride, int64_t ahead, int64_t bytes) {
    for (int r = 0; r < kPanelRows; ++r) {
        for (int64_t offset = 0; offset < bytes; offset += 64) {
            __builtin_prefetch(rows + r * stride + ahead + offset);
        }
    }
}

constexpr int64_t kPrefetchBytes = 1024;  // per row, as in the portable packer

LLAMA_TARGET_AVX512_VNNI void pack_q32(bool q8, const std::byte* rows, int64_t stride,
                                       int64_t n_blocks, std::byte* panel) {
    const int64_t block_bytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* src = rows + b * block_bytes;
        std::byte* out = panel + b * kQ32PanelBlock;
        if ((b * block_bytes) % 64 < block_bytes) prefetch_rows(src, stride, kPrefetchBytes, 64);
        if (q8) {
            __m512i words[8];
            transpose_16x8(src + 2, stride, words);
            for (int k = 0; k < 8; ++k) store(out + 64 * k, words[k]);
        } else {
            __m512i words[4];
            transpose_16x4(src + 2, stride, words);
            for (int k = 0; k < 4; ++k) {
                store(out + 64 * k, _mm512_and_si512(words[k], low_mask));
                store(out + 64 * (k + 4),
                      _mm512_and_si512(_mm512_srli_epi16(words[k], 4), low_mask));
            }
        }
        store(out + 512, block_scales(src, stride));
    }
}

// Q4_K/Q5_K scales and mins of 16 rows (bytes 4..15 of each block) into the panel, with d, dmin.
LLAMA_TARGET_AVX512_VNNI void pack_k45_scales(const std::byte* src, int64_t stride, __m512i offsets,
                                              std::byte* block) {
    __m512i u[4];
    transpose_16x4(src + 4, stride, u);  // u[0..2]: the 12 scale bytes (ggml's kmask unpacking)
    const __m512i kmask1 = _mm512_set1_epi32(0x3f3f3f3f);
    const __m512i kmask2 = _mm512_set1_epi32(0x0f0f0f0f);
    const __m512i kmask3 = _mm512_set1_epi32(0x03030303);
    const __m512i scales[2] = {
        _mm512_and_si512(u[0], kmask1),
        _mm512_or_si512(
            _mm512_and_si512(u[2], kmask2),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u[0], 6), kmask3), 4))};
    const __m512i mins[2] = {
        _mm512_and_si512(u[1], kmask1),
        _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi32(u[2], 4), kmask2),
            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u[1], 6), kmask3), 4))};
    const __m512i byte = _mm512_set1_epi32(0xFF);
    std::byte* scale_out = block + kKPanelScales;
    std::byte* min_out = scale_out + 8 * 64;
    for (int j = 0; j < 8; ++j) {
        const int shift = 8 * (j % 4);
        store(scale_out + 64 * j, _mm512_and_si512(_mm512_srli_epi32(scales[j / 4], shift), byte));
        const __m512i m = _mm512_and_si512(_mm512_srli_epi32(mins[j / 4], shift), byte);
        store(min_out + 64 * j, _mm512_or_si512(m, _mm512_slli_epi32(m, 16)));
    }
    const __m512i d_dmin = gather_rows(src, offsets);
    store(min_out + 512, low_halves(d_dmin));
    store(min_out + 576, high_halves(d_dmin));
}

template <bool kFiveBit>
LLAMA_TARGET_AVX512_VNNI void pack_q45_k(const std::byte* rows, int64_t stride, int64_t n_blocks,
                                         std::byte* panel) {
    using Block = std::conditional_t<kFiveBit, BlockQ5_K, BlockQ4_K>;
    constexpr int64_t kBlockBytes = kKPanelScales + 64 * 8 + kKPanelMinsFromEnd;
    const __m512i offsets =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(static_cast<int>(stride)));
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i one_bit = _mm512_set1_epi8(1);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* src = rows + b * static_cast<int64_t>(sizeof(Block));
        std::byte* out = panel + b * kBlockBytes;
        prefetch_rows(src, stride, kPrefetchBytes, sizeof(Block));
        __m512i high_bits[8];
        if constexpr (kFiveBit) transpose_16x8(src + offsetof(Block, qh), stride, high_bits);
        for (int g = 0; g < 4; ++g) {
            __m512i words[8];
            transpose_16x8(src + offsetof(Block, qs) + 32 * g, stride, words);
            for (int i = 0; i < 8; ++i) {
                __m512i low = _mm512_and_si512(words[i], low_mask);
                __m512i high = _mm512_and_si512(_mm512_srli_epi16(words[i], 4), low_mask);
                if constexpr (kFiveBit) {
                    low = _mm512_or_si512(
                        low,
                        _mm512_slli_epi16(
                            _mm512_and_si512(_mm512_srli_epi16(high_bits[i], 2 * g), one_bit), 4));
                    high = _mm512_or_si512(
                        high,
                        _mm512_slli_epi16(
                            _mm512_and_si512(_mm512_srli_epi16(high_bits[i], 2 * g + 1), one_bit),
                            4));
                }
                store(out + 64 * (16 * g + i), low);
                store(out + 64 * (16 * g + 8 + i), high);
            }
        }
        pack_k45_scales(src, stride, offsets, out);
    }
}

LLAMA_TARGET_AVX512_VNNI void pack_q6_k(const std::byte* rows, int64_t stride, int64_t n_blocks,
                                        std::byte* panel) {
    constexpr int64_t kBlockBytes = kKPanelScales + 64 * 16 + kKPanelMinsFromEnd;
    const __m512i offsets =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(static_cast<int>(stride)));
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i two_bits = _mm512_set1_epi8(3);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* src = rows + b * static_cast<int64_t>(sizeof(BlockQ6_K));
        std::byte* out = panel + b * kBlockBytes;
        prefetch_rows(src, stride, kPrefetchBytes, sizeof(BlockQ6_K));
        for (int h = 0; h < 2; ++h) {
            __m512i ql0[8], ql1[8], qh[8];
            transpose_16x8(src + offsetof(BlockQ6_K, ql) + 64 * h, stride, ql0);
            transpose_16x8(src + offsetof(BlockQ6_K, ql) + 64 * h + 32, stride, ql1);
            transpose_16x8(src + offsetof(BlockQ6_K, qh) + 32 * h, stride, qh);
            for (int i = 0; i < 8; ++i) {
                const int k = 32 * h + i;
                auto top = [&](int shift) LLAMA_TARGET_AVX512_VNNI {
                    return _mm512_slli_epi16(
                        _mm512_and_si512(_mm512_srli_epi16(qh[i], shift), two_bits), 4);
                };
                store(out + 64 * k, _mm512_or_si512(_mm512_and_si512(ql0[i], low_mask), top(0)));
                store(out + 64 * (k + 8),
                      _mm512_or_si512(_mm512_and_si512(ql1[i], low_mask), top(2)));
                store(out + 64 * (k + 16),
                      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql0[i], 4), low_mask),
                                      top(4)));
                store(out + 64 * (k + 24),
                      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql1[i], 4), low_mask),
                                      top(6)));
            }
        }
        // Scales: int8, sign-extended from byte g % 4 of word g / 4; mins pair 32 * (s_2i, s_2i+1).
        __m512i words[4];
        transpose_16x4(src + offsetof(BlockQ6_K, scales), stride, words);
        std::byte* scale_out = out + kKPanelScales;
        std::byte* min_out = scale_out + 16 * 64;
        __m512i scale[16];
        for (int g = 0; g < 16; ++g) {
            scale[g] = _mm512_srai_epi32(_mm512_slli_epi32(words[g / 4], 24 - 8 * (g % 4)), 24);
            store(scale_out + 64 * g, scale[g]);
        }
        const __m512i low16 = _mm512_set1_epi32(0xFFFF);
        for (int i = 0; i < 8; ++i) {
            store(min_out + 64 * i,
                  _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi32(scale[2 * i], 5), low16),
                                  _mm512_slli_epi32(scale[2 * i + 1], 21)));
        }
        // d is the block's last two bytes: gather the word ending there.
        const __m512 d = high_halves(gather_rows(src + offsetof(BlockQ6_K, d) - 2, offsets));
        store(min_out + 512, d);
        store(min_out + 576, d);
    }
}

}  // namespace

void pack_panel_avx512(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                       int64_t n_blocks, std::byte* panel) {
    if (n_rows < kPanelRows) {
        pack_panel(type, rows, row_stride, n_rows, n_blocks, transpose_16x8_avx512, panel);
        return;
    }
    switch (type) {
        case DType::Q8_0:
            pack_q32(true, rows, row_stride, n_blocks, panel);
            break;
        case DType::Q4_0:
            pack_q32(false, rows, row_stride, n_blocks, panel);
            break;
        case DType::Q4_K:
            pack_q45_k<false>(rows, row_stride, n_blocks, panel);
            break;
        case DType::Q5_K:
            pack_q45_k<true>(rows, row_stride, n_blocks, panel);
            break;
        case DType::Q6_K:
            pack_q6_k(rows, row_stride, n_blocks, panel);
            break;
        default:  // Q5_0, IQ4_NL, Q2_K, Q3_K: the portable widening, AVX-512 transposes
            pack_panel(type, rows, row_stride, n_rows, n_blocks, transpose_16x8_avx512, panel);
            break;
    }
}

LLAMA_TARGET_AVX512_VNNI void transpose_16x8_avx512(const uint32_t* rows, int64_t row_stride,
                                                    std::byte* out) {
    __m512i words[8];
    transpose_16x8(reinterpret_cast<const std::byte*>(rows), row_stride * 4, words);
    for (int k = 0; k < 8; ++k) store(out + 64 * k, words[k]);
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void pack_panel_avx512(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                       int64_t n_blocks, std::byte* panel) {
    pack_panel(type, rows, row_stride, n_rows, n_blocks, transpose_16x8_portable, panel);
}
void transpose_16x8_avx512(const uint32_t* rows, int64_t row_stride, std::byte* out) {
    transpose_16x8_portable(rows, row_stride, out);
}
}  // namespace llama::kernels::detail

#endif
