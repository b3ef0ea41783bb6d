#pragma once

#include <span>
#include <vector>

#include "kernels/quant.h"
#include "llama/tensor.h"
#include "llama/thread_pool.h"

namespace llama {

// Buffers reused across calls: weight tiles widened for BLAS (one per thread) and activations
// quantized for the integer dot products of quantized weights (one per token).
struct LinearScratch {
    std::vector<std::vector<float>> tiles;
    std::vector<kernels::QuantizedActivations> activations;
};

// y[t, :] = W x[t, :] for t < n_tokens: x is [n_tokens, w.cols], y is [n_tokens, w.rows].
// A few tokens (decode, batched decode) read each weight row once for all of them with the
// matrix-vector kernels: that is memory-bound. More tokens run BLAS sgemm over tiles of rows
// widened to fp32, so 16-bit and quantized weights stay compact in memory. Output rows are split
// across the pool's threads; each BLAS call runs on one thread.
void linear(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
            std::span<float> y, LinearScratch& scratch);

}  // namespace llama
