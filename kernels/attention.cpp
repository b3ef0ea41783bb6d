// Causal grouped-query attention over one sequence's KV cache. Prompt processing (n_q > 1) runs
// two GEMMs per head through BLAS; single-token decode uses direct dot products, where a BLAS
// call per head would cost more in overhead than the arithmetic.

#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <span>

#include "kernels/kernels.h"
#include "kernels/vec_math.h"

namespace llama::kernels {

namespace {

// Decode processes up to this many query heads of one kv group together, so each K/V cache row
// is read from memory once per group rather than once per head. Scratch holds their scores.
constexpr int64_t kDecodeHeadBatch = 8;

// Cache rows of one kv head are kv_stride apart, usually a page or more, which stops the hardware
// prefetcher from following them; fetch this many rows ahead by hand.
constexpr int64_t kPrefetchRows = 6;

void prefetch_row(const float* row, int64_t n) {
    constexpr int64_t kFloatsPerLine = 16;
    for (int64_t i = 0; i < n; i += kFloatsPerLine) __builtin_prefetch(row + i);
}

// Query heads [0, n_heads) at q (head_dim apart), all reading the same kv head, each against cache
// rows [0, n_valid): out_b = softmax(q_b K^T * scale) V. scores holds n_heads rows of n_valid.
void attend_decode(const float* q, int64_t n_heads, const float* k, const float* v,
                   int64_t kv_stride, int64_t head_dim, int64_t n_valid, float scale, float* scores,
                   float* out) {
    for (int64_t j = 0; j < n_valid; ++j) {
        const float* k_row = k + j * kv_stride;
        if (j + kPrefetchRows < n_valid) prefetch_row(k_row + kPrefetchRows * kv_stride, head_dim);
        for (int64_t b = 0; b < n_heads; ++b) {
            scores[b * n_valid + j] = detail::dot(q + b * head_dim, k_row, head_dim) * scale;
        }
    }
    for (int64_t b = 0; b < n_heads; ++b) {
        softmax({scores + b * n_valid, static_cast<size_t>(n_valid)}, n_valid);
    }
    for (int64_t i = 0; i < n_heads * head_dim; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < n_valid; ++j) {
        const float* v_row = v + j * kv_stride;
        if (j + kPrefetchRows < n_valid) prefetch_row(v_row + kPrefetchRows * kv_stride, head_dim);
        for (int64_t b = 0; b < n_heads; ++b) {
            const float p = scores[b * n_valid + j];
            float* out_b = out + b * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) out_b[d] += p * v_row[d];
        }
    }
}

}  // namespace

int64_t attention_scratch_size(int64_t n_q, int64_t n_kv) {
    return std::max(n_q, kDecodeHeadBatch) * n_kv;
}

void attention(const AttentionShape& shape, int64_t head_begin, int64_t head_end,
               std::span<const float> q, int64_t q_stride, std::span<const float> k,
               std::span<const float> v, int64_t kv_stride, std::span<float> out,
               int64_t out_stride, std::span<float> scratch) {
    const int64_t head_dim = shape.head_dim;
    const int64_t n_q = shape.n_q;
    const int64_t n_kv = shape.n_kv;
    const int64_t group = shape.n_heads / shape.n_kv_heads;
    assert(shape.n_heads % shape.n_kv_heads == 0);
    assert(n_kv == shape.q_pos0 + n_q);
    assert(0 <= head_begin && head_begin <= head_end && head_end <= shape.n_heads);
    assert(static_cast<int64_t>(scratch.size()) >= attention_scratch_size(n_q, n_kv));
    assert(static_cast<int64_t>(q.size()) >= (n_q - 1) * q_stride + shape.n_heads * head_dim);
    assert(static_cast<int64_t>(k.size()) >= (n_kv - 1) * kv_stride + shape.n_kv_heads * head_dim);
    assert(static_cast<int64_t>(v.size()) >= (n_kv - 1) * kv_stride + shape.n_kv_heads * head_dim);
    assert(static_cast<int64_t>(out.size()) >= (n_q - 1) * out_stride + head_end * head_dim);

    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    float* scores = scratch.data();

    if (n_q == 1) {
        const int64_t heads_per_batch =
            std::max<int64_t>(1, static_cast<int64_t>(scratch.size()) / n_kv);
        for (int64_t h = head_begin; h < head_end;) {
            const int64_t g = h / group;
            const int64_t h_stop = std::min({head_end, (g + 1) * group, h + heads_per_batch});
            attend_decode(q.data() + h * head_dim, h_stop - h, k.data() + g * head_dim,
                          v.data() + g * head_dim, kv_stride, head_dim, n_kv, scale, scores,
                          out.data() + h * head_dim);
            h = h_stop;
        }
        return;
    }

    for (int64_t h = head_begin; h < head_end; ++h) {
        const int64_t kv_offset = (h / group) * head_dim;
        const float* q_h = q.data() + h * head_dim;
        const float* k_g = k.data() + kv_offset;
        const float* v_g = v.data() + kv_offset;
        float* out_h = out.data() + h * head_dim;

        // scores[i, j] = scale * q_h[i] . k_g[j]; rows past a query's own position are computed
        // and then masked by the softmax.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n_q),
                    static_cast<int>(n_kv), static_cast<int>(head_dim), scale, q_h,
                    static_cast<int>(q_stride), k_g, static_cast<int>(kv_stride), 0.0f, scores,
                    static_cast<int>(n_kv));
        for (int64_t i = 0; i < n_q; ++i) {
            softmax({scores + i * n_kv, static_cast<size_t>(n_kv)}, shape.q_pos0 + i + 1);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n_q),
                    static_cast<int>(head_dim), static_cast<int>(n_kv), 1.0f, scores,
                    static_cast<int>(n_kv), v_g, static_cast<int>(kv_stride), 0.0f, out_h,
                    static_cast<int>(out_stride));
    }
}

}  // namespace llama::kernels
