// The AVX2 (VPMADDWD + VPADDD) and AVX-VNNI (VPDPWSSD) kernels of the 16-bit integer GEMM
// (gemm_int16.h): the activation quantizer, the weight panel packer (which the AVX-512 kernels
// use too) and the register tiles, among them Q8_0's Winograd tile for the plain AVX2 level; the
// blocked loop over them is gemm_int16_impl.h's. Compiled without AVX-512 in a native build
// (kernels/CMakeLists.txt), so that --isa avx2 runs the code an AVX2-only CPU gets.

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/avx2_float.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm_int16_impl.h"
#include "kernels/kernels.h"
#include "kernels/prefetch.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"

namespace llama::kernels {

bool gemm_int16_avx2_available() { return cpu_supports(IsaLevel::Avx2); }
bool gemm_int16_avx_vnni_available() { return cpu_supports(IsaLevel::Avx2) && cpu_has_avx_vnni(); }

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace {

using detail::load8;
using detail::transpose8;

// The largest of eight unsigned 32-bit lanes.
LLAMA_TARGET_AVX2 inline uint32_t max_lane(__m256i v) {
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return static_cast<uint32_t>(_mm_cvtsi128_si32(m));
}

LLAMA_TARGET_AVX2 inline __m256i magnitude_bits(__m256 v) {
    return _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff));
}

// 16 int32 (two vectors of 8, each |value| < 2^15) as 16 int16 in column order: PACKSSDW
// interleaves 128-bit halves, the 64-bit permute puts the pairs back in order.
LLAMA_TARGET_AVX2 inline __m256i pack16(__m256i low, __m256i high) {
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(low, high), 0xD8);
}

// One block of kInt16Block values of a row from column `col`, widened from kType, to int16 in
// column order at `out`, with the multiplier `scaling` (detail::weight_scaling or
// activation_scaling) gives for the block's largest magnitude (zeros if that is not finite).
// Returns the block's scale.
template <DType kType, class Scaling>
LLAMA_TARGET_AVX2 float quantize_block(const std::byte* row, int64_t col, Scaling scaling,
                                       int16_t* out) {
    __m256 v[kInt16Block / 8];
    __m256i max_bits = _mm256_setzero_si256();
    for (int i = 0; i < kInt16Block / 8; ++i) {
        v[i] = load8<kType>(row, col + 8 * i);
        max_bits = _mm256_max_epu32(max_bits, magnitude_bits(v[i]));
    }
    const uint32_t largest = max_lane(max_bits);
    const auto [multiplier, scale] = scaling(largest);
    if (largest >= detail::kNotFiniteBits) {
        std::memset(out, 0, kInt16Block * sizeof *out);
        return scale;
    }
    const __m256 m = _mm256_set1_ps(multiplier);
    for (int i = 0; i < kInt16Block / 16; ++i) {
        const __m256i low = _mm256_cvtps_epi32(_mm256_mul_ps(v[2 * i], m));
        const __m256i high = _mm256_cvtps_epi32(_mm256_mul_ps(v[2 * i + 1], m));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * i), pack16(low, high));
    }
    return scale;
}

// One block (kInt16Block columns from `col`) of 8 rows into the panel at pairs / scales (rows at
// offset `row_offset` of the 16): each row quantized with its scale into a row-major buffer, then
// 8 x 8 transposes of column pairs.
template <DType kType>
LLAMA_TARGET_AVX2 void pack_block_8_rows(const std::byte* rows, int64_t row_stride, int n_rows,
                                         int64_t col, int row_offset, int32_t* pairs,
                                         float* scales) {
    alignas(32) int16_t quantized[8][kInt16Block];
    for (int r = 0; r < 8; ++r) {
        if (r >= n_rows) {
            std::memset(quantized[r], 0, sizeof quantized[r]);
            scales[row_offset + r] = 0.0f;
            continue;
        }
        scales[row_offset + r] = quantize_block<kType>(
            rows + r * row_stride, col, [](uint32_t b) { return detail::weight_scaling(b); },
            quantized[r]);
    }
    // Column pairs are 32-bit lanes: transposing 8 rows x 8 pairs gives the panel's 8-row halves.
    for (int i = 0; i < kInt16Block / 16; ++i) {
        __m256 v[8];
        for (int r = 0; r < 8; ++r)
            v[r] = _mm256_load_ps(reinterpret_cast<float*>(quantized[r] + 16 * i));
        transpose8(v);
        for (int j = 0; j < 8; ++j) {
            _mm256_store_ps(
                reinterpret_cast<float*>(pairs + (8 * i + j) * kInt16PanelRows + row_offset), v[j]);
        }
    }
}

// Columns [first_col, first_col + kc) of 16 rows into a panel (detail::pack_int16_panel_scalar's
// layout); partial blocks at the end of the rows go through the scalar packer.
template <DType kType>
LLAMA_TARGET_AVX2 void pack_panel(const std::byte* rows, int64_t row_stride, int n_rows,
                                  int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                                  float* scales) {
    for (int64_t b = 0; b < kc / kInt16Block; ++b) {
        const int64_t col = first_col + b * kInt16Block;
        int32_t* block_pairs = pairs + b * kInt16Block / 2 * kInt16PanelRows;
        float* block_scales = scales + b * kInt16PanelRows;
        if (col + kInt16Block > cols) {
            detail::pack_int16_panel_scalar(kType, rows, row_stride, n_rows, cols, col, kInt16Block,
                                            block_pairs, block_scales);
            continue;
        }
        for (int half = 0; half < 2; ++half) {
            pack_block_8_rows<kType>(rows + 8 * half * row_stride, row_stride, n_rows - 8 * half,
                                     col, 8 * half, block_pairs, block_scales);
        }
    }
}

// Q8_0 rows in the file's layout: each 32-column block of 8 rows sign-extended to int16 (16
// columns, 8 pairs, a register per row) and transposed, 8 x 8 pairs at a time.
LLAMA_TARGET_AVX2 void pack_q8_0_panel(const std::byte* rows, int64_t row_stride, int n_rows,
                                       int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                                       float* scales) {
    constexpr int64_t kBlockBytes = sizeof(BlockQ8_0);
    for (int64_t b = 0; b < kc / kQ8_0BlockSize; ++b) {
        const int64_t col0 = first_col + b * kQ8_0BlockSize;
        for (int half = 0; half < 2; ++half) {
            const int row_offset = 8 * half;
            const int rows_here = std::clamp(n_rows - row_offset, 0, 8);
            const std::byte* in[8];
            for (int r = 0; r < 8; ++r) {
                const bool present = r < rows_here && col0 < cols;
                in[r] = present ? rows + (row_offset + r) * row_stride +
                                      col0 / kQ8_0BlockSize * kBlockBytes
                                : nullptr;
                uint16_t d = 0;
                if (present) std::memcpy(&d, in[r], 2);
                scales[b * kInt16PanelRows + row_offset + r] = present ? f16_to_f32(d) : 0.0f;
            }
            for (int i = 0; i < 2; ++i) {  // columns 16i..16i+15: pairs 8i..8i+7
                __m256 v[8];
                for (int r = 0; r < 8; ++r) {
                    v[r] = in[r] == nullptr
                               ? _mm256_setzero_ps()
                               : _mm256_castsi256_ps(_mm256_cvtepi8_epi16(_mm_loadu_si128(
                                     reinterpret_cast<const __m128i*>(in[r] + 2 + 16 * i))));
                }
                transpose8(v);
                for (int j = 0; j < 8; ++j) {
                    _mm256_store_ps(
                        reinterpret_cast<float*>(
                            pairs + (b * kQ8_0BlockSize / 2 + 8 * i + j) * kInt16PanelRows +
                            row_offset),
                        v[j]);
                }
            }
        }
    }
}

// 16 bytes: 4 rows' words of a Q8_0_R16 block column, sign-extended: lanes (row, pair) in the
// order r0p0 r0p1 r1p0 r1p1 | r2p0 r2p1 r3p0 r3p1.
LLAMA_TARGET_AVX2 inline __m256 widen_4_rows(const std::byte* words) {
    return _mm256_castsi256_ps(
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words))));
}

// [a0 a2 c0 c2 | a4 a6 c4 c6] (VSHUFPS of two widen_4_rows) is rows 0 1 4 5 | 2 3 6 7: its
// 64-bit lanes in the order 0 2 1 3.
LLAMA_TARGET_AVX2 inline __m256 rows_in_order(__m256 v) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8));
}

// A Q8_0_R16 group: word k of a block column is bytes 4k..4k+3 of the 16 rows, so 16 bytes
// sign-extended are 4 rows' pairs 2k and 2k + 1 side by side; the even and odd lanes of two such
// registers are pairs 2k and 2k + 1 of 8 rows.
LLAMA_TARGET_AVX2 void pack_q8_0_r16_panel(const std::byte* group, int64_t cols, int64_t first_col,
                                           int64_t kc, int32_t* pairs, float* scales) {
    for (int64_t b = 0; b < kc / kQ8_0BlockSize; ++b) {
        const int64_t col0 = first_col + b * kQ8_0BlockSize;
        int32_t* out = pairs + b * kQ8_0BlockSize / 2 * kInt16PanelRows;
        float* block_scales = scales + b * kInt16PanelRows;
        if (col0 >= cols) {
            std::memset(out, 0, kQ8_0BlockSize / 2 * kInt16PanelRows * sizeof *out);
            std::memset(block_scales, 0, kInt16PanelRows * sizeof *block_scales);
            continue;
        }
        const std::byte* in = group + col0 / kQ8_0BlockSize * kQ8_0R16Group;
        for (int i = 0; i < 2; ++i) {
            _mm256_store_ps(block_scales + 8 * i,
                            _mm256_cvtph_ps(_mm_loadu_si128(
                                reinterpret_cast<const __m128i*>(in + kQ8_0R16D) + i)));
        }
        for (int k = 0; k < kQ8_0BlockSize / 4; ++k) {
            const std::byte* word = in + kQ8_0R16Qs + 64 * k;
            for (int half = 0; half < 2; ++half) {
                const __m256 a = widen_4_rows(word + 4 * 8 * half);
                const __m256 c = widen_4_rows(word + 4 * (8 * half + 4));
                _mm256_store_ps(reinterpret_cast<float*>(out + 2 * k * kInt16PanelRows + 8 * half),
                                rows_in_order(_mm256_shuffle_ps(a, c, 0x88)));
                _mm256_store_ps(
                    reinterpret_cast<float*>(out + (2 * k + 1) * kInt16PanelRows + 8 * half),
                    rows_in_order(_mm256_shuffle_ps(a, c, 0xDD)));
            }
        }
    }
}

template <bool kVnni>
[[gnu::always_inline]] LLAMA_TARGET_AVX2 inline __m256i dot_pairs(__m256i acc, __m256i w,
                                                                  __m256i x) {
    if constexpr (kVnni) {
        asm("%{vex%} vpdpwssd %2, %1, %0" : "+x"(acc) : "x"(w), "x"(x));
        return acc;
    } else {
        __m256i products;
        asm("vpmaddwd %[w], %[x], %[products]\n\tvpaddd %[products], %[acc], %[acc]"
            : [acc] "+x"(acc), [products] "=&x"(products)
            : [w] "xm"(w), [x] "x"(x));
        return acc;
    }
}

// Q8_0's two 32-column weight blocks in a 64-column activation block, one token's sums of 16
// rows (rows 0-7 in low, 8-15 in high): the first block's float(sum) x weight scale is kept in
// partial; the second's added to it, times the token's scale, goes into s. The scalar reference's
// operations in its order, for the plain and the Winograd tile alike.
[[gnu::always_inline]] LLAMA_TARGET_AVX2 inline void keep_first_q8_0_block(
    __m256i low, __m256i high, __m256 w_scale0, __m256 w_scale1, float* partial) {
    _mm256_store_ps(partial, _mm256_mul_ps(_mm256_cvtepi32_ps(low), w_scale0));
    _mm256_store_ps(partial + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(high), w_scale1));
}

[[gnu::always_inline]] LLAMA_TARGET_AVX2 inline void fold_second_q8_0_block(
    __m256i low, __m256i high, __m256 w_scale0, __m256 w_scale1, const float* partial,
    float token_scale, float* s) {
    const __m256 x_scale = _mm256_set1_ps(token_scale);
    const __m256 block_low =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(low), w_scale0, _mm256_load_ps(partial));
    const __m256 block_high =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(high), w_scale1, _mm256_load_ps(partial + 8));
    _mm256_store_ps(s, _mm256_fmadd_ps(block_low, x_scale, _mm256_load_ps(s)));
    _mm256_store_ps(s + 8, _mm256_fmadd_ps(block_high, x_scale, _mm256_load_ps(s + 8)));
}

// The register tile (detail::Int16Tile) of T <= 6 tokens, one packed token tile, weight blocks
// of kWeightBlock columns: low[t] and high[t] hold rows 0-7 and 8-15 of token t.
template <int T, bool kVnni, int kWeightBlock>
LLAMA_TARGET_AVX2 void tile(const int32_t* panel, const float* panel_scales, int64_t n_blocks,
                            const int32_t* x, const float* x_scales, int64_t, int64_t, float* sums,
                            int64_t ld, const int32_t*, const int32_t*) {
    constexpr int64_t kPairs = kWeightBlock / 2;
    constexpr int64_t kWeightBlocks = kInt16Block / kWeightBlock;  // an activation block's
    static_assert(kWeightBlocks == 1 || kWeightBlocks == 2);
    const int32_t* w = panel;
    const int32_t* xb = x;
    alignas(32) float partial[T][kInt16PanelRows];  // kWeightBlocks 2: the first block's
    for (int64_t wb = 0; wb < n_blocks * kWeightBlocks; ++wb) {
        // Separate one-dimensional accumulator arrays with every loop over t unrolled in full,
        // as in gemm_fma.cpp: anything else and GCC keeps them on the stack.
        __m256i low[T];
        __m256i high[T];
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
            low[t] = _mm256_setzero_si256();
            high[t] = _mm256_setzero_si256();
        }
        for (int64_t p = 0; p < kPairs; ++p) {
            const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
            const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 8));
#pragma GCC unroll 6
            for (int t = 0; t < T; ++t) {
                const __m256i xt = _mm256_set1_epi32(xb[t]);
                low[t] = dot_pairs<kVnni>(low[t], w0, xt);
                high[t] = dot_pairs<kVnni>(high[t], w1, xt);
            }
            w += kInt16PanelRows;
            xb += kInt16TileTokens;
        }
        const __m256 w_scale0 = _mm256_load_ps(panel_scales + wb * kInt16PanelRows);
        const __m256 w_scale1 = _mm256_load_ps(panel_scales + wb * kInt16PanelRows + 8);
        const float* block_x_scales = x_scales + wb / kWeightBlocks * kInt16TileTokens;
        if constexpr (kWeightBlocks == 1) {
            // The block's exact sums into the fp32 sums: float(sum) x (w scale x x scale).
#pragma GCC unroll 6
            for (int t = 0; t < T; ++t) {
                const __m256 x_scale = _mm256_set1_ps(block_x_scales[t]);
                float* s = sums + t * ld;
                _mm256_store_ps(
                    s, _mm256_fmadd_ps(_mm256_cvtepi32_ps(low[t]), _mm256_mul_ps(w_scale0, x_scale),
                                       _mm256_load_ps(s)));
                _mm256_store_ps(s + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(high[t]),
                                                       _mm256_mul_ps(w_scale1, x_scale),
                                                       _mm256_load_ps(s + 8)));
            }
        } else if (wb % 2 == 0) {
#pragma GCC unroll 6
            for (int t = 0; t < T; ++t) {
                keep_first_q8_0_block(low[t], high[t], w_scale0, w_scale1, partial[t]);
            }
        } else {
#pragma GCC unroll 6
            for (int t = 0; t < T; ++t) {
                fold_second_q8_0_block(low[t], high[t], w_scale0, w_scale1, partial[t],
                                       block_x_scales[t], sums + t * ld);
            }
        }
    }
}

template <bool kVnni>
constexpr auto kTiles = detail::make_int16_tiles<kInt16TileTokens>(
    []<int T, int kWeightBlock>() -> detail::Int16Tile { return tile<T, kVnni, kWeightBlock>; });

// The Winograd tile (gemm_int16.h) of Q8_0 at the plain AVX2 level: calls of up to 12 tokens (two
// packed token tiles) in register tiles of 16 rows x 4 tokens: 8 sums, a 4-column group's weight
// words (rows 0-7 and 8-15, columns 0-1 and 2-3), a token's two activation words and the two
// VPMADDWD operands fill the 16 registers.
constexpr int kWinogradTokens = 2 * kInt16TileTokens;
constexpr int kWinogradSubTile = 4;

// One 4-column group for T tokens, in assembly so that nothing leaves the registers (GCC took the
// weight words as memory operands of every VPADDW, three times the loads, and spilled sums). Token
// t's two words are `offset` and offset + 24 bytes on from p[t] (pairs k / 2 and k / 2 + 1 of its
// packed tile): one index register for every token.
// u = weights (w2, w3) + activations (x0, x1), v = (w0, w1) + (x2, x3): VPMADDWD(u, v) is
// (w2 + x0)(w0 + x2) + (w3 + x1)(w1 + x3).
// clang-format off
#define LLAMA_WINOGRAD_TOKEN(p, lo, hi)                     \
    "vpbroadcastd (%[" #p "],%[offset]), %[x01]\n\t"        \
    "vpbroadcastd 24(%[" #p "],%[offset]), %[x23]\n\t"      \
    "vpaddw %[w23a], %[x01], %[u]\n\t"                      \
    "vpaddw %[w01a], %[x23], %[v]\n\t"                      \
    "vpmaddwd %[v], %[u], %[u]\n\t"                         \
    "vpaddd %[u], %[" #lo "], %[" #lo "]\n\t"               \
    "vpaddw %[w23b], %[x01], %[u]\n\t"                      \
    "vpaddw %[w01b], %[x23], %[v]\n\t"                      \
    "vpmaddwd %[v], %[u], %[u]\n\t"                         \
    "vpaddd %[u], %[" #hi "], %[" #hi "]\n\t"
// Rows 0-7 / 8-15 of columns k, k + 1 (pair k / 2: 64 bytes of the panel) and k + 2, k + 3.
#define LLAMA_WINOGRAD_WEIGHTS                              \
    "vmovdqa (%[w]), %[w01a]\n\t"                           \
    "vmovdqa 32(%[w]), %[w01b]\n\t"                         \
    "vmovdqa 64(%[w]), %[w23a]\n\t"                         \
    "vmovdqa 96(%[w]), %[w23b]\n\t"
#define LLAMA_WINOGRAD_TEMPS                                \
    [w01a] "=&x"(w01a), [w01b] "=&x"(w01b), [w23a] "=&x"(w23a), [w23b] "=&x"(w23b), \
    [x01] "=&x"(x01), [x23] "=&x"(x23), [u] "=&x"(u), [v] "=&x"(v)
// clang-format on

template <int T>
[[gnu::always_inline]] LLAMA_TARGET_AVX2 inline void winograd_group(const int32_t* w,
                                                                    const int32_t* const* p,
                                                                    int64_t offset, __m256i* low,
                                                                    __m256i* high) {
    __m256i w01a, w01b, w23a, w23b, x01, x23, u, v;
    if constexpr (T == 1) {
        asm(LLAMA_WINOGRAD_WEIGHTS LLAMA_WINOGRAD_TOKEN(p0, l0, h0)
            : [l0] "+x"(low[0]), [h0] "+x"(high[0]), LLAMA_WINOGRAD_TEMPS
            : [w] "r"(w), [offset] "r"(offset), [p0] "r"(p[0])
            : "memory");
    } else if constexpr (T == 2) {
        asm(LLAMA_WINOGRAD_WEIGHTS LLAMA_WINOGRAD_TOKEN(p0, l0, h0) LLAMA_WINOGRAD_TOKEN(p1, l1, h1)
            : [l0] "+x"(low[0]), [h0] "+x"(high[0]), [l1] "+x"(low[1]), [h1] "+x"(high[1]),
              LLAMA_WINOGRAD_TEMPS
            : [w] "r"(w), [offset] "r"(offset), [p0] "r"(p[0]), [p1] "r"(p[1])
            : "memory");
    } else if constexpr (T == 3) {
        asm(LLAMA_WINOGRAD_WEIGHTS LLAMA_WINOGRAD_TOKEN(p0, l0, h0) LLAMA_WINOGRAD_TOKEN(p1, l1, h1)
                LLAMA_WINOGRAD_TOKEN(p2, l2, h2)
            : [l0] "+x"(low[0]), [h0] "+x"(high[0]), [l1] "+x"(low[1]), [h1] "+x"(high[1]),
              [l2] "+x"(low[2]), [h2] "+x"(high[2]), LLAMA_WINOGRAD_TEMPS
            : [w] "r"(w), [offset] "r"(offset), [p0] "r"(p[0]), [p1] "r"(p[1]), [p2] "r"(p[2])
            : "memory");
    } else {
        static_assert(T == 4);
        asm(LLAMA_WINOGRAD_WEIGHTS LLAMA_WINOGRAD_TOKEN(p0, l0, h0) LLAMA_WINOGRAD_TOKEN(p1, l1, h1)
                LLAMA_WINOGRAD_TOKEN(p2, l2, h2) LLAMA_WINOGRAD_TOKEN(p3, l3, h3)
            : [l0] "+x"(low[0]), [h0] "+x"(high[0]), [l1] "+x"(low[1]), [h1] "+x"(high[1]),
              [l2] "+x"(low[2]), [h2] "+x"(high[2]), [l3] "+x"(low[3]), [h3] "+x"(high[3]),
              LLAMA_WINOGRAD_TEMPS
            : [w] "r"(w), [offset] "r"(offset), [p0] "r"(p[0]), [p1] "r"(p[1]), [p2] "r"(p[2]),
              [p3] "r"(p[3])
            : "memory");
    }
}

#undef LLAMA_WINOGRAD_TOKEN
#undef LLAMA_WINOGRAD_WEIGHTS
#undef LLAMA_WINOGRAD_TEMPS

// Tokens [first, first + T) of a call: each Q8_0 block's sums start from minus both cross terms,
// take the block's 8 column groups and fold into the fp32 sums as tile<..., 32> does (the same
// helpers).
template <int T>
LLAMA_TARGET_AVX2 void winograd_sub_tile(int first, const int32_t* panel, const float* panel_scales,
                                         int64_t n_blocks, const int32_t* x, const float* x_scales,
                                         int64_t x_stride, int64_t scale_stride, float* sums,
                                         int64_t ld, const int32_t* panel_cross,
                                         const int32_t* x_cross) {
    constexpr int64_t kGroups = kQ8_0BlockSize / 4;
    const int64_t cross_stride = 2 * scale_stride;  // 32-column cross blocks, 64-column scales
    // Token first + i's activation words, scales and cross terms: from the call's first packed
    // tile, or for tokens 6 on, the next.
    const int32_t* p[T];
    const float* token_scales[T];
    const int32_t* token_cross[T];
#pragma GCC unroll 4
    for (int i = 0; i < T; ++i) {
        const int t = first + i;
        const bool next = t >= kInt16TileTokens;
        const int slot = next ? t - kInt16TileTokens : t;
        p[i] = x + (next ? x_stride : 0) + slot;
        token_scales[i] = x_scales + (next ? scale_stride : 0) + slot;
        token_cross[i] = x_cross + (next ? cross_stride : 0) + slot;
    }
    const int32_t* w = panel;
    int64_t offset = 0;                             // bytes on from p[i]
    alignas(32) float partial[T][kInt16PanelRows];  // a 64-column block's first Q8_0 block
    for (int64_t wb = 0; wb < 2 * n_blocks; ++wb) {
        __m256i low[T];
        __m256i high[T];
        const __m256i w_cross0 =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(panel_cross + wb * kInt16PanelRows));
        const __m256i w_cross1 = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(panel_cross + wb * kInt16PanelRows + 8));
#pragma GCC unroll 4
        for (int i = 0; i < T; ++i) {
            const __m256i cross = _mm256_set1_epi32(token_cross[i][wb * kInt16TileTokens]);
            low[i] = _mm256_add_epi32(w_cross0, cross);
            high[i] = _mm256_add_epi32(w_cross1, cross);
        }
        // Unrolled: 2-3% faster alone (one thread, in cache, 12 rounds alternating) and 1-5% in
        // the model (Q8_0 prompt 512 at avx2, Zen 5, 4 rounds).
#pragma GCC unroll 8
        for (int64_t g = 0; g < kGroups; ++g) {
            winograd_group<T>(w, p, offset, low, high);
            w += 2 * kInt16PanelRows;
            offset += 2 * kInt16TileTokens * sizeof(int32_t);
        }
        const __m256 w_scale0 = _mm256_load_ps(panel_scales + wb * kInt16PanelRows);
        const __m256 w_scale1 = _mm256_load_ps(panel_scales + wb * kInt16PanelRows + 8);
        if (wb % 2 == 0) {
#pragma GCC unroll 4
            for (int i = 0; i < T; ++i) {
                keep_first_q8_0_block(low[i], high[i], w_scale0, w_scale1, partial[i]);
            }
            continue;
        }
#pragma GCC unroll 4
        for (int i = 0; i < T; ++i) {
            fold_second_q8_0_block(low[i], high[i], w_scale0, w_scale1, partial[i],
                                   token_scales[i][wb / 2 * kInt16TileTokens],
                                   sums + (first + i) * ld);
        }
    }
}

// detail::Int16Tile of T <= 12 tokens: register tiles of 4 (the last one of what is left).
template <int T>
LLAMA_TARGET_AVX2 void winograd_tile(const int32_t* panel, const float* panel_scales,
                                     int64_t n_blocks, const int32_t* x, const float* x_scales,
                                     int64_t x_stride, int64_t scale_stride, float* sums,
                                     int64_t ld, const int32_t* panel_cross,
                                     const int32_t* x_cross) {
    constexpr int kFirst = std::min(T, kWinogradSubTile);
    winograd_sub_tile<kFirst>(0, panel, panel_scales, n_blocks, x, x_scales, x_stride, scale_stride,
                              sums, ld, panel_cross, x_cross);
    if constexpr (T > kWinogradSubTile) {
        constexpr int kSecond = std::min(T - kWinogradSubTile, kWinogradSubTile);
        winograd_sub_tile<kSecond>(kWinogradSubTile, panel, panel_scales, n_blocks, x, x_scales,
                                   x_stride, scale_stride, sums, ld, panel_cross, x_cross);
    }
    if constexpr (T > 2 * kWinogradSubTile) {
        winograd_sub_tile<T - 2 * kWinogradSubTile>(2 * kWinogradSubTile, panel, panel_scales,
                                                    n_blocks, x, x_scales, x_stride, scale_stride,
                                                    sums, ld, panel_cross, x_cross);
    }
}

// Only the 32-column tiles are used (Q8_0); the 64-column slots repeat them to fill the table.
constexpr auto kWinogradTiles = detail::make_int16_tiles<kWinogradTokens>(
    []<int T, int>() -> detail::Int16Tile { return winograd_tile<T>; });

// The panel's cross terms (detail::Int16PanelCrossTerms): per 32-column block, rows 0-7 and 8-15,
// the VPMADDWD of pair k / 2 with pair k / 2 + 1 summed over the block's 4-column groups.
LLAMA_TARGET_AVX2 void winograd_panel_cross_terms(const int32_t* pairs, int64_t kc,
                                                  int32_t* cross) {
    for (int64_t b = 0; b < kc / kInt16CrossBlock; ++b) {
        const int32_t* block = pairs + b * kInt16CrossBlock / 2 * kInt16PanelRows;
        for (int half = 0; half < 2; ++half) {
            __m256i sum = _mm256_setzero_si256();
            for (int64_t g = 0; g < kInt16CrossBlock / 4; ++g) {
                const int32_t* group = block + 2 * g * kInt16PanelRows + 8 * half;
                sum = _mm256_add_epi32(
                    sum,
                    _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(group)),
                                      _mm256_load_si256(reinterpret_cast<const __m256i*>(
                                          group + kInt16PanelRows))));
            }
            _mm256_store_si256(reinterpret_cast<__m256i*>(cross + b * kInt16PanelRows + 8 * half),
                               _mm256_sub_epi32(_mm256_setzero_si256(), sum));
        }
    }
}

}  // namespace

namespace detail {

void pack_int16_panel_avx2(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                           int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                           float* scales) {
    switch (type) {
        case DType::F16:
            return pack_panel<DType::F16>(rows, row_stride, n_rows, cols, first_col, kc, pairs,
                                          scales);
        case DType::BF16:
            return pack_panel<DType::BF16>(rows, row_stride, n_rows, cols, first_col, kc, pairs,
                                           scales);
        case DType::Q8_0:
            return pack_q8_0_panel(rows, row_stride, n_rows, cols, first_col, kc, pairs, scales);
        case DType::Q8_0_R16:
            return pack_q8_0_r16_panel(rows, cols, first_col, kc, pairs, scales);
        default:
            throw Error("pack_int16_panel_avx2: " + std::string(dtype_name(type)));
    }
}

void quantize_int16_activations_avx2(std::span<const float> values, int64_t tile_begin,
                                     int64_t tile_end, Int16Activations& x) {
    // Whole blocks in vectors, a partial last block (and padding tokens) as the scalar code does.
    quantize_int16_tiles(values, tile_begin, tile_end, x,
                         [](const float* block, int64_t count, int32_t* pairs, float* scale) {
                             if (count < kInt16Block) {
                                 return quantize_int16_activation_block(block, count, pairs, scale);
                             }
                             alignas(32) int16_t q[kInt16Block];
                             *scale = quantize_block<DType::F32>(
                                 reinterpret_cast<const std::byte*>(block), 0,
                                 [](uint32_t b) { return activation_scaling(b); }, q);
                             int32_t packed[kInt16Block / 2];
                             std::memcpy(packed, q, sizeof q);
                             for (int i = 0; i < kInt16Block / 2; ++i) {
                                 pairs[i * kInt16TileTokens] = packed[i];
                             }
                         });
}

}  // namespace detail

#endif

void gemm_int16_rows_avx2(const Int16RowsArgs& args, Int16Scratch& scratch) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_int16_avx2_available()) throw Error("gemm_int16_rows_avx2: this CPU has no AVX2");
    if (int16_weight_block(args.type) == kQ8_0BlockSize && args.x != nullptr &&
        args.x->has_cross_terms()) {
        return detail::int16_rows_loop(kWinogradTiles, detail::pack_int16_panel_avx2, args, scratch,
                                       winograd_panel_cross_terms);
    }
    detail::int16_rows_loop(kTiles<false>, detail::pack_int16_panel_avx2, args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_int16_rows_avx2: no x86 target support in this compiler");
#endif
}

void gemm_int16_rows_avx_vnni(const Int16RowsArgs& args, Int16Scratch& scratch) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_int16_avx_vnni_available()) {
        throw Error("gemm_int16_rows_avx_vnni: this CPU has no AVX-VNNI");
    }
    detail::int16_rows_loop(kTiles<true>, detail::pack_int16_panel_avx2, args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_int16_rows_avx_vnni: no x86 target support in this compiler");
#endif
}

}  // namespace llama::kernels
