// Causal grouped-query attention over one sequence's KV cache. Prompt processing (n_q > 1) runs
// two GEMMs per head through BLAS; single-token decode uses direct dot products, where a BLAS
// call per head would cost more in overhead than the arithmetic.

#include <cblas.h>

#include <cassert>
#include <cmath>
#include <span>

#include "kernels/kernels.h"
#include "kernels/vec_math.h"

namespace llama::kernels {

namespace {

// One query row against cache rows [0, n_valid): out = softmax(q K^T * scale) V.
void attend_one(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t head_dim,
                int64_t n_valid, float scale, float* scores, float* out) {
    for (int64_t j = 0; j < n_valid; ++j) {
        scores[j] = detail::dot(q, k + j * kv_stride, head_dim) * scale;
    }
    softmax({scores, static_cast<size_t>(n_valid)}, n_valid);
    for (int64_t d = 0; d < head_dim; ++d) out[d] = 0.0f;
    for (int64_t j = 0; j < n_valid; ++j) {
        const float p = scores[j];
        const float* v_row = v + j * kv_stride;
        for (int64_t d = 0; d < head_dim; ++d) out[d] += p * v_row[d];
    }
}

}  // namespace

int64_t attention_scratch_size(int64_t n_q, int64_t n_kv) { return n_q * n_kv; }

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

    for (int64_t h = head_begin; h < head_end; ++h) {
        const int64_t kv_offset = (h / group) * head_dim;
        const float* q_h = q.data() + h * head_dim;
        const float* k_g = k.data() + kv_offset;
        const float* v_g = v.data() + kv_offset;
        float* out_h = out.data() + h * head_dim;

        if (n_q == 1) {
            attend_one(q_h, k_g, v_g, kv_stride, head_dim, shape.q_pos0 + 1, scale, scores, out_h);
            continue;
        }

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
