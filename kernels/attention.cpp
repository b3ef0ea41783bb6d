// Causal grouped-query attention over one sequence's KV cache, whose rows are fp32 or IEEE half.
// Prompt processing (n_q > 1) runs two GEMMs per head through BLAS, on half rows widened once per
// kv head into scratch; single-token decode uses direct dot products, where a BLAS call per head
// would cost more in overhead than the arithmetic, and widens half rows in registers as it reads
// them. Decode is bound by the bytes of cache it streams, which a half cache halves.

#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>

#include "kernels/avx512_float.h"
#include "kernels/cpu_features.h"
#include "kernels/fp16_scalar.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "kernels/vec_math.h"

namespace llama::kernels {

namespace {

// Rows of the cache are kv_stride elements apart and hold every kv head. Decode walks them in
// order and computes all heads of [head_begin, head_end) from each row, so the cache streams
// through memory sequentially, each kv head's part of a row is read once for all the query heads
// of its group, and no TLB entry or DRAM page is revisited per head. The hardware prefetchers
// follow this stream on their own (software prefetch 4 to 32 rows ahead measured up to 25%
// slower, unlike in the old head-by-head walk down a column of the cache). Rows go in blocks of
// kRowBlock, one FMA chain each: they hide the FMA latency of a dot product, and per kv head the
// loads of a whole block are in flight together. Measured on 32 heads x 128 at 2048 rows, 4, 8,
// 12 and 16 rows took 1.6, 1.35, 1.25 and 1.2 ms (f16, 8 kv heads); 7B shapes gain ~5%. AVX2
// has 16 vector registers, so its blocks are 8 rows: 16 accumulators and a query would spill.
template <IsaLevel kIsa>
constexpr int64_t kRowBlock = kIsa == IsaLevel::Avx2 ? 8 : 16;

inline float widen(float x) { return x; }
inline float widen(uint16_t h) { return detail::f16_to_f32_scalar(h); }

// The block kernels, once per ISA level: scores[b * n_valid + j0 + r] = scale * q_b . k_{j0+r}
// and out_b += sum_r scores[b * n_valid + j0 + r] * v_{j0 + r} for rows [j0, j0 + R) and heads
// b < n_heads.
namespace portable {
// Plain loops over independent lanes that the compiler vectorises for the build's target.

template <class T>
float dot(const float* q, const T* k, int64_t n) {
    float lanes[detail::kLanes] = {};
    int64_t i = 0;
    for (; i + detail::kLanes <= n; i += detail::kLanes) {
        for (int64_t l = 0; l < detail::kLanes; ++l) lanes[l] += q[i + l] * widen(k[i + l]);
    }
    float total = 0.0f;
    for (; i < n; ++i) total += q[i] * widen(k[i]);
    for (int64_t l = 0; l < detail::kLanes; ++l) total += lanes[l];
    return total;
}

template <int R, class T>
void score_block(const float* q, int64_t n_heads, const T* k, int64_t kv_stride, int64_t head_dim,
                 int64_t j0, int64_t n_valid, float scale, float* scores) {
    for (int64_t b = 0; b < n_heads; ++b) {
        for (int r = 0; r < R; ++r) {
            scores[b * n_valid + j0 + r] =
                dot(q + b * head_dim, k + (j0 + r) * kv_stride, head_dim) * scale;
        }
    }
}

template <int R, class T>
void accumulate_block(const float* scores, int64_t n_heads, const T* v, int64_t kv_stride,
                      int64_t head_dim, int64_t j0, int64_t n_valid, float* out) {
    for (int64_t b = 0; b < n_heads; ++b) {
        float* out_b = out + b * head_dim;
        for (int r = 0; r < R; ++r) {
            const float p = scores[b * n_valid + j0 + r];
            const T* v_row = v + (j0 + r) * kv_stride;
            for (int64_t d = 0; d < head_dim; ++d) out_b[d] += p * widen(v_row[d]);
        }
    }
}

}  // namespace portable

#if defined(LLAMA_HAVE_X86_TARGETS)
namespace avx2 {

// Eight cache elements widened to fp32.
LLAMA_TARGET_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
LLAMA_TARGET_AVX2 inline __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

LLAMA_TARGET_AVX2 inline float reduce_add(__m256 v) {
    const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    return _mm_cvtss_f32(_mm_add_ss(sum2, _mm_movehdup_ps(sum2)));
}

// As avx512::score_block, eight lanes at a time; a head_dim tail that is not a multiple of 8 is
// finished in scalar code.
template <int R, class T>
LLAMA_TARGET_AVX2 void score_block(const float* q, int64_t n_heads, const T* k, int64_t kv_stride,
                                   int64_t head_dim, int64_t j0, int64_t n_valid, float scale,
                                   float* scores) {
    const T* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = k + (j0 + r) * kv_stride;
    const int64_t vector_end = head_dim / 8 * 8;
    for (int64_t b = 0; b < n_heads; ++b) {
        const float* q_b = q + b * head_dim;
        __m256 acc[R];
        for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
        for (int64_t d = 0; d < vector_end; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q_b + d);
            for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(load8(rows[r] + d), qv, acc[r]);
        }
        for (int r = 0; r < R; ++r) {
            float total = reduce_add(acc[r]);
            for (int64_t d = vector_end; d < head_dim; ++d) total += q_b[d] * widen(rows[r][d]);
            scores[b * n_valid + j0 + r] = total * scale;
        }
    }
}

template <int R, class T>
LLAMA_TARGET_AVX2 void accumulate_block(const float* scores, int64_t n_heads, const T* v,
                                        int64_t kv_stride, int64_t head_dim, int64_t j0,
                                        int64_t n_valid, float* out) {
    const T* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = v + (j0 + r) * kv_stride;
    const int64_t vector_end = head_dim / 8 * 8;
    for (int64_t b = 0; b < n_heads; ++b) {
        __m256 p[R];
        for (int r = 0; r < R; ++r) p[r] = _mm256_set1_ps(scores[b * n_valid + j0 + r]);
        float* out_b = out + b * head_dim;
        for (int64_t d = 0; d < vector_end; d += 8) {
            __m256 acc = _mm256_loadu_ps(out_b + d);
            for (int r = 0; r < R; ++r) acc = _mm256_fmadd_ps(p[r], load8(rows[r] + d), acc);
            _mm256_storeu_ps(out_b + d, acc);
        }
        for (int64_t d = vector_end; d < head_dim; ++d) {
            for (int r = 0; r < R; ++r)
                out_b[d] += scores[b * n_valid + j0 + r] * widen(rows[r][d]);
        }
    }
}
}  // namespace avx2

namespace avx512 {

// Sixteen cache elements widened to fp32; the masked forms read only the lanes in `mask`.
LLAMA_TARGET_AVX512 inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
LLAMA_TARGET_AVX512 inline __m512 load16(const uint16_t* p) { return detail::load_f16x16(p); }
LLAMA_TARGET_AVX512 inline __m512 load16(const float* p, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, p);
}
LLAMA_TARGET_AVX512 inline __m512 load16(const uint16_t* p, __mmask16 mask) {
    return detail::load_f16x16(p, mask);
}

// The horizontal sums of four vectors, in one: pairwise interleaved adds first, so the four
// reductions share their shuffles.
LLAMA_TARGET_AVX512 inline __m128 sum4(const __m512 v[4]) {
    // Per 128-bit lane: [v0 v1 v0 v1] and [v2 v3 v2 v3] partial sums, then [v0 v1 v2 v3].
    const __m512 s01 =
        _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
    const __m512 s23 =
        _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
    const __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23));
    const __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23));
    const __m512 s = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
    // Add the four 128-bit lanes.
    const __m256 half =
        _mm256_add_ps(_mm512_castps512_ps256(s),
                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

// scores[b * n_valid + j] = scale * q_b . k_j for rows j in [j0, j0 + R) and heads b < n_heads.
template <int R, class T>
LLAMA_TARGET_AVX512 void score_block(const float* q, int64_t n_heads, const T* k, int64_t kv_stride,
                                     int64_t head_dim, int64_t j0, int64_t n_valid, float scale,
                                     float* scores) {
    const T* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = k + (j0 + r) * kv_stride;
    for (int64_t b = 0; b < n_heads; ++b) {
        const float* q_b = q + b * head_dim;
        __m512 acc[R];
        for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
        int64_t d = 0;
        for (; d + 16 <= head_dim; d += 16) {
            const __m512 qv = _mm512_loadu_ps(q_b + d);
            for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(load16(rows[r] + d), qv, acc[r]);
        }
        if (d < head_dim) {
            const auto mask = static_cast<__mmask16>((1u << (head_dim - d)) - 1);
            const __m512 qv = _mm512_maskz_loadu_ps(mask, q_b + d);
            for (int r = 0; r < R; ++r) {
                acc[r] = _mm512_fmadd_ps(load16(rows[r] + d, mask), qv, acc[r]);
            }
        }
        if constexpr (R % 4 == 0) {
            for (int r = 0; r < R; r += 4) {
                _mm_storeu_ps(scores + b * n_valid + j0 + r,
                              _mm_mul_ps(sum4(acc + r), _mm_set1_ps(scale)));
            }
        } else {
            for (int r = 0; r < R; ++r) {
                scores[b * n_valid + j0 + r] = _mm512_reduce_add_ps(acc[r]) * scale;
            }
        }
    }
}

// out_b += sum_r scores[b * n_valid + j0 + r] * v_{j0 + r} for heads b < n_heads.
template <int R, class T>
LLAMA_TARGET_AVX512 void accumulate_block(const float* scores, int64_t n_heads, const T* v,
                                          int64_t kv_stride, int64_t head_dim, int64_t j0,
                                          int64_t n_valid, float* out) {
    const T* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = v + (j0 + r) * kv_stride;
    for (int64_t b = 0; b < n_heads; ++b) {
        __m512 p[R];
        for (int r = 0; r < R; ++r) p[r] = _mm512_set1_ps(scores[b * n_valid + j0 + r]);
        float* out_b = out + b * head_dim;
        int64_t d = 0;
        for (; d + 16 <= head_dim; d += 16) {
            __m512 acc = _mm512_loadu_ps(out_b + d);
            for (int r = 0; r < R; ++r) acc = _mm512_fmadd_ps(p[r], load16(rows[r] + d), acc);
            _mm512_storeu_ps(out_b + d, acc);
        }
        if (d < head_dim) {
            const auto mask = static_cast<__mmask16>((1u << (head_dim - d)) - 1);
            __m512 acc = _mm512_maskz_loadu_ps(mask, out_b + d);
            for (int r = 0; r < R; ++r) acc = _mm512_fmadd_ps(p[r], load16(rows[r] + d, mask), acc);
            _mm512_mask_storeu_ps(out_b + d, mask, acc);
        }
    }
}

}  // namespace avx512
#endif

// The block kernels of ISA level kIsa (Scalar, Avx2 or Avx512), so the drivers below are written
// once and instantiated per level.
template <IsaLevel kIsa, int R, class T>
void score_block(const float* q, int64_t n_heads, const T* k, int64_t kv_stride, int64_t head_dim,
                 int64_t j0, int64_t n_valid, float scale, float* scores) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if constexpr (kIsa == IsaLevel::Avx512) {
        return avx512::score_block<R>(q, n_heads, k, kv_stride, head_dim, j0, n_valid, scale,
                                      scores);
    } else if constexpr (kIsa == IsaLevel::Avx2) {
        return avx2::score_block<R>(q, n_heads, k, kv_stride, head_dim, j0, n_valid, scale, scores);
    }
#endif
    portable::score_block<R>(q, n_heads, k, kv_stride, head_dim, j0, n_valid, scale, scores);
}

template <IsaLevel kIsa, int R, class T>
void accumulate_block(const float* scores, int64_t n_heads, const T* v, int64_t kv_stride,
                      int64_t head_dim, int64_t j0, int64_t n_valid, float* out) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if constexpr (kIsa == IsaLevel::Avx512) {
        return avx512::accumulate_block<R>(scores, n_heads, v, kv_stride, head_dim, j0, n_valid,
                                           out);
    } else if constexpr (kIsa == IsaLevel::Avx2) {
        return avx2::accumulate_block<R>(scores, n_heads, v, kv_stride, head_dim, j0, n_valid, out);
    }
#endif
    portable::accumulate_block<R>(scores, n_heads, v, kv_stride, head_dim, j0, n_valid, out);
}

// Query heads [head_begin, head_end) of one token, head h reading kv head h / group. The heads'
// scores are rows of n_valid in `scores`, their outputs head_dim apart in `out`.
struct DecodeHeads {
    int64_t head_begin, head_end, group, head_dim;

    // Calls f(kv head g, first head, head count) for each run of heads sharing a kv head.
    template <class F>
    void for_each_kv_head(F&& f) const {
        for (int64_t h = head_begin; h < head_end;) {
            const int64_t g = h / group;
            const int64_t h_stop = std::min(head_end, (g + 1) * group);
            f(g, h - head_begin, h_stop - h);
            h = h_stop;
        }
    }
};

template <IsaLevel kIsa, int R, class T>
void score_rows(const DecodeHeads& heads, const float* q, const T* k, int64_t kv_stride, int64_t j0,
                int64_t n_valid, float scale, float* scores) {
    const int64_t head_dim = heads.head_dim;
    heads.for_each_kv_head([&](int64_t g, int64_t b, int64_t n) {
        score_block<kIsa, R>(q + b * head_dim, n, k + g * head_dim, kv_stride, head_dim, j0,
                             n_valid, scale, scores + b * n_valid);
    });
}

template <IsaLevel kIsa, int R, class T>
void accumulate_rows(const DecodeHeads& heads, const float* scores, const T* v, int64_t kv_stride,
                     int64_t j0, int64_t n_valid, float* out) {
    const int64_t head_dim = heads.head_dim;
    heads.for_each_kv_head([&](int64_t g, int64_t b, int64_t n) {
        accumulate_block<kIsa, R>(scores + b * n_valid, n, v + g * head_dim, kv_stride, head_dim,
                                  j0, n_valid, out + b * head_dim);
    });
}

// out_h = softmax(q_h K^T * scale) V over cache rows [0, n_valid) for every head of `heads`; q and
// out point at the first head. scores holds one row of n_valid per head.
template <IsaLevel kIsa, class T>
void attend_decode(const DecodeHeads& heads, const float* q, const T* k, const T* v,
                   int64_t kv_stride, int64_t n_valid, float scale, float* scores, float* out) {
    const int64_t n_heads = heads.head_end - heads.head_begin;
    int64_t j = 0;
    for (; j + kRowBlock<kIsa> <= n_valid; j += kRowBlock<kIsa>) {
        score_rows<kIsa, kRowBlock<kIsa>>(heads, q, k, kv_stride, j, n_valid, scale, scores);
    }
    for (; j < n_valid; ++j) score_rows<kIsa, 1>(heads, q, k, kv_stride, j, n_valid, scale, scores);
    for (int64_t b = 0; b < n_heads; ++b) {
        softmax({scores + b * n_valid, static_cast<size_t>(n_valid)}, n_valid);
    }
    std::fill(out, out + n_heads * heads.head_dim, 0.0f);
    j = 0;
    for (; j + kRowBlock<kIsa> <= n_valid; j += kRowBlock<kIsa>) {
        accumulate_rows<kIsa, kRowBlock<kIsa>>(heads, scores, v, kv_stride, j, n_valid, out);
    }
    for (; j < n_valid; ++j) accumulate_rows<kIsa, 1>(heads, scores, v, kv_stride, j, n_valid, out);
}

// Rows [0, n_rows) of one kv head as contiguous fp32 [n_rows, head_dim], for BLAS.
void widen_rows(const uint16_t* src, int64_t stride, int64_t n_rows, int64_t head_dim, float* dst) {
    for (int64_t j = 0; j < n_rows; ++j) {
        f16_to_f32({src + j * stride, static_cast<size_t>(head_dim)},
                   {dst + j * head_dim, static_cast<size_t>(head_dim)});
    }
}

// Queries a block of a many-token attention.
constexpr int64_t kQueryBlock = 64;

template <class T>
void attention_impl(const AttentionShape& shape, int64_t head_begin, int64_t head_end,
                    std::span<const float> q, int64_t q_stride, std::span<const T> k,
                    std::span<const T> v, int64_t kv_stride, std::span<float> out,
                    int64_t out_stride, std::span<float> scratch) {
    const int64_t head_dim = shape.head_dim;
    const int64_t n_q = shape.n_q;
    const int64_t n_kv = shape.n_kv;
    const int64_t group = shape.n_heads / shape.n_kv_heads;
    assert(shape.n_heads % shape.n_kv_heads == 0);
    assert(n_kv == shape.q_pos0 + n_q);
    assert(0 <= head_begin && head_begin <= head_end && head_end <= shape.n_heads);
    assert(static_cast<int64_t>(scratch.size()) >= attention_scratch_size(shape));
    assert(static_cast<int64_t>(q.size()) >= (n_q - 1) * q_stride + shape.n_heads * head_dim);
    assert(static_cast<int64_t>(k.size()) >= (n_kv - 1) * kv_stride + shape.n_kv_heads * head_dim);
    assert(static_cast<int64_t>(v.size()) >= (n_kv - 1) * kv_stride + shape.n_kv_heads * head_dim);
    assert(static_cast<int64_t>(out.size()) >= (n_q - 1) * out_stride + head_end * head_dim);

    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    float* scores = scratch.data();

    if (n_q == 1) {
        const DecodeHeads heads{head_begin, head_end, group, head_dim};
        const float* q_heads = q.data() + head_begin * head_dim;
        float* out_heads = out.data() + head_begin * head_dim;
        if (isa_enabled(IsaLevel::Avx512)) {
            attend_decode<IsaLevel::Avx512>(heads, q_heads, k.data(), v.data(), kv_stride, n_kv,
                                            scale, scores, out_heads);
        } else if (isa_enabled(IsaLevel::Avx2)) {
            attend_decode<IsaLevel::Avx2>(heads, q_heads, k.data(), v.data(), kv_stride, n_kv,
                                          scale, scores, out_heads);
        } else {
            attend_decode<IsaLevel::Scalar>(heads, q_heads, k.data(), v.data(), kv_stride, n_kv,
                                            scale, scores, out_heads);
        }
        return;
    }

    // fp32 K and V of the current kv head: the cache itself, or its rows widened into scratch
    // once per kv head (not per query head).
    float* k_wide = scores + std::max(n_q, shape.n_heads) * n_kv;
    float* v_wide = k_wide + n_kv * head_dim;
    const float* k_g = nullptr;
    const float* v_g = nullptr;
    int64_t g_ready = -1;
    int64_t g_stride = kv_stride;
    for (int64_t h = head_begin; h < head_end; ++h) {
        const int64_t g = h / group;
        if (g != g_ready) {
            if constexpr (std::is_same_v<T, float>) {
                k_g = k.data() + g * head_dim;
                v_g = v.data() + g * head_dim;
            } else {
                widen_rows(k.data() + g * head_dim, kv_stride, n_kv, head_dim, k_wide);
                widen_rows(v.data() + g * head_dim, kv_stride, n_kv, head_dim, v_wide);
                k_g = k_wide;
                v_g = v_wide;
                g_stride = head_dim;
            }
            g_ready = g;
        }
        // Blocks of queries, each against the keys up to its last query's position (the causal
        // triangle: a prompt from position 0 computed every query against every key, half of
        // them then masked): scores[i, j] = scale * q_h[i] . k_g[j], rows past a query's own
        // position masked by the softmax.
        for (int64_t i0 = 0; i0 < n_q; i0 += kQueryBlock) {
            const int64_t rows = std::min(kQueryBlock, n_q - i0);
            const int64_t keys = shape.q_pos0 + i0 + rows;
            const float* q_h = q.data() + i0 * q_stride + h * head_dim;
            float* out_h = out.data() + i0 * out_stride + h * head_dim;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                        static_cast<int>(keys), static_cast<int>(head_dim), scale, q_h,
                        static_cast<int>(q_stride), k_g, static_cast<int>(g_stride), 0.0f, scores,
                        static_cast<int>(keys));
            for (int64_t i = 0; i < rows; ++i) {
                softmax({scores + i * keys, static_cast<size_t>(keys)}, shape.q_pos0 + i0 + i + 1);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows),
                        static_cast<int>(head_dim), static_cast<int>(keys), 1.0f, scores,
                        static_cast<int>(keys), v_g, static_cast<int>(g_stride), 0.0f, out_h,
                        static_cast<int>(out_stride));
        }
    }
}

}  // namespace

int64_t attention_scratch_size(const AttentionShape& shape) {
    // Scores (n_q rows of one head when prompt processing, one row per head in decode), then
    // (prompt processing over a half cache) one kv head's K and V widened to fp32.
    return std::max(shape.n_q, shape.n_heads) * shape.n_kv + 2 * shape.n_kv * shape.head_dim;
}

void attention(const AttentionShape& shape, int64_t head_begin, int64_t head_end,
               std::span<const float> q, int64_t q_stride, std::span<const float> k,
               std::span<const float> v, int64_t kv_stride, std::span<float> out,
               int64_t out_stride, std::span<float> scratch) {
    attention_impl(shape, head_begin, head_end, q, q_stride, k, v, kv_stride, out, out_stride,
                   scratch);
}

void attention(const AttentionShape& shape, int64_t head_begin, int64_t head_end,
               std::span<const float> q, int64_t q_stride, std::span<const uint16_t> k,
               std::span<const uint16_t> v, int64_t kv_stride, std::span<float> out,
               int64_t out_stride, std::span<float> scratch) {
    attention_impl(shape, head_begin, head_end, q, q_stride, k, v, kv_stride, out, out_stride,
                   scratch);
}

}  // namespace llama::kernels
