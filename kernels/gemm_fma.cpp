// fp32 FMA GEMM over widened weight panels (gemm_fma.h): the packers, the scalar reference and the
// AVX2 + FMA and AVX-512 micro-kernels (compiled with target attributes whatever the build flags)
// behind one blocked loop.

#include "kernels/gemm_fma.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/avx2_float.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "kernels/prefetch.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels {

namespace {

float widen(DType type, const std::byte* row, int64_t col) {
    switch (type) {
        case DType::F32: {
            float value;
            std::memcpy(&value, row + col * 4, 4);
            return value;
        }
        case DType::F16:
        case DType::BF16: {
            uint16_t bits;
            std::memcpy(&bits, row + col * 2, 2);
            return type == DType::F16 ? f16_to_f32(bits) : bf16_to_f32(bits);
        }
        default:
            throw Error("gemm_fma: " + std::string(dtype_name(type)) +
                        " is not a plain float type");
    }
}

void pack_panel_scalar(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                       int64_t first_col, int64_t cols, float* panel) {
    for (int64_t k = 0; k < cols; ++k) {
        for (int r = 0; r < kFmaPanelRows; ++r) {
            panel[k * kFmaPanelRows + r] =
                r < n_rows ? widen(type, rows + r * row_stride, first_col + k) : 0.0f;
        }
    }
}

#if defined(LLAMA_HAVE_X86_TARGETS)

using detail::load8;
using detail::transpose8;

// Widening and transposing in one pass: 8 values of 8 rows in, 8 columns of 8 rows out.
template <DType kType>
LLAMA_TARGET_AVX2 void pack_panel_avx2(const std::byte* rows, int64_t row_stride, int n_rows,
                                       int64_t first_col, int64_t cols, float* panel) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
        for (int half = 0; half < 2; ++half) {
            __m256 v[8];
            for (int i = 0; i < 8; ++i) {
                const int r = 8 * half + i;
                v[i] = r < n_rows ? load8<kType>(rows + r * row_stride, first_col + c)
                                  : _mm256_setzero_ps();
            }
            transpose8(v);
            for (int j = 0; j < 8; ++j) {
                _mm256_store_ps(panel + (c + j) * kFmaPanelRows + 8 * half, v[j]);
            }
        }
    }
    pack_panel_scalar(kType, rows, row_stride, n_rows, first_col + c, cols - c,
                      panel + c * kFmaPanelRows);
}

// pack_panel_avx2 for `type` (a plain float type).
void pack_panel_x86(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                    int64_t first_col, int64_t cols, float* panel) {
    switch (type) {
        case DType::F32:
            return pack_panel_avx2<DType::F32>(rows, row_stride, n_rows, first_col, cols, panel);
        case DType::F16:
            return pack_panel_avx2<DType::F16>(rows, row_stride, n_rows, first_col, cols, panel);
        default:
            return pack_panel_avx2<DType::BF16>(rows, row_stride, n_rows, first_col, cols, panel);
    }
}

#endif

void check_rows_args(const FmaRowsArgs& a) {
    if (!is_plain_float(a.type)) {
        throw Error("gemm_fma_rows: " + std::string(dtype_name(a.type)) +
                    " is not a plain float type");
    }
    if (a.n_rows < 1 || a.n_rows > kFmaBlockRows || a.cols < 1 || a.n_tokens < 1 ||
        a.ldy < a.n_rows ||
        static_cast<int64_t>(a.packed_x.size()) < fma_activations_size(a.n_tokens, a.cols)) {
        throw Error("gemm_fma_rows: " + std::to_string(a.n_rows) + " rows (at most " +
                    std::to_string(kFmaBlockRows) + "), " + std::to_string(a.cols) + " columns, " +
                    std::to_string(a.n_tokens) + " tokens, ldy " + std::to_string(a.ldy) +
                    " do not fit " + std::to_string(a.packed_x.size()) + " packed activations");
    }
}

#if defined(LLAMA_HAVE_X86_TARGETS)

// A register tile: the sums of `count` tokens (a compile-time T) over one pass of kc columns of
// the panel(s) at `panel` (a second 16-row panel, if the tile has one, 16 * kc floats on), added
// to the sums carried in sums[t * ld + r] when `carry`. x points at the pass's first column of a
// packed tile, the next packed tile x_stride floats on.
using Tile = void (*)(const float* panel, int64_t kc, const float* x, int64_t x_stride, float* sums,
                      int64_t ld, bool carry);

// 16 rows x T tokens (T <= 6): low[t] and high[t] hold rows 0-7 and 8-15 of token t.
template <int T>
LLAMA_TARGET_AVX2 void tile_avx2(const float* panel, int64_t kc, const float* x, int64_t,
                                 float* sums, int64_t ld, bool carry) {
    // Separate one-dimensional accumulator arrays, every loop over t unrolled in full: with a
    // [T][2] array GCC stored each accumulator back to the stack after every FMA (half speed).
    __m256 low[T];
    __m256 high[T];
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) {
        low[t] = carry ? _mm256_load_ps(sums + t * ld) : _mm256_setzero_ps();
        high[t] = carry ? _mm256_load_ps(sums + t * ld + 8) : _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 w0 = _mm256_load_ps(panel + k * kFmaPanelRows);
        const __m256 w1 = _mm256_load_ps(panel + k * kFmaPanelRows + 8);
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) {
            const __m256 xt = _mm256_broadcast_ss(x + k * kFmaTileTokens + t);
            low[t] = _mm256_fmadd_ps(w0, xt, low[t]);
            high[t] = _mm256_fmadd_ps(w1, xt, high[t]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) {
        _mm256_store_ps(sums + t * ld, low[t]);
        _mm256_store_ps(sums + t * ld + 8, high[t]);
    }
}

// 16 x P rows (P = 1 or 2 panels) x T tokens (T <= 12, two packed tiles), one zmm per token and
// panel: per k P panel loads and P x T FMAs with the broadcast folded in. A zmm FMA takes 4 cycles
// and two issue a cycle, so 8 or more independent sums keep both ports busy; 2 x 12 sums load
// 14 values per 24 FMAs, where 1 x 12 loaded 13 per 12 (in cache, one thread on the Xeon with
// AMX: 170-180 vs 145-155 GFLOP/s). On Zen 4, which splits a zmm FMA in two, the AVX2 tile's
// rate. VDPBF16PS, by contrast, ran one per 2.3 cycles on that Xeon, half the fp32 FMA rate.
template <int P, int T>
LLAMA_TARGET_AVX512 void tile_avx512(const float* panel, int64_t kc, const float* x,
                                     int64_t x_stride, float* sums, int64_t ld, bool carry) {
    const float* second = x + x_stride;  // tokens 6..11
    const float* panel_b = panel + kFmaPanelRows * kc;
    __m512 acc[P][T];
#pragma GCC unroll 12
    for (int t = 0; t < T; ++t) {
        for (int p = 0; p < P; ++p) {
            acc[p][t] = carry ? _mm512_load_ps(sums + t * ld + 16 * p) : _mm512_setzero_ps();
        }
    }
    for (int64_t k = 0; k < kc; ++k) {
        __m512 w[P];
        w[0] = _mm512_load_ps(panel + k * kFmaPanelRows);
        if constexpr (P == 2) w[1] = _mm512_load_ps(panel_b + k * kFmaPanelRows);
#pragma GCC unroll 12
        for (int t = 0; t < T; ++t) {
            const float xt = t < kFmaTileTokens ? x[k * kFmaTileTokens + t]
                                                : second[k * kFmaTileTokens + t - kFmaTileTokens];
            const __m512 xb = _mm512_set1_ps(xt);
            for (int p = 0; p < P; ++p) acc[p][t] = _mm512_fmadd_ps(w[p], xb, acc[p][t]);
        }
    }
#pragma GCC unroll 12
    for (int t = 0; t < T; ++t) {
        for (int p = 0; p < P; ++p) _mm512_store_ps(sums + t * ld + 16 * p, acc[p][t]);
    }
}

// Rows of the carried sums a token takes: the block's rows and one panel more, so that the tokens
// of a tile do not all fall in one L1 set (256 rows apart they would).
int64_t sums_stride(int64_t n_panels) { return (n_panels + 1) * kFmaPanelRows; }

// The blocked loop (gemm_fma.h) with tiles[panels - 1][tokens - 1] of one ISA.
template <int kPanels, int kTokens>
void rows_loop(const Tile (&tiles)[kPanels][kTokens], const FmaRowsArgs& a, FmaScratch& scratch) {
    check_rows_args(a);
    const int64_t n_panels = (a.n_rows + kFmaPanelRows - 1) / kFmaPanelRows;
    const int64_t ld = sums_stride(n_panels);
    const int64_t n_tiles = (a.n_tokens + kTokens - 1) / kTokens;
    scratch.sums.resize(static_cast<size_t>(n_tiles * kTokens * ld));
    scratch.panels.resize(static_cast<size_t>(kPanels * fma_panel_size(kFmaDepth)));
    float* panel = scratch.panels.data();
    const int64_t value_bytes = a.type == DType::F32 ? 4 : 2;
    for (int64_t k0 = 0; k0 < a.cols; k0 += kFmaDepth) {
        const int64_t kc = std::min(kFmaDepth, a.cols - k0);
        for (int64_t p0 = 0; p0 < n_panels; p0 += kPanels) {
            const int64_t count = std::min<int64_t>(kPanels, n_panels - p0);
            for (int64_t p = 0; p < count; ++p) {
                const int64_t row0 = (p0 + p) * kFmaPanelRows;
                pack_panel_x86(a.type, a.rows + row0 * a.row_stride, a.row_stride,
                               static_cast<int>(std::min(kFmaPanelRows, a.n_rows - row0)), k0, kc,
                               panel + p * fma_panel_size(kc));
            }
            // The rows of the next panels (of this pass, or the first of the next), while the
            // tiles run over these.
            const bool last = p0 + kPanels >= n_panels;
            const int64_t next_row = last ? 0 : (p0 + kPanels) * kFmaPanelRows;
            const int64_t next_k = last ? k0 + kFmaDepth : k0;
            RowPrefetch prefetch(a.rows + next_row * a.row_stride + next_k * value_bytes,
                                 a.row_stride,
                                 std::min(a.n_rows, next_row + kPanels * kFmaPanelRows) - next_row,
                                 std::min(kFmaDepth, a.cols - next_k) * value_bytes / 64, n_tiles);
            for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokens) {
                const int64_t n = std::min<int64_t>(kTokens, a.n_tokens - t0);
                prefetch.next_share();
                tiles[count - 1][n - 1](
                    panel, kc, a.packed_x.data() + t0 * a.cols + k0 * kFmaTileTokens,
                    kFmaTileTokens * a.cols, scratch.sums.data() + t0 * ld + p0 * kFmaPanelRows, ld,
                    k0 > 0);
            }
        }
    }
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        std::memcpy(a.y + t * a.ldy, scratch.sums.data() + t * ld,
                    static_cast<size_t>(a.n_rows) * sizeof(float));
    }
}

#endif

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

void pack_fma_panel(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                    int64_t first_col, int64_t cols, std::span<float> panel) {
    if (!is_plain_float(type)) {
        throw Error("pack_fma_panel: " + std::string(dtype_name(type)) +
                    " is not a plain float type");
    }
    if (n_rows < 1 || n_rows > kFmaPanelRows || first_col < 0 || cols < 1 ||
        static_cast<int64_t>(panel.size()) < fma_panel_size(cols)) {
        throw Error("pack_fma_panel: " + std::to_string(n_rows) + " rows of " +
                    std::to_string(cols) + " columns do not fit a panel of " +
                    std::to_string(panel.size()) + " floats");
    }
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (isa_enabled(IsaLevel::Avx2)) {
        return pack_panel_x86(type, rows, row_stride, n_rows, first_col, cols, panel.data());
    }
#endif
    pack_panel_scalar(type, rows, row_stride, n_rows, first_col, cols, panel.data());
}

void gemm_fma_rows_scalar(const FmaRowsArgs& a) {
    check_rows_args(a);
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        const float* tile = a.packed_x.data() + (t / kFmaTileTokens) * kFmaTileTokens * a.cols;
        for (int64_t r = 0; r < a.n_rows; ++r) {
            const std::byte* row = a.rows + r * a.row_stride;
            float acc = 0.0f;
            for (int64_t k = 0; k < a.cols; ++k) {
                acc = std::fma(widen(a.type, row, k), tile[k * kFmaTileTokens + t % kFmaTileTokens],
                               acc);
            }
            a.y[t * a.ldy + r] = acc;
        }
    }
}

void gemm_fma_rows_avx2(const FmaRowsArgs& args, FmaScratch& scratch) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_fma_avx2_available()) throw Error("gemm_fma_rows_avx2: this CPU has no AVX2/FMA");
    static constexpr Tile tiles[1][kFmaTileTokens] = {
        {tile_avx2<1>, tile_avx2<2>, tile_avx2<3>, tile_avx2<4>, tile_avx2<5>, tile_avx2<6>}};
    rows_loop(tiles, args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_fma_rows_avx2: no x86 target support in this compiler");
#endif
}

void gemm_fma_rows_avx512(const FmaRowsArgs& args, FmaScratch& scratch) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (!gemm_fma_avx512_available()) throw Error("gemm_fma_rows_avx512: this CPU has no AVX-512");
    static constexpr Tile tiles[2][2 * kFmaTileTokens] = {
        {tile_avx512<1, 1>, tile_avx512<1, 2>, tile_avx512<1, 3>, tile_avx512<1, 4>,
         tile_avx512<1, 5>, tile_avx512<1, 6>, tile_avx512<1, 7>, tile_avx512<1, 8>,
         tile_avx512<1, 9>, tile_avx512<1, 10>, tile_avx512<1, 11>, tile_avx512<1, 12>},
        {tile_avx512<2, 1>, tile_avx512<2, 2>, tile_avx512<2, 3>, tile_avx512<2, 4>,
         tile_avx512<2, 5>, tile_avx512<2, 6>, tile_avx512<2, 7>, tile_avx512<2, 8>,
         tile_avx512<2, 9>, tile_avx512<2, 10>, tile_avx512<2, 11>, tile_avx512<2, 12>}};
    rows_loop(tiles, args, scratch);
#else
    (void)args;
    (void)scratch;
    throw Error("gemm_fma_rows_avx512: no x86 target support in this compiler");
#endif
}

void gemm_fma_rows(const FmaRowsArgs& args, FmaScratch& scratch) {
    if (isa_enabled(IsaLevel::Avx512)) return gemm_fma_rows_avx512(args, scratch);
    if (isa_enabled(IsaLevel::Avx2)) return gemm_fma_rows_avx2(args, scratch);
    gemm_fma_rows_scalar(args);
}

}  // namespace llama::kernels
