// Micro-benchmarks of the quantized kernels. matvec reports weight bytes streamed per second (the
// figure to compare with memory bandwidth); the activation quantization and dequantization
// (the prefill path's tile conversion) report values per second.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/quant.h"

namespace llama::kernels {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> values(n);
    for (float& v : values) v = dist(rng);
    return values;
}

// Random bytes with every block's f16 scale(s) set to a small normal value.
std::vector<std::byte> quantized_bytes(DType dtype, int64_t rows, int64_t cols) {
    std::mt19937 rng(1);
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    const DTypeTraits& traits = dtype_traits(dtype);
    const uint16_t scale = 0x2000;  // 2^-7 as an IEEE half
    for (size_t offset = 0; offset < bytes.size(); offset += traits.block_bytes) {
        if (dtype == DType::Q6_K) {
            std::memcpy(bytes.data() + offset + 208, &scale, 2);
        } else {
            std::memcpy(bytes.data() + offset, &scale, 2);
            if (dtype == DType::Q4_K || dtype == DType::Q5_K) {
                std::memcpy(bytes.data() + offset + 2, &scale, 2);
            }
        }
    }
    return bytes;
}

// Arguments: rows, cols, path, streamed. Streamed runs copy the weights until they fill
// kStreamBytes and use the next copy each iteration, so every product reads DRAM as at decode
// time (the last-level cache of this machine can hold a whole 7B layer); the others reuse one
// matrix that stays in cache and show the kernel's compute ceiling.
constexpr size_t kStreamBytes = size_t{1} << 30;

void BM_MatvecQuant(benchmark::State& state, DType dtype) {
    const int64_t rows = state.range(0);
    const int64_t cols = state.range(1);
    const auto path = static_cast<QuantPath>(state.range(2));
    const bool streamed = state.range(3) != 0;
    if (!quant_path_supported(path)) {
        state.SkipWithError("path not supported by this CPU");
        return;
    }
    state.SetLabel(std::string(quant_path_name(path)) + (streamed ? " dram" : " cached"));
    const auto matrix = quantized_bytes(dtype, rows, cols);
    const size_t copies = streamed ? (kStreamBytes + matrix.size() - 1) / matrix.size() : 1;
    std::vector<std::byte> bytes(copies * matrix.size());
    for (size_t c = 0; c < copies; ++c) {
        std::memcpy(bytes.data() + c * matrix.size(), matrix.data(), matrix.size());
    }
    const auto x = random_floats(static_cast<size_t>(cols), 2);
    QuantizedActivations xq;
    quantize_activations(dtype, x, xq);
    std::vector<float> y(static_cast<size_t>(rows));
    size_t next = 0;
    for (auto _ : state) {
        const Matrix w{dtype, rows, cols, bytes.data() + next * matrix.size()};
        matvec_quant(path, w, xq, y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        next = next + 1 == copies ? 0 : next + 1;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(matrix.size()));
}

void matvec_args(benchmark::internal::Benchmark* b) {
    for (const int streamed : {1, 0}) {
        for (const QuantPath path : {QuantPath::Avx512Vnni, QuantPath::Avx2, QuantPath::Scalar}) {
            b->Args({4096, 4096, static_cast<int>(path), streamed});
            b->Args({11008, 4096, static_cast<int>(path), streamed});
        }
    }
}

BENCHMARK_CAPTURE(BM_MatvecQuant, q8_0, DType::Q8_0)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_0, DType::Q4_0)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_k, DType::Q4_K)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q5_k, DType::Q5_K)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q6_k, DType::Q6_K)->Apply(matvec_args)->UseRealTime();

void BM_QuantizeActivations(benchmark::State& state, DType dtype) {
    const auto x = random_floats(static_cast<size_t>(state.range(0)), 3);
    QuantizedActivations xq;
    for (auto _ : state) {
        quantize_activations(dtype, x, xq);
        benchmark::DoNotOptimize(xq.qs.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_QuantizeActivations, q8_0, DType::Q8_0)->Arg(4096)->Arg(11008);
BENCHMARK_CAPTURE(BM_QuantizeActivations, q4_k, DType::Q4_K)->Arg(4096)->Arg(11008 / 256 * 256);

// Dequantizing a 64-row tile, as a prefill path does before a float GEMM.
void BM_DequantizeRows(benchmark::State& state, DType dtype) {
    const int64_t rows = 64, cols = 4096;
    const auto bytes = quantized_bytes(dtype, rows, cols);
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (auto _ : state) {
        dequantize_rows_quant(dtype, bytes.data(), rows, cols, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * rows * cols);
}
BENCHMARK_CAPTURE(BM_DequantizeRows, q8_0, DType::Q8_0);
BENCHMARK_CAPTURE(BM_DequantizeRows, q4_0, DType::Q4_0);
BENCHMARK_CAPTURE(BM_DequantizeRows, q4_k, DType::Q4_K);
BENCHMARK_CAPTURE(BM_DequantizeRows, q5_k, DType::Q5_K);
BENCHMARK_CAPTURE(BM_DequantizeRows, q6_k, DType::Q6_K);

}  // namespace
}  // namespace llama::kernels

BENCHMARK_MAIN();
