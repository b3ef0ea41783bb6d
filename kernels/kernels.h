#pragma once

// Hand-written kernels. Each is a pure, single-threaded function over spans with its shapes in the
// signature; callers split work across threads by rows or heads. Every kernel has a plain
// reference test in tests/kernels_test.cpp.

#include <cstddef>
#include <cstdint>
#include <span>

#include "llama/rope_layout.h"
#include "llama/tensor.h"

namespace llama::kernels {

// ---- 16-bit floats --------------------------------------------------------------------------
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf, NaN kept
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // round to nearest even, NaN kept
void f16_to_f32(std::span<const uint16_t> src, std::span<float> dst);
void bf16_to_f32(std::span<const uint16_t> src, std::span<float> dst);
void f32_to_f16(std::span<const float> src, std::span<uint16_t> dst);
// f32_to_f16 for activations: false (dst unspecified) if a value is NaN or beyond f16's largest
// finite value, where rounding would lose it; the caller then keeps fp32.
bool round_to_f16(std::span<const float> src, std::span<uint16_t> dst);
void f32_to_bf16(std::span<const float> src, std::span<uint16_t> dst);

// ---- Normalisation and activations -----------------------------------------------------------
// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for one row of size x.size().
void rms_norm(std::span<const float> x, std::span<const float> weight, float eps,
              std::span<float> out);

// Numerically stable softmax in place over x[0, n_valid); x[n_valid, end) is set to 0 (causal
// mask: positions after the query's own are not attended to).
void softmax(std::span<float> x, int64_t n_valid);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(std::span<const float> gate, std::span<const float> up, std::span<float> out);

// ---- Rotary position embeddings --------------------------------------------------------------
// Angles for one position: cos[i], sin[i] of position * theta^(-2i/head_dim), i < head_dim/2.
void rope_angles(int64_t position, int64_t head_dim, float theta, std::span<float> cos,
                 std::span<float> sin);
// Rotates n_heads consecutive heads of head_dim values in place.
void rope(std::span<float> x, int64_t n_heads, int64_t head_dim, std::span<const float> cos,
          std::span<const float> sin, RopeLayout layout);

// ---- Attention over a KV cache ---------------------------------------------------------------
// Causal grouped-query attention for heads [head_begin, head_end) of n_q query tokens.
//   q:   [n_q, q_stride] floats, head h at columns [h*head_dim, (h+1)*head_dim)
//   k,v: [n_kv, kv_stride] cache rows of one sequence, fp32 or IEEE half (uint16_t bits); kv head
//        g at columns [g*head_dim, ...); query head h reads kv head h / (n_heads / n_kv_heads)
//   query i sits at absolute position q_pos0 + i and attends to cache rows [0, q_pos0 + i].
//   out: [n_q, out_stride], head h written at columns [h*head_dim, ...)
//   scratch: at least attention_scratch_size(shape) floats
// Scores use BLAS when n_q > 1 (half rows widened to fp32 in scratch, once per kv head); decode
// (n_q == 1) widens half rows as it reads them. Scaling is 1/sqrt(head_dim).
struct AttentionShape {
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;
    int64_t n_q;
    int64_t q_pos0;
    int64_t n_kv;  // cache rows valid for the last query: q_pos0 + n_q
};
int64_t attention_scratch_size(const AttentionShape& shape);
void attention(const AttentionShape& shape, int64_t head_begin, int64_t head_end,
               std::span<const float> q, int64_t q_stride, std::span<const float> k,
               std::span<const float> v, int64_t kv_stride, std::span<float> out,
               int64_t out_stride, std::span<float> scratch);
void attention(const AttentionShape& shape, int64_t head_begin, int64_t head_end,
               std::span<const float> q, int64_t q_stride, std::span<const uint16_t> k,
               std::span<const uint16_t> v, int64_t kv_stride, std::span<float> out,
               int64_t out_stride, std::span<float> scratch);

// ---- Weights -----------------------------------------------------------------------------------
// Dequantizes/widens `rows` rows of a weight matrix to fp32: out is [rows, cols].
void dequantize_rows(DType type, const std::byte* data, int64_t rows, int64_t cols,
                     std::span<float> out);

// y[r] = dot(row r of w, x) for all rows of w (a row slice of a weight matrix); x has w.cols
// values. For quantized types x is quantized to 8 bits per block internally (see quant.h).
void matvec(const Matrix& w, std::span<const float> x, std::span<float> y);
// The same for F16 weights with x already rounded to f16 (round_to_f16): half the bytes besides
// the weights for each row's dot product, products and sums still fp32. Decode of F16 weights
// streams the weights ~10% faster this way (llama.cpp rounds x the same way).
void matvec(const Matrix& w, std::span<const uint16_t> x_half, std::span<float> y);

}  // namespace llama::kernels
