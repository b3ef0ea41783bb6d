// AVX2 gemm_quant micro-kernels over a 16-row panel (quant_gemm_impl.h), run as two halves of 8
// rows (a ymm register holds 4 values of each of 8 rows). Compiled with target attributes
// whatever the build flags; only called when the CPU has AVX2, FMA and F16C.
//
// VPMADDUBSW multiplies the unsigned codes by 4 broadcast values of one token and adds pairs into
// saturating int16, so the int16 sums must stay below 32767: a lane sums 2 values per
// instruction, at most |q| * 127 each. Q4_0 (q <= 15) adds 8 instructions' results in int16 (16
// values, 30480), Q4_K and Q5_K 4 (measured faster for Q4_K than 8) and Q6_K 2, before VPMADDWD
// widens them to int32 (times the sub-block scale for the K-quants). Q8_0 is signed: its panel is
// split into the nibbles of w + 128, two Q4_0-like products (tile_q8_split).
//
// On a CPU with AVX-VNNI (cpu_features.h) the Q8_0 and Q4_0 panels run tile_32_vnni instead:
// VPDPBUSD into int32, one instruction where the tiles above take two to four (one thread, 4096 x
// 4096 x 128 tokens, Intel Xeon: Q8_0 116 -> 206 GOP/s, Q4_0 198 -> 236).

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu_features.h"
#include "kernels/quant_gemm_impl.h"
#include "kernels/quant_interleave.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)

namespace llama::kernels::detail {
namespace {

// Tokens per tile: T block sums, T float accumulators and the loop's temporaries fit the 16 ymm
// registers.
constexpr int kTokens32 = kAvx2Tokens32;
constexpr int kTokensK = kAvx2TokensK;

LLAMA_TARGET_AVX2 inline __m256i broadcast4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

LLAMA_TARGET_AVX2 inline __m256i load(const std::byte* p) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
}

LLAMA_TARGET_AVX2 inline void store_rows(float* y, int n_rows, __m256 v) {
    if (n_rows >= 8) {
        _mm256_storeu_ps(y, v);
    } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, v);
        std::memcpy(y, tmp, static_cast<size_t>(n_rows) * sizeof(float));
    }
}

// a + b, opaque to the compiler: GCC reassociates _mm256_add_epi16 chains into trees that keep
// every product of a run live at once, and the K-quant tile then spilled its sums to the stack.
LLAMA_TARGET_AVX2 inline __m256i add_epi16_in_order(__m256i a, __m256i b) {
    __m256i sum;
    asm("vpaddw %2, %1, %0" : "=x"(sum) : "x"(a), "x"(b));
    return sum;
}

// Q4_0 / Q4_1 / Q5_1: tokens [t0, t0 + T), rows 0-7 (kHalves 1) or 0-15 (2) of the panel. Each
// weight register is loaded once per block and multiplied by all T tokens (weights outer, tokens
// inner), and each token broadcast serves both 8-row halves, so the panel is read once per token
// tile. kWide: Q5_1, whose codes up to 31 would overflow 8 int16 sums, widened each time. kMin:
// Q4_1 / Q5_1, the block's product without the bias plus m times the block sum of x.
template <bool kWide, int kHalves, int T, bool kMin = false>
LLAMA_TARGET_AVX2 void tile_32(const PanelGemmArgs& args, int64_t t0) {
    constexpr int64_t kBlockBytes = kMin ? kQ32MinPanelBlock : kQ32PanelBlock;
    const QuantizedBatch& x = *args.x;
    const int64_t slot0 = x.slot(0, t0), slot_stride = x.slot_stride(t0);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[kHalves][T];
    for (int h = 0; h < kHalves; ++h) {
        for (int t = 0; t < T; ++t) acc[h][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < args.n_blocks; ++b) {
        prefetch_step(args);
        const std::byte* block = args.panel + b * kBlockBytes;
        const int64_t at = slot0 + b * slot_stride;
        const int8_t* xq = x.qs.data() + at * 32;
        __m256i sum[kHalves][T];  // int16 pair sums; kWide: int32
        for (int h = 0; h < kHalves; ++h) {
            for (int t = 0; t < T; ++t) sum[h][t] = _mm256_setzero_si256();
        }
        // Unrolled further, GCC hoists the broadcasts of every k and spills the weights and
        // sums.
#pragma GCC unroll 2
        for (int k = 0; k < 8; ++k) {
            __m256i w[kHalves];
            for (int h = 0; h < kHalves; ++h) w[h] = load(block + 64 * k + 32 * h);
            for (int t = 0; t < T; ++t) {
                const __m256i xt = broadcast4(xq + 32 * t + 4 * k);
                for (int h = 0; h < kHalves; ++h) {
                    const __m256i p = _mm256_maddubs_epi16(w[h], xt);
                    if constexpr (kWide) {
                        sum[h][t] = _mm256_add_epi32(sum[h][t], _mm256_madd_epi16(p, ones));
                    } else {
                        sum[h][t] = _mm256_add_epi16(sum[h][t], p);
                    }
                }
            }
        }
        const float* dx = x.scales.data() + at;
        for (int h = 0; h < kHalves; ++h) {
            const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(block + 512 + 32 * h));
            for (int t = 0; t < T; ++t) {
                __m256i dot = sum[h][t];
                if constexpr (!kWide) {
                    dot = _mm256_madd_epi16(dot, ones);
                    if constexpr (!kMin)
                        dot = _mm256_add_epi32(dot, _mm256_set1_epi32(x.bias[at + t]));
                }
                acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                                            _mm256_mul_ps(d, _mm256_set1_ps(dx[t])), acc[h][t]);
                if constexpr (kMin) {
                    const __m256 m =
                        _mm256_load_ps(reinterpret_cast<const float*>(block + 576 + 32 * h));
                    acc[h][t] = _mm256_fmadd_ps(
                        m, _mm256_set1_ps(dx[t] * static_cast<float>(x.bias[at + t])), acc[h][t]);
                }
            }
        }
    }
    for (int h = 0; h < kHalves; ++h) {
        for (int t = 0; t < T; ++t) {
            store_rows(args.y + (t0 + t) * args.ldy + 8 * h, args.n_rows - 8 * h, acc[h][t]);
        }
    }
}

// Q8_0 on a split panel (split_q8_panel_avx2): w + 128 = 16 * high + low with both nibbles
// 0..15, so VPMADDUBSW multiplies them by the signed activations directly and 8 results add up
// in int16 (8 * 2 * 15 * 128 < 32767) as Q4_0's do. The sum starts at the activation bias
// (-128 * block sum) that cancels the offset. Per 32 products that is two VPMADDUBSW and two
// int16 adds, where ggml's sign trick (VPMADDUBSW of |w| and x with w's sign) takes a sign
// (VPSIGNB, or XOR and SUB), VPMADDUBSW, VPMADDWD and an int32 add: VPMADDUBSW, VPMADDWD and
// VPSIGNB share two ports (Intel and Zen 4 alike), which held that tile at 3 of them per 32
// products. One thread, 4096 x 4096 x 128 tokens, Intel Xeon, alternating runs: 95-105 -> 105-112
// GOP/s. One 8-row half at a time (the two planes' int16 sums take two registers a token).
template <int T>
LLAMA_TARGET_AVX2 void tile_q8_split(const PanelGemmArgs& args, int64_t t0, int half) {
    const QuantizedBatch& x = *args.x;
    const int64_t slot0 = x.slot(0, t0), slot_stride = x.slot_stride(t0);
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < args.n_blocks; ++b) {
        prefetch_step(args);
        const std::byte* block = args.panel + b * kQ8SplitPanelBlock + 32 * half;
        const int64_t at = slot0 + b * slot_stride;
        const int8_t* xq = x.qs.data() + at * 32;
        __m256i low[T], high[T];
        {
            const __m256i w_low = load(block), w_high = load(block + 512);
            for (int t = 0; t < T; ++t) {
                const __m256i xt = broadcast4(xq + 32 * t);
                low[t] = _mm256_maddubs_epi16(w_low, xt);
                high[t] = _mm256_maddubs_epi16(w_high, xt);
            }
        }
#pragma GCC unroll 7
        for (int k = 1; k < 8; ++k) {
            const __m256i w_low = load(block + 64 * k);
            const __m256i w_high = load(block + 512 + 64 * k);
            for (int t = 0; t < T; ++t) {
                const __m256i xt = broadcast4(xq + 32 * t + 4 * k);
                low[t] = add_epi16_in_order(low[t], _mm256_maddubs_epi16(w_low, xt));
                high[t] = add_epi16_in_order(high[t], _mm256_maddubs_epi16(w_high, xt));
            }
        }
        const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(block + 1024));
        const float* dx = x.scales.data() + at;
        for (int t = 0; t < T; ++t) {
            const __m256i dot =
                _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(high[t], _mm256_set1_epi16(16)),
                                                  _mm256_madd_epi16(low[t], _mm256_set1_epi16(1))),
                                 _mm256_set1_epi32(x.bias[at + t]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                                     _mm256_mul_ps(d, _mm256_set1_ps(dx[t])), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        store_rows(args.y + (t0 + t) * args.ldy + 8 * half, args.n_rows - 8 * half, acc[t]);
    }
}

// Q8_0 / Q4_0 on AVX-VNNI: the tile above with VPDPBUSD, which multiplies unsigned codes by
// signed activations and adds the groups of 4 products straight into int32. Q8_0 runs on
// w + 128 (XOR 0x80) and Q4_0 on its nibbles, each sum starting at the activation bias that
// cancels the offset (quant_impl.h), as the AVX-512 VNNI tile does: one instruction per 4 x 8
// products where the AVX2 tile takes VPMADDUBSW, VPMADDWD, an add and (Q8_0) the sign.
template <bool kQ8, int kHalves, int T>
LLAMA_TARGET_AVX_VNNI void tile_32_vnni(const PanelGemmArgs& args, int64_t t0) {
    const QuantizedBatch& x = *args.x;
    const int64_t slot0 = x.slot(0, t0), slot_stride = x.slot_stride(t0);
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256 acc[kHalves][T];
    for (int h = 0; h < kHalves; ++h) {
        for (int t = 0; t < T; ++t) acc[h][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < args.n_blocks; ++b) {
        prefetch_step(args);
        const std::byte* block = args.panel + b * kQ32PanelBlock;
        const int64_t at = slot0 + b * slot_stride;
        const int8_t* xq = x.qs.data() + at * 32;
        __m256i sum[kHalves][T];
        for (int h = 0; h < kHalves; ++h) {
            for (int t = 0; t < T; ++t) sum[h][t] = _mm256_set1_epi32(x.bias[at + t]);
        }
#pragma GCC unroll 2
        for (int k = 0; k < 8; ++k) {
            __m256i w[kHalves];
            for (int h = 0; h < kHalves; ++h) {
                w[h] = load(block + 64 * k + 32 * h);
                if constexpr (kQ8) w[h] = _mm256_xor_si256(w[h], flip);
            }
            for (int t = 0; t < T; ++t) {
                const __m256i xt = broadcast4(xq + 32 * t + 4 * k);
                for (int h = 0; h < kHalves; ++h) {
                    sum[h][t] = _mm256_dpbusd_avx_epi32(sum[h][t], w[h], xt);
                }
            }
        }
        const float* dx = x.scales.data() + at;
        for (int h = 0; h < kHalves; ++h) {
            const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(block + 512 + 32 * h));
            for (int t = 0; t < T; ++t) {
                acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[h][t]),
                                            _mm256_mul_ps(d, _mm256_set1_ps(dx[t])), acc[h][t]);
            }
        }
    }
    for (int h = 0; h < kHalves; ++h) {
        for (int t = 0; t < T; ++t) {
            store_rows(args.y + (t0 + t) * args.ldy + 8 * h, args.n_rows - 8 * h, acc[h][t]);
        }
    }
}

// K-quants with kSubs sub-blocks, kRun VPMADDUBSW results summed in int16: tokens [t0, t0 + T),
// weights outer and tokens inner as above.
template <int kSubs, int kRun, int T>
LLAMA_TARGET_AVX2 void tile_k(const PanelGemmArgs& args, int64_t t0, int half) {
    constexpr int kGroups = 64 / kSubs;  // 4-value groups per sub-block
    constexpr int64_t kBlockBytes = kKPanelScales + 64 * kSubs + kKPanelMinsFromEnd;
    const QuantizedBatch& x = *args.x;
    const int64_t slot0 = x.slot(0, t0), slot_stride = x.slot_stride(t0);
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < args.n_blocks; ++b) {
        prefetch_step(args);
        const std::byte* block = args.panel + b * kBlockBytes + 32 * half;
        const int64_t at = slot0 + b * slot_stride;
        const int8_t* xq = x.qs.data() + at * 256;
        __m256i total[T];
        for (int t = 0; t < T; ++t) total[t] = _mm256_setzero_si256();
        for (int s = 0; s < kSubs; ++s) {
            // The int32 scale as an int16 pair, for VPMADDWD.
            const __m256i scale32 = load(block + kKPanelScales + 64 * s);
            const __m256i scale = _mm256_blend_epi16(scale32, _mm256_slli_epi32(scale32, 16), 0xAA);
            for (int g0 = 0; g0 < kGroups; g0 += kRun) {
                __m256i p[T];
#pragma GCC unroll 8
                for (int g = g0; g < g0 + kRun; ++g) {
                    const __m256i w = load(block + 64 * (s * kGroups + g));
                    const int8_t* xg = xq + 4 * (s * kGroups + g);
                    for (int t = 0; t < T; ++t) {
                        const __m256i product = _mm256_maddubs_epi16(w, broadcast4(xg + 256 * t));
                        p[t] = g == g0 ? product : add_epi16_in_order(p[t], product);
                    }
                }
                for (int t = 0; t < T; ++t) {
                    total[t] = _mm256_add_epi32(total[t], _mm256_madd_epi16(p[t], scale));
                }
            }
        }
        const std::byte* mins = block + kKPanelScales + 64 * kSubs;
        const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(mins + 512));
        const __m256 dmin = _mm256_load_ps(reinterpret_cast<const float*>(mins + 576));
        const int16_t* bsums = x.bsums.data() + at * 16;
        const float* dx = x.scales.data() + at;
        for (int t = 0; t < T; ++t) {
            const int16_t* pairs = bsums + 16 * t;
            __m256i min_sum = _mm256_madd_epi16(load(mins), broadcast4(pairs));
            for (int p = 1; p < 8; ++p) {
                min_sum = _mm256_add_epi32(
                    min_sum, _mm256_madd_epi16(load(mins + 64 * p), broadcast4(pairs + 2 * p)));
            }
            const __m256 dxt = _mm256_set1_ps(dx[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[t]), _mm256_mul_ps(d, dxt), acc[t]);
            acc[t] =
                _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sum), _mm256_mul_ps(dmin, dxt), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        store_rows(args.y + (t0 + t) * args.ldy + 8 * half, args.n_rows - 8 * half, acc[t]);
    }
}

using TileFn = void (*)(const PanelGemmArgs&, int64_t, int);

// tiles[T - 1] is Tile<T>: full tiles of kMax tokens, then one tile of the rest; each tile runs
// over the panel's two 8-row halves (the second only if it holds rows).
template <int kMax, template <int> class Tile>
void run_tokens(const PanelGemmArgs& args) {
    static constexpr auto tiles = []<size_t... I>(std::index_sequence<I...>) {
        return std::array<TileFn, kMax>{Tile<static_cast<int>(I) + 1>::fn...};
    }
    (std::make_index_sequence<kMax>{});
    const int halves = args.n_rows > 8 ? 2 : 1;
    for_each_tile(*args.x, kMax, [&](int64_t t0, int64_t count) {
        for (int half = 0; half < halves; ++half) tiles[count - 1](args, t0, half);
    });
}

using Tile32Fn = void (*)(const PanelGemmArgs&, int64_t);

// Q4_0 / Q4_1 / Q5_1 (and Q8_0 / Q4_0 with kVnni, the AVX-VNNI tiles, no kMin): full tiles of
// kTokens32 tokens, then one of the rest; panels of more than 8 rows run both halves in one pass.
// kQ8: Q8_0 (VNNI) or Q5_1's wide codes (tile_32's kWide).
template <bool kQ8, bool kMin = false, bool kVnni = false>
void run_tokens_32(const PanelGemmArgs& args) {
    static constexpr auto tiles = []<size_t... I>(std::index_sequence<I...>) {
        if constexpr (kVnni) {
            return std::array<std::array<Tile32Fn, kTokens32>, 2>{
                {{tile_32_vnni<kQ8, 1, static_cast<int>(I) + 1>...},
                 {tile_32_vnni<kQ8, 2, static_cast<int>(I) + 1>...}}};
        } else {
            return std::array<std::array<Tile32Fn, kTokens32>, 2>{
                {{tile_32<kQ8, 1, static_cast<int>(I) + 1, kMin>...},
                 {tile_32<kQ8, 2, static_cast<int>(I) + 1, kMin>...}}};
        }
    }
    (std::make_index_sequence<kTokens32>{});
    const auto& by_count = tiles[args.n_rows > 8 ? 1 : 0];
    for_each_tile(*args.x, kTokens32,
                  [&](int64_t t0, int64_t count) { by_count[count - 1](args, t0); });
}

template <int T>
struct TileQ8Split {
    static constexpr TileFn fn = tile_q8_split<T>;
};

template <int kSubs, int kRun>
struct TileK {
    template <int T>
    struct Of {
        static constexpr TileFn fn = tile_k<kSubs, kRun, T>;
    };
};

}  // namespace

// Two 8x8 word transposes (rows 0-7, then 8-15): 32-bit and 64-bit interleaves within 128-bit
// lanes, then the lanes of rows 0-3 and 4-7 paired.
LLAMA_TARGET_AVX2 void transpose_16x8_avx2(const uint32_t* rows, int64_t row_stride,
                                           std::byte* out) {
    for (int half = 0; half < 2; ++half) {
        __m256i r[8];
        for (int i = 0; i < 8; ++i) {
            r[i] = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(rows + (8 * half + i) * row_stride));
        }
        __m256i t[8];
        for (int i = 0; i < 4; ++i) {
            t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        __m256i u[8];
        for (int h = 0; h < 2; ++h) {
            __m256i* tt = t + 4 * h;
            u[4 * h + 0] = _mm256_unpacklo_epi64(tt[0], tt[2]);
            u[4 * h + 1] = _mm256_unpackhi_epi64(tt[0], tt[2]);
            u[4 * h + 2] = _mm256_unpacklo_epi64(tt[1], tt[3]);
            u[4 * h + 3] = _mm256_unpackhi_epi64(tt[1], tt[3]);
        }
        for (int j = 0; j < 4; ++j) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(out + 64 * j + 32 * half),
                               _mm256_permute2x128_si256(u[j], u[j + 4], 0x20));
            _mm256_store_si256(reinterpret_cast<__m256i*>(out + 64 * (j + 4) + 32 * half),
                               _mm256_permute2x128_si256(u[j], u[j + 4], 0x31));
        }
    }
}

namespace {

// 32 signed bytes at in as the nibbles of their value + 128, at low and high.
LLAMA_TARGET_AVX2 inline void split_32(const std::byte* in, std::byte* low, std::byte* high) {
    const __m256i w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in)),
                                       _mm256_set1_epi8(static_cast<char>(0x80)));
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    _mm256_store_si256(reinterpret_cast<__m256i*>(low), _mm256_and_si256(w, nibble));
    _mm256_store_si256(reinterpret_cast<__m256i*>(high),
                       _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble));
}

}  // namespace

LLAMA_TARGET_AVX2 void pack_q8_0_r16_split_avx2(const std::byte* group, int64_t n_blocks,
                                                std::byte* panel) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* in = group + b * kQ8_0R16Group;
        std::byte* out = panel + b * kQ8SplitPanelBlock;
        for (int i = 0; i < 16; ++i) {
            split_32(in + kQ8_0R16Qs + 32 * i, out + 32 * i, out + 512 + 32 * i);
        }
        for (int i = 0; i < 2; ++i) {
            const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + kQ8_0R16D) + i);
            _mm256_store_ps(reinterpret_cast<float*>(out + 1024) + 8 * i, _mm256_cvtph_ps(d));
        }
    }
}

LLAMA_TARGET_AVX2 void split_q8_panel_avx2(std::byte* panel, int64_t n_blocks) {
    // From the last block down: block b's split form starts at or after its packed form, so
    // it overwrites only blocks already split or itself (copied first).
    for (int64_t b = n_blocks - 1; b >= 0; --b) {
        alignas(64) std::byte packed[kQ32PanelBlock];
        std::memcpy(packed, panel + b * kQ32PanelBlock, sizeof(packed));
        std::byte* out = panel + b * kQ8SplitPanelBlock;
        for (int i = 0; i < 16; ++i) split_32(packed + 32 * i, out + 32 * i, out + 512 + 32 * i);
        std::memcpy(out + 1024, packed + 512, 64);
    }
}

void panel_gemm_avx2(const PanelGemmArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            run_tokens<kTokens32, TileQ8Split>(args);
            break;
        case DType::Q4_0:
            run_tokens_32<false>(args);
            break;
        case DType::Q4_1:
            run_tokens_32<false, true>(args);
            break;
        case DType::Q5_1:
            run_tokens_32<true, true>(args);
            break;
        case DType::Q4_K:
            run_tokens<kTokensK, TileK<8, 4>::Of>(args);
            break;
        case DType::Q5_K:
            run_tokens<kTokensK, TileK<8, 4>::Of>(args);
            break;
        case DType::Q6_K:
            run_tokens<kTokensK, TileK<16, 2>::Of>(args);
            break;
        default:
            break;
    }
}

void panel_gemm_avx_vnni(const PanelGemmArgs& args) {
    switch (args.dtype) {
        case DType::Q8_0:
            run_tokens_32<true, false, true>(args);
            break;
        case DType::Q4_0:
            run_tokens_32<false, false, true>(args);
            break;
        default:
            panel_gemm_avx2(args);
            break;
    }
}

}  // namespace llama::kernels::detail

#else

namespace llama::kernels::detail {
void panel_gemm_avx2(const PanelGemmArgs& args) { panel_gemm_scalar(args); }
void split_q8_panel_avx2(std::byte*, int64_t) {}
void pack_q8_0_r16_split_avx2(const std::byte*, int64_t, std::byte*) {}
void panel_gemm_avx_vnni(const PanelGemmArgs& args) { panel_gemm_scalar(args); }
void transpose_16x8_avx2(const uint32_t* rows, int64_t row_stride, std::byte* out) {
    transpose_16x8_portable(rows, row_stride, out);
}
}  // namespace llama::kernels::detail

#endif
