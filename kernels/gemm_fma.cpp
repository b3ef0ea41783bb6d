// fp32 FMA GEMM over widened weight panels (gemm_fma.h): the packer, the scalar reference and the
// AVX2 + FMA and AVX-512 micro-kernels (compiled with target attributes whatever the build flags).

#include "kernels/gemm_fma.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels {

namespace {

// Columns widened at a time: 16 rows x 64 floats (4 KB) stay in L1 while they are transposed.
constexpr int64_t kChunk = 64;

void widen_row(DType type, const std::byte* row, int64_t first, int64_t n, float* out) {
    switch (type) {
        case DType::F32:
            std::memcpy(out, row + first * 4, static_cast<size_t>(n) * 4);
            return;
        case DType::F16:
            f16_to_f32(
                std::span(reinterpret_cast<const uint16_t*>(row) + first, static_cast<size_t>(n)),
                std::span(out, static_cast<size_t>(n)));
            return;
        case DType::BF16:
            bf16_to_f32(
                std::span(reinterpret_cast<const uint16_t*>(row) + first, static_cast<size_t>(n)),
                std::span(out, static_cast<size_t>(n)));
            return;
        default:
            throw Error("pack_fma_panel: " + std::string(dtype_name(type)) +
                        " is not a plain float type");
    }
}

#if defined(LLAMA_HAVE_X86_TARGETS)

// chunk[r][0..n) for 16 rows -> panel[(k0 + c) * 16 + r], 8 x 8 blocks transposed in registers.
LLAMA_TARGET_AVX2 void transpose_chunk_avx2(const float (*chunk)[kChunk], int64_t n, float* out) {
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        for (int half = 0; half < 2; ++half) {
            __m256 r[8];
            for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(&chunk[8 * half + i][c]);
            const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]);
            const __m256 t1 = _mm256_unpackhi_ps(r[0], r[1]);
            const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]);
            const __m256 t3 = _mm256_unpackhi_ps(r[2], r[3]);
            const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]);
            const __m256 t5 = _mm256_unpackhi_ps(r[4], r[5]);
            const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]);
            const __m256 t7 = _mm256_unpackhi_ps(r[6], r[7]);
            const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44);
            const __m256 s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44);
            const __m256 s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44);
            const __m256 s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44);
            const __m256 s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            const __m256 columns[8] = {
                _mm256_permute2f128_ps(s0, s4, 0x20), _mm256_permute2f128_ps(s1, s5, 0x20),
                _mm256_permute2f128_ps(s2, s6, 0x20), _mm256_permute2f128_ps(s3, s7, 0x20),
                _mm256_permute2f128_ps(s0, s4, 0x31), _mm256_permute2f128_ps(s1, s5, 0x31),
                _mm256_permute2f128_ps(s2, s6, 0x31), _mm256_permute2f128_ps(s3, s7, 0x31)};
            for (int j = 0; j < 8; ++j) {
                _mm256_store_ps(out + (c + j) * kFmaPanelRows + 8 * half, columns[j]);
            }
        }
    }
    for (; c < n; ++c) {
        for (int r = 0; r < kFmaPanelRows; ++r) out[c * kFmaPanelRows + r] = chunk[r][c];
    }
}

// Tokens [0, T) of a packed tile against the whole panel: low[t] and high[t] hold rows 0-7 and
// 8-15 of token t.
template <int T>
LLAMA_TARGET_AVX2 void tile_avx2(const float* panel, int n_rows, int64_t cols, const float* x,
                                 float* y, int64_t ldy) {
    // Separate one-dimensional accumulator arrays, every loop over t unrolled in full: with a
    // [T][2] array GCC stored each accumulator back to the stack after every FMA (half speed).
    __m256 low[T];
    __m256 high[T];
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) low[t] = high[t] = _mm256_setzero_ps();
    for (int64_t k = 0; k < cols; ++k) {
        const __m256 w0 = _mm256_load_ps(panel + k * kFmaPanelRows);
        const __m256 w1 = _mm256_load_ps(panel + k * kFmaPanelRows + 8);
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
            const __m256 xt = _mm256_broadcast_ss(x + k * kFmaTileTokens + t);
            low[t] = _mm256_fmadd_ps(w0, xt, low[t]);
            high[t] = _mm256_fmadd_ps(w1, xt, high[t]);
        }
    }
    if (n_rows == kFmaPanelRows) {
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
            _mm256_storeu_ps(y + t * ldy, low[t]);
            _mm256_storeu_ps(y + t * ldy + 8, high[t]);
        }
        return;
    }
    alignas(32) float rows[T][kFmaPanelRows];
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) {
        _mm256_store_ps(rows[t], low[t]);
        _mm256_store_ps(rows[t] + 8, high[t]);
    }
    for (int t = 0; t < T; ++t) {
        std::memcpy(y + t * ldy, rows[t], static_cast<size_t>(n_rows) * sizeof(float));
    }
}

// The same with one zmm register per token (16 rows) and two packed tiles (12 tokens) at once:
// per k one panel load and T FMAs with the broadcast folded in. A zmm FMA takes 4 cycles and two
// issue a cycle, so 8 or more independent sums keep both ports busy (one tile of 6 ran 15% faster
// than the AVX2 tile, two 40-50%: Xeon, F16 prompt 128, --isa avx512). Intel cores with two
// 512-bit FMA ports run twice the AVX2 tile's products per cycle (VDPBF16PS, by contrast, ran one
// per 2.3 cycles on the Xeon with AMX, half the fp32 FMA rate); on Zen 4, which splits a zmm FMA
// in two, it is the AVX2 tile's rate. Same products and order as the scalar kernel: bit-identical.
constexpr int64_t kAvx512Tokens = 2 * kFmaTileTokens;

template <int T>
LLAMA_TARGET_AVX512 void tile_avx512(const float* panel, int n_rows, int64_t cols, const float* x,
                                     float* y, int64_t ldy) {
    const float* second = T > kFmaTileTokens ? x + kFmaTileTokens * cols : x;  // tokens 6..11
    __m512 acc[T];
#pragma GCC unroll 12
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < cols; ++k) {
        const __m512 w = _mm512_loadu_ps(panel + k * kFmaPanelRows);
#pragma GCC unroll 12
        for (int t = 0; t < T; ++t) {
            const float xt = t < kFmaTileTokens ? x[k * kFmaTileTokens + t]
                                                : second[k * kFmaTileTokens + t - kFmaTileTokens];
            acc[t] = _mm512_fmadd_ps(w, _mm512_set1_ps(xt), acc[t]);
        }
    }
    const __mmask16 rows = static_cast<__mmask16>((1u << n_rows) - 1);
#pragma GCC unroll 12
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy, rows, acc[t]);
}

using Tile = void (*)(const float*, int, int64_t, const float*, float*, int64_t);

// tiles[count - 1] over the packed tokens, kTokens (a multiple of the packed tile) at a time.
template <size_t kTokens>
void run_tiles(const Tile (&tiles)[kTokens], const float* panel, int n_rows, int64_t cols,
               const float* x, int64_t n_tokens, float* y, int64_t ldy) {
    for (int64_t t0 = 0; t0 < n_tokens; t0 += static_cast<int64_t>(kTokens)) {
        const int64_t count = std::min(static_cast<int64_t>(kTokens), n_tokens - t0);
        tiles[count - 1](panel, n_rows, cols, x + t0 * cols, y + t0 * ldy, ldy);
    }
}

#endif

void check_panel_args(std::span<const float> panel, int n_rows, int64_t cols,
                      std::span<const float> x, int64_t n_tokens) {
    if (n_rows < 1 || n_rows > kFmaPanelRows || cols < 1 ||
        static_cast<int64_t>(panel.size()) < fma_panel_size(cols) ||
        static_cast<int64_t>(x.size()) < fma_activations_size(n_tokens, cols)) {
        throw Error("gemm_fma_panel: " + std::to_string(n_rows) + " rows, " + std::to_string(cols) +
                    " columns, " + std::to_string(n_tokens) + " tokens do not fit a panel of " +
                    std::to_string(panel.size()) + " floats and " + std::to_string(x.size()) +
                    " activations");
    }
}

}  // namespace

bool gemm_fma_avx2_available() { return cpu_supports(IsaLevel::Avx2); }
bool gemm_fma_avx512_available() { return cpu_supports(IsaLevel::Avx512); }

void pack_fma_activations(std::span<const float> x, int64_t n_tokens, int64_t cols,
                          std::span<float> packed) {
    if (static_cast<int64_t>(x.size()) < n_tokens * cols ||
        static_cast<int64_t>(packed.size()) < fma_activations_size(n_tokens, cols)) {
        throw Error("pack_fma_activations: buffers too small for " + std::to_string(n_tokens) +
                    " tokens of " + std::to_string(cols));
    }
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kFmaTileTokens) {
        float* tile = packed.data() + t0 * cols;
        for (int64_t t = 0; t < kFmaTileTokens; ++t) {
            const bool present = t0 + t < n_tokens;
            const float* row = x.data() + (t0 + t) * cols;
            for (int64_t k = 0; k < cols; ++k) tile[k * kFmaTileTokens + t] = present ? row[k] : 0;
        }
    }
}

void pack_fma_panel(DType type, const std::byte* rows, int64_t row_stride, int n_rows, int64_t cols,
                    std::span<float> panel) {
    if (n_rows < 1 || n_rows > kFmaPanelRows ||
        static_cast<int64_t>(panel.size()) < fma_panel_size(cols)) {
        throw Error("pack_fma_panel: " + std::to_string(n_rows) + " rows of " +
                    std::to_string(cols) + " columns do not fit a panel of " +
                    std::to_string(panel.size()) + " floats");
    }
    alignas(32) float chunk[kFmaPanelRows][kChunk] = {};
    for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
        const int64_t n = std::min(kChunk, cols - c0);
        for (int r = 0; r < n_rows; ++r) widen_row(type, rows + r * row_stride, c0, n, chunk[r]);
        float* out = panel.data() + c0 * kFmaPanelRows;
#if defined(LLAMA_HAVE_X86_TARGETS)
        if (isa_enabled(IsaLevel::Avx2)) {
            transpose_chunk_avx2(chunk, n, out);
            continue;
        }
#endif
        for (int64_t c = 0; c < n; ++c) {
            for (int r = 0; r < kFmaPanelRows; ++r) out[c * kFmaPanelRows + r] = chunk[r][c];
        }
    }
}

void gemm_fma_panel_scalar(std::span<const float> panel, int n_rows, int64_t cols,
                           std::span<const float> x, int64_t n_tokens, float* y, int64_t ldy) {
    check_panel_args(panel, n_rows, cols, x, n_tokens);
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int r = 0; r < n_rows; ++r) {
            float acc = 0.0f;
            for (int64_t k = 0; k < cols; ++k) {
                const float xt = x[(t / kFmaTileTokens) * kFmaTileTokens * cols +
                                   k * kFmaTileTokens + t % kFmaTileTokens];
                acc = std::fma(panel[k * kFmaPanelRows + r], xt, acc);
            }
            y[t * ldy + r] = acc;
        }
    }
}

void gemm_fma_panel_avx2(std::span<const float> panel, int n_rows, int64_t cols,
                         std::span<const float> x, int64_t n_tokens, float* y, int64_t ldy) {
    check_panel_args(panel, n_rows, cols, x, n_tokens);
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_fma_avx2_available()) throw Error("gemm_fma_panel_avx2: this CPU has no AVX2/FMA");
    static constexpr Tile tiles[] = {tile_avx2<1>, tile_avx2<2>, tile_avx2<3>,
                                     tile_avx2<4>, tile_avx2<5>, tile_avx2<6>};
    run_tiles(tiles, panel.data(), n_rows, cols, x.data(), n_tokens, y, ldy);
#else
    (void)y;
    (void)ldy;
    throw Error("gemm_fma_panel_avx2: no x86 target support in this compiler");
#endif
}

void gemm_fma_panel_avx512(std::span<const float> panel, int n_rows, int64_t cols,
                           std::span<const float> x, int64_t n_tokens, float* y, int64_t ldy) {
    check_panel_args(panel, n_rows, cols, x, n_tokens);
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_fma_avx512_available()) throw Error("gemm_fma_panel_avx512: this CPU has no AVX-512");
    static constexpr Tile tiles[kAvx512Tokens] = {
        tile_avx512<1>, tile_avx512<2>,  tile_avx512<3>,  tile_avx512<4>,
        tile_avx512<5>, tile_avx512<6>,  tile_avx512<7>,  tile_avx512<8>,
        tile_avx512<9>, tile_avx512<10>, tile_avx512<11>, tile_avx512<12>};
    run_tiles(tiles, panel.data(), n_rows, cols, x.data(), n_tokens, y, ldy);
#else
    (void)y;
    (void)ldy;
    throw Error("gemm_fma_panel_avx512: no x86 target support in this compiler");
#endif
}

void gemm_fma_panel(std::span<const float> panel, int n_rows, int64_t cols,
                    std::span<const float> x, int64_t n_tokens, float* y, int64_t ldy) {
    if (isa_enabled(IsaLevel::Avx512)) {
        return gemm_fma_panel_avx512(panel, n_rows, cols, x, n_tokens, y, ldy);
    }
    if (isa_enabled(IsaLevel::Avx2)) {
        return gemm_fma_panel_avx2(panel, n_rows, cols, x, n_tokens, y, ldy);
    }
    gemm_fma_panel_scalar(panel, n_rows, cols, x, n_tokens, y, ldy);
}

}  // namespace llama::kernels
