#include "engine/linear.h"

#include <cblas.h>

#include <algorithm>

#include "kernels/kernels.h"

namespace llama {

namespace {

// Up to this many tokens, reading the weights once with the matrix-vector kernels beats widening
// them for a GEMM.
constexpr int64_t kSmallBatch = 4;
// Rows of a block that stays in cache while every token of a small batch reads it.
constexpr int64_t kMatvecRows = 32;
// Rows per widened tile: big enough that BLAS's repacking of the activations is amortised over
// many weight rows, small enough that a thread's tile stays a few MB.
constexpr int64_t kTileRows = 256;

void linear_small_batch(ThreadPool& pool, const Matrix& w, std::span<const float> x,
                        int64_t n_tokens, std::span<float> y, LinearScratch& scratch) {
    const bool quantized = dtype_traits(w.dtype).block_elements > 1;
    if (quantized) {
        scratch.activations.resize(n_tokens);
        for (int64_t t = 0; t < n_tokens; ++t) {
            kernels::quantize_activations(w.dtype, x.subspan(t * w.cols, w.cols),
                                          scratch.activations[t]);
        }
    }
    const auto activations = std::span<const kernels::QuantizedActivations>(scratch.activations)
                                 .first(quantized ? n_tokens : 0);
    pool.parallel_for(w.rows, kMatvecRows, [&](int64_t begin, int64_t end, int) {
        if (quantized) {
            kernels::matmul_quant(w.slice_rows(begin, end - begin), activations, y.subspan(begin),
                                  w.rows);
            return;
        }
        for (int64_t row = begin; row < end; row += kMatvecRows) {
            const int64_t rows = std::min(kMatvecRows, end - row);
            for (int64_t t = 0; t < n_tokens; ++t) {
                kernels::matvec(w.slice_rows(row, rows), x.subspan(t * w.cols, w.cols),
                                y.subspan(t * w.rows + row, rows));
            }
        }
    });
}

void linear_gemm(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                 std::span<float> y, LinearScratch& scratch) {
    scratch.tiles.resize(pool.size());
    const int64_t tile_rows =
        std::min<int64_t>(kTileRows, (w.rows + pool.size() - 1) / pool.size());
    const int64_t n_tiles = (w.rows + tile_rows - 1) / tile_rows;
    pool.parallel_for(n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end, int thread) {
        for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
            const int64_t row0 = tile * tile_rows;
            const int64_t rows = std::min(tile_rows, w.rows - row0);
            const float* b = reinterpret_cast<const float*>(w.row(row0));
            if (w.dtype != DType::F32) {
                std::vector<float>& buffer = scratch.tiles[thread];
                buffer.resize(tile_rows * w.cols);
                kernels::dequantize_rows(w.dtype, w.row(row0), rows, w.cols, buffer);
                b = buffer.data();
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_tokens, rows, w.cols, 1.0f,
                        x.data(), w.cols, b, w.cols, 0.0f, y.data() + row0, w.rows);
        }
    });
}

}  // namespace

void linear(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
            std::span<float> y, LinearScratch& scratch) {
    if (n_tokens <= kSmallBatch) {
        linear_small_batch(pool, w, x, n_tokens, y, scratch);
    } else {
        linear_gemm(pool, w, x, n_tokens, y, scratch);
    }
}

}  // namespace llama
