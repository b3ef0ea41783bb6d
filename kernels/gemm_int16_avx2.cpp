// The AVX2 (VPMADDWD + VPADDD) and AVX-VNNI (VPDPWSSD) kernels of the 16-bit integer GEMM
// (gemm_int16.h): the activation quantizer, the weight panel packer (which the AVX-512 kernels
// use too) and the register tiles; the blocked loop over them is gemm_int16_impl.h's. Compiled
// without AVX-512 in a native build (kernels/CMakeLists.txt), so that --isa avx2 runs the code an
// AVX2-only CPU gets.

#include <cstring>
#include <string>

#include "kernels/avx2_float.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm_int16_impl.h"
#include "kernels/prefetch.h"
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

// The register tile (detail::Int16Tile) of T <= 6 tokens, one packed token tile: low[t] and
// high[t] hold rows 0-7 and 8-15 of token t.
template <int T, bool kVnni>
LLAMA_TARGET_AVX2 void tile(const int32_t* panel, const float* panel_scales, int64_t n_blocks,
                            const int32_t* x, const float* x_scales, int64_t, int64_t, float* sums,
                            int64_t ld) {
    constexpr int64_t kPairs = kInt16Block / 2;
    for (int64_t b = 0; b < n_blocks; ++b) {
        // Separate one-dimensional accumulator arrays with every loop over t unrolled in full,
        // as in gemm_fma.cpp: anything else and GCC keeps them on the stack.
        __m256i low[T];
        __m256i high[T];
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
            low[t] = _mm256_setzero_si256();
            high[t] = _mm256_setzero_si256();
        }
        const int32_t* w = panel + b * kPairs * kInt16PanelRows;
        const int32_t* xb = x + b * kPairs * kInt16TileTokens;
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
        // The block's exact sums into the fp32 sums: float(sum) x (w scale x x scale), one FMA.
        const __m256 w_scale0 = _mm256_load_ps(panel_scales + b * kInt16PanelRows);
        const __m256 w_scale1 = _mm256_load_ps(panel_scales + b * kInt16PanelRows + 8);
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
            const __m256 x_scale = _mm256_set1_ps(x_scales[b * kInt16TileTokens + t]);
            float* s = sums + t * ld;
            _mm256_store_ps(
                s, _mm256_fmadd_ps(_mm256_cvtepi32_ps(low[t]), _mm256_mul_ps(w_scale0, x_scale),
                                   _mm256_load_ps(s)));
            _mm256_store_ps(
                s + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(high[t]),
                                       _mm256_mul_ps(w_scale1, x_scale), _mm256_load_ps(s + 8)));
        }
    }
}

}  // namespace

namespace detail {

void pack_int16_panel_avx2(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                           int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                           float* scales) {
    (type == DType::F16 ? pack_panel<DType::F16> : pack_panel<DType::BF16>)(rows, row_stride,
                                                                            n_rows, cols, first_col,
                                                                            kc, pairs, scales);
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
    static constexpr detail::Int16Tile tiles[kInt16TileTokens] = {tile<1, false>, tile<2, false>,
                                                                  tile<3, false>, tile<4, false>,
                                                                  tile<5, false>, tile<6, false>};
    detail::int16_rows_loop(tiles, detail::pack_int16_panel_avx2, args, scratch);
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
    static constexpr detail::Int16Tile tiles[kInt16TileTokens] = {
        tile<1, true>, tile<2, true>, tile<3, true>, tile<4, true>, tile<5, true>, tile<6, true>};
    detail::int16_rows_loop(tiles, detail::pack_int16_panel_avx2, args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_int16_rows_avx_vnni: no x86 target support in this compiler");
#endif
}

}  // namespace llama::kernels
