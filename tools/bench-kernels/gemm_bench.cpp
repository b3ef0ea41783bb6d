// Prompt-processing GEMM, y = x W^T with x [n_tokens, cols] and W [rows, cols]: AMX-BF16 tiles
// (packing included) against OpenBLAS sgemm over fp32-widened weight tiles, as engine/linear.cpp
// runs it today. Counters: GFLOPS = 2 * n_tokens * rows * cols per second.
//
// One thread: BM_Amx* and BM_Sgemm* (OpenBLAS pinned to one thread).
// Both cores: BM_LinearAmx (the linear() prototype below) and BM_LinearBlas (engine linear()).

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/linear.h"
#include "kernels/gemm_amx.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "llama/tensor.h"
#include "llama/thread_pool.h"
#include "tools/bench-kernels/bench_data.h"

namespace llama {
namespace {

using kernels::gemm_bf16_amx;
using kernels::pack_activations_bf16;
using kernels::pack_weights_bf16;
using kernels::packed_activations_size;
using kernels::packed_weights_size;

using kernels::bench::random_floats;

// Random weights; quantized types get random bytes, masked so that block scales stay small.
std::vector<std::byte> weight_bytes(DType dtype, int64_t rows, int64_t cols) {
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    if (dtype_traits(dtype).block_elements > 1) {
        std::mt19937 rng(1);
        for (auto& byte : bytes) byte = static_cast<std::byte>(rng() & 0x3b);
        return bytes;
    }
    const auto values = random_floats(static_cast<size_t>(rows * cols), 1);
    if (dtype == DType::F32) {
        std::memcpy(bytes.data(), values.data(), bytes.size());
        return bytes;
    }
    std::vector<uint16_t> narrowed(values.size());
    if (dtype == DType::F16) {
        kernels::f32_to_f16(values, narrowed);
    } else {
        kernels::f32_to_bf16(values, narrowed);
    }
    std::memcpy(bytes.data(), narrowed.data(), bytes.size());
    return bytes;
}

void set_flops(benchmark::State& state, int64_t n_tokens, int64_t rows, int64_t cols) {
    state.counters["GFLOPS"] = benchmark::Counter(2.0 * n_tokens * rows * cols * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

struct Problem {
    int64_t n_tokens, rows, cols;
    DType dtype;
    std::vector<std::byte> w_bytes;
    Matrix w;
    std::vector<float> x, y;
    Problem(const benchmark::State& state, DType type)
        : n_tokens(state.range(0)), rows(state.range(1)), cols(state.range(2)), dtype(type) {
        w_bytes = weight_bytes(dtype, rows, cols);
        w = Matrix{dtype, rows, cols, w_bytes.data()};
        x = random_floats(static_cast<size_t>(n_tokens * cols), 2);
        y.assign(static_cast<size_t>(n_tokens * rows), 0.0f);
    }
};

// ---- The linear() prototype ---------------------------------------------------------------------

// Weight rows packed per task, as first measured: 128 rows x 4096 columns of bf16 is 1 MB, which
// stays in L2 (2 MB per core here) beside one pair of token blocks, so each token pair fetched
// from L3 feeds 128 rows: ~10% faster than 64 rows; 256 rows no longer fit. (The engine's linear()
// now prefetches the next tile's rows while a tile runs, which made 64 rows the faster there.)
constexpr int64_t kAmxTileRows = 128;

struct AmxScratch {
    kernels::PackedBuffer packed_x;
    std::vector<kernels::PackedBuffer> packed_w;  // one per thread
    std::vector<std::vector<float>> widened;      // one per thread, for quantized types
};

using PackedGemm = void (*)(std::span<const uint16_t>, int64_t, int64_t, std::span<const uint16_t>,
                            int64_t, std::span<float>, int64_t, std::span<const std::byte>);

void linear_amx(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                std::span<float> y, AmxScratch& scratch, int64_t tile_rows = kAmxTileRows,
                PackedGemm gemm = gemm_bf16_amx) {
    const int64_t cols = w.cols;
    scratch.packed_x.resize(packed_activations_size(n_tokens, cols));
    const int64_t token_blocks = (n_tokens + kernels::kAmxTokenBlock - 1) / kernels::kAmxTokenBlock;
    pool.parallel_for(token_blocks, 1, [&](int64_t begin, int64_t end, int) {
        const int64_t t0 = begin * kernels::kAmxTokenBlock;
        const int64_t count = std::min(end * kernels::kAmxTokenBlock, n_tokens) - t0;
        pack_activations_bf16(
            x.subspan(t0 * cols, count * cols), count, cols,
            std::span(scratch.packed_x).subspan(packed_activations_size(t0, cols)));
    });
    scratch.packed_w.resize(pool.size());
    scratch.widened.resize(pool.size());
    // Small matrices: smaller tiles (whole row blocks) so that every thread gets some.
    const int64_t rows_per_thread = (w.rows + pool.size() - 1) / pool.size();
    tile_rows = std::min(tile_rows, (rows_per_thread + 15) / 16 * 16);
    const int64_t n_tiles = (w.rows + tile_rows - 1) / tile_rows;
    pool.parallel_for(n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end, int thread) {
        kernels::PackedBuffer& packed = scratch.packed_w[thread];
        packed.resize(packed_weights_size(tile_rows, cols));
        std::vector<float>& widened = scratch.widened[thread];
        if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16) {
            widened.resize(kernels::pack_weights_scratch_size(cols));
        }
        for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
            const int64_t row0 = tile * tile_rows;
            const int64_t rows = std::min(tile_rows, w.rows - row0);
            pack_weights_bf16(w.dtype, w.row(row0), rows, cols, packed, widened);
            gemm(scratch.packed_x, n_tokens, cols, packed, rows, y.subspan(row0), w.rows, {});
        }
    });
}

// ---- One thread ---------------------------------------------------------------------------------

// Arguments: n_tokens, rows, cols, weight rows packed per tile.
void BM_AmxGemm(benchmark::State& state, DType dtype) {
    if (!kernels::amx_bf16_available()) {
        state.SkipWithError("AMX-BF16 not available");
        return;
    }
    Problem p(state, dtype);
    ThreadPool pool(1);
    AmxScratch scratch;
    for (auto _ : state) {
        linear_amx(pool, p.w, p.x, p.n_tokens, p.y, scratch, state.range(3));
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// The AVX512-BF16 fallback kernel on the same packed operands, packing included.
void BM_Avx512Bf16Gemm(benchmark::State& state, DType dtype) {
    if (!kernels::avx512_bf16_available()) {
        state.SkipWithError("AVX512-BF16 not available");
        return;
    }
    Problem p(state, dtype);
    ThreadPool pool(1);
    AmxScratch scratch;
    for (auto _ : state) {
        linear_amx(pool, p.w, p.x, p.n_tokens, p.y, scratch, state.range(3),
                   [](auto... args) { kernels::gemm_bf16_avx512(args...); });
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// The tile kernel alone over weights packed once, outside the timing.
void BM_AmxKernelOnly(benchmark::State& state) {
    if (!kernels::amx_bf16_available()) {
        state.SkipWithError("AMX-BF16 not available");
        return;
    }
    Problem p(state, DType::BF16);
    const int64_t tile_rows = state.range(3);
    kernels::PackedBuffer packed_x(packed_activations_size(p.n_tokens, p.cols));
    pack_activations_bf16(p.x, p.n_tokens, p.cols, packed_x);
    kernels::PackedBuffer packed_w(packed_weights_size(p.rows, p.cols));
    pack_weights_bf16(p.dtype, p.w.data, p.rows, p.cols, packed_w, {});
    for (auto _ : state) {
        for (int64_t row0 = 0; row0 < p.rows; row0 += tile_rows) {
            gemm_bf16_amx(packed_x, p.n_tokens, p.cols,
                          std::span(packed_w).subspan(packed_weights_size(row0, p.cols)),
                          std::min(tile_rows, p.rows - row0), std::span(p.y).subspan(row0), p.rows);
        }
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// Kernel alone over one packed weight tile of the given rows; arguments add the chunk steps.
void BM_AmxChunks(benchmark::State& state) {
    if (!kernels::amx_bf16_available()) {
        state.SkipWithError("AMX-BF16 not available");
        return;
    }
    Problem p(state, DType::BF16);
    const int64_t tile_rows = state.range(3);
    kernels::PackedBuffer packed_x(packed_activations_size(p.n_tokens, p.cols));
    pack_activations_bf16(p.x, p.n_tokens, p.cols, packed_x);
    kernels::PackedBuffer packed_w(packed_weights_size(p.rows, p.cols));
    pack_weights_bf16(p.dtype, p.w.data, p.rows, p.cols, packed_w, {});
    for (auto _ : state) {
        for (int64_t row0 = 0; row0 < p.rows; row0 += tile_rows) {
            kernels::detail::gemm_bf16_amx_chunked(
                packed_x, p.n_tokens, p.cols,
                std::span(packed_w).subspan(packed_weights_size(row0, p.cols)),
                std::min(tile_rows, p.rows - row0), std::span(p.y).subspan(row0), p.rows,
                state.range(4));
        }
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// engine/linear.cpp's path on one thread: 256-row tiles widened to fp32, cblas_sgemm each.
void BM_SgemmTiles(benchmark::State& state, DType dtype) {
    Problem p(state, dtype);
    ThreadPool pool(1);
    LinearScratch scratch;
    for (auto _ : state) {
        linear(pool, p.w, p.x, p.n_tokens, p.y, scratch);
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// engine/linear.cpp's small-batch path on one thread (weights read once for all tokens by the
// matrix-vector kernels), to find where AMX overtakes it. Arguments: n_tokens, rows, cols.
void BM_SmallBatch(benchmark::State& state, DType dtype) {
    Problem p(state, dtype);
    const bool quantized = dtype_traits(dtype).block_elements > 1;
    std::vector<kernels::QuantizedActivations> activations(p.n_tokens);
    constexpr int64_t kBlockRows = 32;
    for (auto _ : state) {
        if (quantized) {
            for (int64_t t = 0; t < p.n_tokens; ++t) {
                kernels::quantize_activations(dtype, std::span(p.x).subspan(t * p.cols, p.cols),
                                              activations[t]);
            }
            kernels::matmul_quant(p.w, activations, p.y, p.rows);
        } else {
            for (int64_t row = 0; row < p.rows; row += kBlockRows) {
                const int64_t rows = std::min(kBlockRows, p.rows - row);
                for (int64_t t = 0; t < p.n_tokens; ++t) {
                    kernels::matvec(p.w.slice_rows(row, rows),
                                    std::span(p.x).subspan(t * p.cols, p.cols),
                                    std::span(p.y).subspan(t * p.rows + row, rows));
                }
            }
        }
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// Packing throughput alone (weights: bytes of source weights per second).
void BM_PackWeights(benchmark::State& state, DType dtype) {
    Problem p(state, dtype);
    std::vector<uint16_t> packed(packed_weights_size(p.rows, p.cols));
    std::vector<float> widened(kernels::pack_weights_scratch_size(p.cols));
    for (auto _ : state) {
        pack_weights_bf16(p.dtype, p.w.data, p.rows, p.cols, packed, widened);
        benchmark::DoNotOptimize(packed.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(p.w_bytes.size()));
}

void BM_PackActivations(benchmark::State& state) {
    Problem p(state, DType::F32);
    std::vector<uint16_t> packed(packed_activations_size(p.n_tokens, p.cols));
    for (auto _ : state) {
        pack_activations_bf16(p.x, p.n_tokens, p.cols, packed);
        benchmark::DoNotOptimize(packed.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(p.x.size() * 4));
}

// ---- Both cores ---------------------------------------------------------------------------------

void BM_LinearAmx(benchmark::State& state, DType dtype) {
    if (!kernels::amx_bf16_available()) {
        state.SkipWithError("AMX-BF16 not available");
        return;
    }
    Problem p(state, dtype);
    ThreadPool pool(2);
    AmxScratch scratch;
    for (auto _ : state) {
        linear_amx(pool, p.w, p.x, p.n_tokens, p.y, scratch, state.range(3));
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

void BM_LinearBlas(benchmark::State& state, DType dtype) {
    Problem p(state, dtype);
    ThreadPool pool(2);
    LinearScratch scratch;
    for (auto _ : state) {
        linear(pool, p.w, p.x, p.n_tokens, p.y, scratch);
        benchmark::DoNotOptimize(p.y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, p.n_tokens, p.rows, p.cols);
}

// LLaMA-7B projections: q/k/v/o (4096 x 4096), gate/up (11008 x 4096), down (4096 x 11008), and
// short prompts. One-thread rates use CPU time, so that other work on a shared machine counts
// less (compare the Time and CPU columns); two-thread rates use wall time.
void model_shapes(benchmark::internal::Benchmark* b, bool with_tile_rows, bool wall_time) {
    const std::vector<std::vector<int64_t>> shapes = {
        {512, 4096, 4096}, {512, 11008, 4096}, {512, 4096, 11008}, {128, 4096, 4096},
        {32, 4096, 4096},  {8, 4096, 4096},    {4, 4096, 4096},    {2, 4096, 4096}};
    for (const auto& s : shapes) {
        if (with_tile_rows) {
            b->Args({s[0], s[1], s[2], kAmxTileRows});
        } else {
            b->Args({s[0], s[1], s[2]});
        }
    }
    b->ArgNames(with_tile_rows ? std::vector<std::string>{"tokens", "rows", "cols", "tile"}
                               : std::vector<std::string>{"tokens", "rows", "cols"});
    b->Unit(benchmark::kMillisecond);
    if (wall_time) b->UseRealTime();
}

void amx_shapes(benchmark::internal::Benchmark* b) { model_shapes(b, true, false); }
void blas_shapes(benchmark::internal::Benchmark* b) { model_shapes(b, false, false); }
void amx_shapes_2t(benchmark::internal::Benchmark* b) { model_shapes(b, true, true); }
void blas_shapes_2t(benchmark::internal::Benchmark* b) { model_shapes(b, false, true); }

void tile_sweep(benchmark::internal::Benchmark* b) {
    for (const int64_t tile : {32, 64, 128, 256}) {
        b->Args({512, 4096, 4096, tile});
        b->Args({512, 11008, 4096, tile});
        b->Args({512, 4096, 11008, tile});
    }
    b->ArgNames({"tokens", "rows", "cols", "tile"})->Unit(benchmark::kMillisecond);
}

BENCHMARK_CAPTURE(BM_AmxGemm, bf16, DType::BF16)->Apply(amx_shapes);
BENCHMARK_CAPTURE(BM_SgemmTiles, bf16, DType::BF16)->Apply(blas_shapes);
BENCHMARK_CAPTURE(BM_AmxGemm, f16, DType::F16)->Apply(amx_shapes);
BENCHMARK_CAPTURE(BM_SgemmTiles, f16, DType::F16)->Apply(blas_shapes);
BENCHMARK_CAPTURE(BM_AmxGemm, f32, DType::F32)->Apply(amx_shapes);
BENCHMARK_CAPTURE(BM_SgemmTiles, f32, DType::F32)->Apply(blas_shapes);
BENCHMARK_CAPTURE(BM_AmxGemm, q8_0, DType::Q8_0)->Apply(amx_shapes);
BENCHMARK_CAPTURE(BM_SgemmTiles, q8_0, DType::Q8_0)->Apply(blas_shapes);
BENCHMARK_CAPTURE(BM_AmxGemm, q4_k, DType::Q4_K)->Apply(amx_shapes);
BENCHMARK_CAPTURE(BM_SgemmTiles, q4_k, DType::Q4_K)->Apply(blas_shapes);
BENCHMARK_CAPTURE(BM_Avx512Bf16Gemm, bf16, DType::BF16)->Apply(amx_shapes);
void small_batches(benchmark::internal::Benchmark* b) {
    for (const int64_t n_tokens : {4, 8, 16, 32}) b->Args({n_tokens, 4096, 4096});
    b->ArgNames({"tokens", "rows", "cols"})->Unit(benchmark::kMillisecond);
}
BENCHMARK_CAPTURE(BM_SmallBatch, bf16, DType::BF16)->Apply(small_batches);
BENCHMARK_CAPTURE(BM_SmallBatch, q8_0, DType::Q8_0)->Apply(small_batches);
BENCHMARK_CAPTURE(BM_SmallBatch, q4_k, DType::Q4_K)->Apply(small_batches);
BENCHMARK(BM_AmxKernelOnly)->Apply(amx_shapes);
BENCHMARK(BM_AmxKernelOnly)->Apply(tile_sweep);
BENCHMARK(BM_AmxChunks)
    ->ArgsProduct({{512}, {4096}, {4096, 11008}, {64, 128, 256}, {8, 32, 128, 344}})
    ->ArgNames({"tokens", "rows", "cols", "tile", "chunk"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_AmxGemm, bf16_tiles, DType::BF16)->Apply(tile_sweep);
BENCHMARK_CAPTURE(BM_PackWeights, bf16, DType::BF16)->Args({0, 4096, 4096});
BENCHMARK_CAPTURE(BM_PackWeights, f16, DType::F16)->Args({0, 4096, 4096});
BENCHMARK_CAPTURE(BM_PackWeights, f32, DType::F32)->Args({0, 4096, 4096});
BENCHMARK(BM_PackActivations)->Args({512, 0, 4096});
BENCHMARK_CAPTURE(BM_LinearAmx, bf16, DType::BF16)->Apply(amx_shapes_2t);
BENCHMARK_CAPTURE(BM_LinearBlas, bf16, DType::BF16)->Apply(blas_shapes_2t);
BENCHMARK_CAPTURE(BM_LinearBlas, q8_0, DType::Q8_0)->Apply(blas_shapes_2t);
BENCHMARK_CAPTURE(BM_LinearBlas, q8_0_r16, DType::Q8_0_R16)->Apply(blas_shapes_2t);

}  // namespace
}  // namespace llama

int main(int argc, char** argv) {
    openblas_set_num_threads(1);  // one BLAS thread per caller, as the engine runs it
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
