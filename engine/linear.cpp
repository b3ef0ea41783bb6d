#include "engine/linear.h"

#include <cblas.h>

#include <algorithm>

#include "kernels/kernels.h"

namespace llama {

namespace {
// Rows per widened tile: big enough that BLAS's repacking of the activations is amortised over
// many weight rows, small enough that a thread's tile stays a few MB.
constexpr int64_t kTileRows = 256;
constexpr int64_t kMatvecGrain = 16;
}  // namespace

void linear(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
            std::span<float> y, LinearScratch& scratch) {
    if (n_tokens == 1) {
        pool.parallel_for(w.rows, kMatvecGrain, [&](int64_t begin, int64_t end, int) {
            kernels::matvec(w.slice_rows(begin, end - begin), x.first(w.cols),
                            y.subspan(begin, end - begin));
        });
        return;
    }
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

}  // namespace llama
