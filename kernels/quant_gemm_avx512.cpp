// AVX-512 VNNI gemm_quant micro-kernels over a 16-row panel (quant_gemm_impl.h). Compiled with
// target attributes whatever the build flags; only called when the CPU has AVX-512 VNNI.
//
// A zmm register holds 4 values of each of the 16 panel rows; VPDPBUSD multiplies it (unsigned
// codes) by 4 values of one token broadcast to every lane (signed), so each weight register
// loaded serves T tokens and each product lands in its row's lane: no horizontal sums. Q8_0 runs
// on w + 128 and Q4_0 on its raw nibbles, the block accumulator starting at the activation bias
// that cancels the offset (quant_impl.h). The K-quants sum a sub-block in int32, multiply by its
// integer scale (VPMULLD) and add the mins through VPDPWSSD on the 16-value sums of x.

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/avx512_vnni.h"
#include "kernels/cpu_features.h"
#include "kernels/quant_gemm_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

// Tokens per tile: T accumulators plus the 8 weight registers of a 32-value group fit the 32
// zmm registers (the K-quants also hold T integer super-block sums).
constexpr int kTokens32 = kAvx512Tokens32;
constexpr int kTokensK = kAvx512TokensK;

LLAMA_TARGET_AVX512_VNNI inline __m512i broadcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

LLAMA_TARGET_AVX512_VNNI inline void store_rows(float* y, int n_rows, __m512 v) {
    if (n_rows == kPanelRows) {
        _mm512_storeu_ps(y, v);
    } else {
        _mm512_mask_storeu_ps(y, static_cast<__mmask16>((1u << n_rows) - 1), v);
    }
}

// Q8_0 / Q4_0 (and Q4_1 / Q5_1, kMin: unsigned codes, plus m times the block sum of x): tokens
// [t0, t0 + T).
template <bool kQ8, int T, bool kMin = false>
LLAMA_TARGET_AVX512_VNNI void tile_32(const PanelGemmArgs& args, int64_t t0) {
    constexpr int64_t kBlockBytes = kMin ? kQ32MinPanelBlock : kQ32PanelBlock;
    const QuantizedBatch& x = *args.x;
    const int64_t slot0 = x.slot(0, t0), slot_stride = x.slot_stride(t0);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < args.n_blocks; ++b) {
        prefetch_step(args);
        const std::byte* block = args.panel + b * kBlockBytes;
        __m512i w[8];
        for (int k = 0; k < 8; ++k) {
            w[k] = _mm512_load_si512(block + 64 * k);
            if constexpr (kQ8) w[k] = _mm512_xor_si512(w[k], flip);
        }
        const __m512 d = _mm512_load_ps(block + 512);
        const int64_t at = slot0 + b * slot_stride;
        const int8_t* xq = x.qs.data() + at * 32;
        const float* dx = x.scales.data() + at;
        const int32_t* bias = x.bias.data() + at;
        for (int t = 0; t < T; ++t) {
            __m512i sum = kMin ? _mm512_setzero_si512() : _mm512_set1_epi32(bias[t]);
            for (int k = 0; k < 8; ++k) {
                sum = dpbusd_broadcast(sum, w[k], xq + 32 * t + 4 * k);
            }
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum),
                                     _mm512_mul_ps(d, _mm512_set1_ps(dx[t])), acc[t]);
            if constexpr (kMin) {
                acc[t] =
                    _mm512_fmadd_ps(_mm512_load_ps(block + 576),
                                    _mm512_set1_ps(dx[t] * static_cast<float>(bias[t])), acc[t]);
            }
        }
    }
    for (int t = 0; t < T; ++t) store_rows(args.y + (t0 + t) * args.ldy, args.n_rows, acc[t]);
}

// K-quants with kSubs sub-blocks: tokens [t0, t0 + T).
template <int kSubs, int T>
LLAMA_TARGET_AVX512_VNNI void tile_k(const PanelGemmArgs& args, int64_t t0) {
    constexpr int kGroups = 64 / kSubs;  // 4-value groups per sub-block
    constexpr int64_t kBlockBytes = kKPanelScales + 64 * kSubs + kKPanelMinsFromEnd;
    const QuantizedBatch& x = *args.x;
    const int64_t slot0 = x.slot(0, t0), slot_stride = x.slot_stride(t0);
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < args.n_blocks; ++b) {
        prefetch_step(args);
        const std::byte* block = args.panel + b * kBlockBytes;
        const int64_t at = slot0 + b * slot_stride;
        const int8_t* xq = x.qs.data() + at * 256;
        __m512i total[T];
        for (int t = 0; t < T; ++t) total[t] = _mm512_setzero_si512();
        for (int s = 0; s < kSubs; ++s) {
            __m512i w[kGroups];
            for (int g = 0; g < kGroups; ++g) {
                w[g] = _mm512_load_si512(block + 64 * (s * kGroups + g));
            }
            const __m512i scale = _mm512_load_si512(block + kKPanelScales + 64 * s);
            for (int t = 0; t < T; ++t) {
                const int8_t* xs = xq + 256 * t + 4 * kGroups * s;
                __m512i sum = dpbusd_broadcast(_mm512_setzero_si512(), w[0], xs);
                for (int g = 1; g < kGroups; ++g) {
                    sum = dpbusd_broadcast(sum, w[g], xs + 4 * g);
                }
                total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(sum, scale));
            }
        }
        const std::byte* mins = block + kKPanelScales + 64 * kSubs;
        const __m512 d = _mm512_load_ps(mins + 512);
        const __m512 dmin = _mm512_load_ps(mins + 576);
        const int16_t* bsums = x.bsums.data() + at * 16;
        const float* dx = x.scales.data() + at;
        for (int t = 0; t < T; ++t) {
            const auto* pairs = reinterpret_cast<const int8_t*>(bsums + 16 * t);
            __m512i min_sum = _mm512_setzero_si512();
            for (int p = 0; p < 8; ++p) {
                min_sum = _mm512_dpwssd_epi32(min_sum, _mm512_load_si512(mins + 64 * p),
                                              broadcast4(pairs + 4 * p));
            }
            const __m512 dxt = _mm512_set1_ps(dx[t]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, dxt), acc[t]);
            acc[t] =
                _mm512_fnmadd_ps(_mm512_cvtepi32_ps(min_sum), _mm512_mul_ps(dmin, dxt), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) store_rows(args.y + (t0 + t) * args.ldy, args.n_rows, acc[t]);
}

using TileFn = void (*)(const PanelGemmArgs&, int64_t);

// tiles[T - 1] is Tile<T>: full tiles of kMax tokens, then one tile of the rest of each group.
template <int kMax, template <int> class Tile>
void run_tokens(const PanelGemmArgs& args) {
    static constexpr auto tiles = []<size_t... I>(std::index_sequence<I...>) {
        return std::array<TileFn, kMax>{Tile<static_cast<int>(I) + 1>::fn...};
    }
    (std::make_index_sequence<kMax>{});
    for_each_tile(*args.x, kMax, [&](int64_t t0, int64_t count) { tiles[count - 1](args, t0); });
}

template <bool kQ8, bool kMin = false>
struct Tile32 {
    template <int T>
    struct Of {
        static constexpr TileFn fn = tile_32<kQ8, T, kMin>;
    };
};
template <int kSubs>
struct TileK {
    template <int T>
    struct Of {
        static constexpr TileFn fn = tile_k<kSubs, T>;
    };
};

}  // namespace

void panel_gemm_avx512(const PanelGemmArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            run_tokens<kTokens32, Tile32<true>::Of>(args);
            break;
        case DType::Q4_0:
            run_tokens<kTokens32, Tile32<false>::Of>(args);
            break;
        case DType::Q4_1:
        case DType::Q5_1:
            run_tokens<kTokens32, Tile32<false, true>::Of>(args);
            break;
        case DType::Q4_K:
        case DType::Q5_K:
            run_tokens<kTokensK, TileK<8>::Of>(args);
            break;
        case DType::Q6_K:
            run_tokens<kTokensK, TileK<16>::Of>(args);
            break;
        default:
            break;
    }
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void panel_gemm_avx512(const PanelGemmArgs& args) { panel_gemm_scalar(args); }
}  // namespace llama::kernels::detail

#endif
