#pragma once

#include <span>
#include <vector>

#include "llama/tensor.h"
#include "llama/thread_pool.h"

namespace llama {

// Per-thread buffers for weight tiles widened to fp32 before a BLAS call.
struct LinearScratch {
    std::vector<std::vector<float>> tiles;  // one per thread
};

// y[t, :] = W x[t, :] for t < n_tokens: x is [n_tokens, w.cols], y is [n_tokens, w.rows].
// One token takes the matrix-vector kernels (memory-bound decode); more tokens take BLAS sgemm
// over tiles of rows widened to fp32, so 16-bit and quantized weights stay compact in memory.
// Output rows are split across the pool's threads; each BLAS call runs on one thread.
void linear(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
            std::span<float> y, LinearScratch& scratch);

}  // namespace llama
