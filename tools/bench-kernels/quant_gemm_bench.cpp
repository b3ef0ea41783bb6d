// Prompt-processing projections on quantized weights through engine linear(): the integer GEMM
// (gemm_quant) against the earlier dequantize-to-fp32 + OpenBLAS sgemm path and the small-batch
// matrix-vector path, in the same run. 7B shapes; tokens/s counts the tokens of one projection,
// GOP/s counts 2 * rows * cols operations per token.

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/linear.h"
#include "kernels/quant.h"
#include "kernels/quant_gemm.h"
#include "tools/bench-kernels/bench_data.h"

namespace llama::kernels {
namespace {

using bench::quantized_bytes;

enum Mode { kIntGemm, kSgemm, kMatvec };

// linear()'s small-batch path: each token quantized for the matrix-vector kernels, each weight
// row read once for all tokens (matmul_quant), rows split over the threads in 32-row steps.
void small_batch(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                 std::span<float> y, std::vector<QuantizedActivations>& xq) {
    xq.resize(n_tokens);
    for (int64_t t = 0; t < n_tokens; ++t) {
        quantize_activations(w.dtype, x.subspan(t * w.cols, w.cols), xq[t]);
    }
    pool.parallel_for(w.rows, 32, [&](int64_t begin, int64_t end, int) {
        matmul_quant(w.slice_rows(begin, end - begin), xq, y.subspan(begin), w.rows);
    });
}

// linear()'s integer GEMM path on a given instruction set: the batch quantized once, then
// gemm_quant over 16-row panels split across the threads.
void int_gemm(ThreadPool& pool, QuantPath path, const Matrix& w, std::span<const float> x,
              int64_t n_tokens, std::span<float> y, QuantizedBatch& batch,
              std::vector<QuantPanelBuffer>& panels) {
    prepare_batch(path, w.dtype, w.cols, n_tokens, batch);
    pool.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
        quantize_batch_tokens(path, x, begin, end, batch);
    });
    panels.resize(pool.size());
    pool.parallel_for((w.rows + 15) / 16, 1, [&](int64_t begin, int64_t end, int thread) {
        const int64_t row0 = begin * 16;
        const int64_t count = std::min(end * 16, w.rows) - row0;
        gemm_quant(path, w.slice_rows(row0, count), batch, y.subspan(row0), w.rows, panels[thread]);
    });
}

// Arguments: rows, cols, tokens, threads, mode.
void BM_Linear(benchmark::State& state, DType dtype) {
    const int64_t rows = state.range(0), cols = state.range(1), n_tokens = state.range(2);
    const int threads = static_cast<int>(state.range(3));
    const auto mode = static_cast<Mode>(state.range(4));
    const char* names[] = {"int-gemm ", "dequant+sgemm ", "matvec "};
    state.SetLabel(std::string(names[mode]) + quant_path_name(best_quant_path()));
    const auto bytes = quantized_bytes(dtype, rows, cols);
    const Matrix w{dtype, rows, cols, bytes.data()};
    const auto x = bench::random_floats(static_cast<size_t>(n_tokens * cols), 2);
    std::vector<float> y(static_cast<size_t>(n_tokens * rows));
    ThreadPool pool(threads);
    LinearScratch scratch;
    scratch.int_gemm = mode == kIntGemm;
    std::vector<QuantizedActivations> xq;
    QuantizedBatch batch;
    std::vector<QuantPanelBuffer> panels;
    for (auto _ : state) {
        if (mode == kMatvec) {
            small_batch(pool, w, x, n_tokens, y, xq);
        } else if (mode == kIntGemm) {  // as linear() runs it, also below its small-batch limit
            int_gemm(pool, best_quant_path(), w, x, n_tokens, y, batch, panels);
        } else {
            linear(pool, w, x, n_tokens, y, scratch);
        }
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(state.iterations() * n_tokens);
    state.counters["GOP/s"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * 2.0 * rows * cols * n_tokens * 1e-9,
        benchmark::Counter::kIsRate);
}

// gemm_quant on a given path, split by 16-row panels over the threads as linear() does, the
// activation quantization included. Arguments: rows, cols, tokens, threads, path.
void BM_GemmPath(benchmark::State& state, DType dtype) {
    const int64_t rows = state.range(0), cols = state.range(1), n_tokens = state.range(2);
    const int threads = static_cast<int>(state.range(3));
    const auto path = static_cast<QuantPath>(state.range(4));
    if (!quant_path_supported(path)) {
        state.SkipWithError("path not supported by this CPU");
        return;
    }
    state.SetLabel(std::string("int-gemm ") + quant_path_name(path));
    const auto bytes = quantized_bytes(dtype, rows, cols);
    const Matrix w{dtype, rows, cols, bytes.data()};
    const auto x = bench::random_floats(static_cast<size_t>(n_tokens * cols), 2);
    std::vector<float> y(static_cast<size_t>(n_tokens * rows));
    ThreadPool pool(threads);
    QuantizedBatch batch;
    std::vector<QuantPanelBuffer> panels;
    for (auto _ : state) {
        int_gemm(pool, path, w, x, n_tokens, y, batch, panels);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(state.iterations() * n_tokens);
    state.counters["GOP/s"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * 2.0 * rows * cols * n_tokens * 1e-9,
        benchmark::Counter::kIsRate);
}

void path_shapes(benchmark::internal::Benchmark* b) {
    for (const int threads : {1, 2}) {
        for (const auto& [rows, cols] : {std::pair{4096, 4096}, {11008, 4096}, {4096, 11008}}) {
            for (const QuantPath path :
                 {QuantPath::Avx512Vnni, QuantPath::AvxVnni, QuantPath::Avx2}) {
                b->Args({rows, cols, 128, threads, static_cast<int>(path)});
            }
        }
    }
}

void shapes(benchmark::internal::Benchmark* b) {
    for (const int threads : {1, 2}) {
        for (const auto& [rows, cols] : {std::pair{4096, 4096}, {11008, 4096}, {4096, 11008}}) {
            for (const int mode : {kIntGemm, kSgemm}) b->Args({rows, cols, 128, threads, mode});
        }
    }
}

// Batches around the small-batch threshold (one thread, one 4096 x 4096 projection from DRAM
// would favour the matrix-vector path less; here the matrix stays in the last-level cache).
void batches(benchmark::internal::Benchmark* b) {
    for (const int tokens : {1, 2, 3, 4, 5, 6, 8, 12, 16, 32}) {
        for (const int mode : {kIntGemm, kMatvec, kSgemm}) b->Args({4096, 4096, tokens, 1, mode});
    }
}

BENCHMARK_CAPTURE(BM_Linear, q4_0, DType::Q4_0)->Apply(shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q8_0, DType::Q8_0)->Apply(shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q4_k, DType::Q4_K)->Apply(shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q5_k, DType::Q5_K)->Apply(shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q6_k, DType::Q6_K)->Apply(shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, iq4_xs, DType::IQ4_XS)->Apply(shapes)->UseRealTime();
// A full 512-token micro-batch (the engine's ubatch): the activations no longer fit in L2.
void long_prompt(benchmark::internal::Benchmark* b) {
    for (const int tokens : {128, 512}) {
        b->Args({4096, 11008, tokens, 1, static_cast<int>(QuantPath::Avx512Vnni)});
    }
}

BENCHMARK_CAPTURE(BM_GemmPath, q4_0_long, DType::Q4_0)->Apply(long_prompt)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q4_0, DType::Q4_0)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q8_0, DType::Q8_0)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q4_k, DType::Q4_K)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q5_k, DType::Q5_K)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q5_k_r16, DType::Q5_K_R16)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q4_k_r16, DType::Q4_K_R16)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_GemmPath, q6_k, DType::Q6_K)->Apply(path_shapes)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q4_0_batches, DType::Q4_0)->Apply(batches)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q8_0_batches, DType::Q8_0)->Apply(batches)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q4_k_batches, DType::Q4_K)->Apply(batches)->UseRealTime();
// Row-interleaved weights, as the loader makes them (the server's decode steps run these).
// Also 256 x 4096 (in L2: the kernels' compute ceiling, little disturbed by other processes).
void interleaved_batches(benchmark::internal::Benchmark* b) {
    batches(b);
    for (const int tokens : {1, 2, 4, 6, 8, 12, 16}) b->Args({256, 4096, tokens, 1, kMatvec});
    // A server step's 8 tokens on both threads: weights in L3 (4096 x 4096), and from DRAM
    // (32768 x 4096, 75 MB in Q4_0) on one thread and two.
    b->Args({4096, 4096, 8, 2, kMatvec});
    for (const int threads : {1, 2}) b->Args({32768, 4096, 8, threads, kMatvec});
}
BENCHMARK_CAPTURE(BM_Linear, q4_0_r16_batches, DType::Q4_0_R16)
    ->Apply(interleaved_batches)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q4_k_r16_batches, DType::Q4_K_R16)
    ->Apply(interleaved_batches)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, q8_0_r16_batches, DType::Q8_0_R16)
    ->Apply(interleaved_batches)
    ->UseRealTime();
// The output matrix of llama.cpp's Q4_0 and Q4_K_M 7B files (Q6_K, 32000 x 4096, from DRAM) in
// a llama-server decode step of 1, 4 or 8 slots.
void output_batches(benchmark::internal::Benchmark* b) {
    for (const int tokens : {1, 4, 8}) b->Args({32000, 4096, tokens, 2, kMatvec});
}
BENCHMARK_CAPTURE(BM_Linear, q6_k_output, DType::Q6_K)->Apply(output_batches)->UseRealTime();

}  // namespace
}  // namespace llama::kernels

int main(int argc, char** argv) {
    openblas_set_num_threads(1);  // one BLAS thread per caller, as the engine runs it
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
