// Micro-benchmarks of the kernels. matvec reports weight bytes streamed per second: at decode
// time it should run near memory bandwidth, so that figure is the one to watch.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <type_traits>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/matvec_impl.h"
#include "tools/bench-kernels/bench_data.h"

namespace llama::kernels {
namespace {

using bench::random_floats;

std::vector<std::byte> weight_bytes(DType dtype, int64_t rows, int64_t cols) {
    const auto values = random_floats(static_cast<size_t>(rows * cols), 1);
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    if (dtype == DType::F32) {
        std::memcpy(bytes.data(), values.data(), bytes.size());
        return bytes;
    }
    std::vector<uint16_t> narrowed(values.size());
    if (dtype == DType::F16) {
        f32_to_f16(values, narrowed);
    } else {
        f32_to_bf16(values, narrowed);
    }
    std::memcpy(bytes.data(), narrowed.data(), bytes.size());
    return bytes;
}

// Arguments: rows, cols, path. The weights are copied until they fill kStreamBytes and each
// iteration uses the next copy, so every product streams from DRAM as at decode time rather than
// from a last-level cache that may hold a whole 4096x4096 matrix.
constexpr size_t kStreamBytes = size_t{512} << 20;

void BM_Matvec(benchmark::State& state, DType dtype) {
    const int64_t rows = state.range(0);
    const int64_t cols = state.range(1);
    const auto path = static_cast<detail::MatvecPath>(state.range(2));
    if (!detail::matvec_path_available(path)) {
        state.SkipWithError("path not compiled in");
        return;
    }
    state.SetLabel(detail::matvec_path_name(path));
    const auto matrix = weight_bytes(dtype, rows, cols);
    const size_t copies = (kStreamBytes + matrix.size() - 1) / matrix.size();
    std::vector<std::byte> bytes(copies * matrix.size());
    for (size_t c = 0; c < copies; ++c) {
        std::memcpy(bytes.data() + c * matrix.size(), matrix.data(), matrix.size());
    }
    const auto x = random_floats(static_cast<size_t>(cols), 2);
    std::vector<float> y(static_cast<size_t>(rows));
    size_t next = 0;
    for (auto _ : state) {
        const Matrix w{dtype, rows, cols, bytes.data() + next * matrix.size()};
        detail::matvec_float(path, w, x, y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        next = next + 1 == copies ? 0 : next + 1;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(matrix.size()));
}

void matvec_args(benchmark::internal::Benchmark* b) {
    for (const int path :
         {static_cast<int>(detail::MatvecPath::Avx512), static_cast<int>(detail::MatvecPath::Avx2),
          static_cast<int>(detail::MatvecPath::Scalar)}) {
        b->Args({4096, 4096, path});
        b->Args({11008, 4096, path});
    }
    b->ArgNames({"rows", "cols", "path"});
    b->Unit(benchmark::kMillisecond);
    b->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Matvec, f16, DType::F16)->Apply(matvec_args);
BENCHMARK_CAPTURE(BM_Matvec, bf16, DType::BF16)->Apply(matvec_args);
BENCHMARK_CAPTURE(BM_Matvec, f32, DType::F32)
    ->Args({4096, 4096, static_cast<int>(detail::best_matvec_path())})
    ->ArgNames({"rows", "cols", "path"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_RmsNorm(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    const auto x = random_floats(n, 3);
    const auto weight = random_floats(n, 4);
    std::vector<float> out(n);
    for (auto _ : state) {
        rms_norm(x, weight, 1e-5f, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RmsNorm)->Arg(4096);

// One token's q and k: 32 + 8 heads of 128.
void BM_Rope(benchmark::State& state) {
    const int64_t n_heads = 40, head_dim = 128;
    const auto layout = static_cast<RopeLayout>(state.range(0));
    auto x = random_floats(static_cast<size_t>(n_heads * head_dim), 5);
    std::vector<float> cos(head_dim / 2), sin(head_dim / 2);
    rope_angles(1234, head_dim, 10000.0f, cos, sin);
    for (auto _ : state) {
        rope(x, n_heads, head_dim, cos, sin, layout);
        benchmark::DoNotOptimize(x.data());
    }
    state.SetItemsProcessed(state.iterations() * n_heads * head_dim);
}
BENCHMARK(BM_Rope)
    ->Arg(static_cast<int>(RopeLayout::RotateHalf))
    ->Arg(static_cast<int>(RopeLayout::Interleaved));

void BM_RopeAngles(benchmark::State& state) {
    std::vector<float> cos(64), sin(64);
    for (auto _ : state) {
        rope_angles(1234, 128, 10000.0f, cos, sin);
        benchmark::DoNotOptimize(cos.data());
    }
}
BENCHMARK(BM_RopeAngles);

void BM_Softmax(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    const auto input = random_floats(n, 6);
    std::vector<float> x(n);
    for (auto _ : state) {
        std::memcpy(x.data(), input.data(), n * sizeof(float));
        softmax(x, static_cast<int64_t>(n));
        benchmark::DoNotOptimize(x.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Softmax)->Arg(512)->Arg(4096);

void BM_SiluMul(benchmark::State& state) {
    const auto n = static_cast<size_t>(state.range(0));
    const auto gate = random_floats(n, 7);
    const auto up = random_floats(n, 8);
    std::vector<float> out(n);
    for (auto _ : state) {
        silu_mul(gate, up, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SiluMul)->Arg(11008);

// Single-token decode attention over one layer's cache of n_kv rows: n_heads query heads and
// n_kv_heads kv heads of 128, cache elements T (float or uint16_t half bits). As in a real decode
// step, where every other layer's weights and cache pass through the caches in between, the rows
// come from DRAM: iterations cycle through copies of the cache (one per "layer") that together
// exceed the last-level cache. Reports cache bytes read per second.
constexpr size_t kCacheStreamBytes = size_t{1} << 30;

template <class T>
void BM_AttentionDecode(benchmark::State& state) {
    const int64_t n_kv = state.range(0);
    const AttentionShape shape{state.range(1), state.range(2), 128, 1, n_kv - 1, n_kv};
    const int64_t kv_stride = shape.n_kv_heads * shape.head_dim;
    const size_t layer_elements = static_cast<size_t>(n_kv * kv_stride);
    const size_t layer_bytes = 2 * layer_elements * sizeof(T);
    const size_t copies = (kCacheStreamBytes + layer_bytes - 1) / layer_bytes;
    // K and V of copy c at [2c, 2c+1] * layer_elements.
    std::vector<T> cache(2 * copies * layer_elements);
    const auto values = random_floats(2 * layer_elements, 10);
    for (size_t c = 0; c < copies; ++c) {
        const std::span<T> dst(cache.data() + 2 * c * layer_elements, 2 * layer_elements);
        if constexpr (std::is_same_v<T, float>) {
            std::ranges::copy(values, dst.begin());
        } else {
            f32_to_f16(values, dst);
        }
    }
    const auto q = random_floats(static_cast<size_t>(shape.n_heads * shape.head_dim), 9);
    std::vector<float> out(q.size());
    std::vector<float> scratch(static_cast<size_t>(attention_scratch_size(shape)));
    size_t next = 0;
    for (auto _ : state) {
        const T* k = cache.data() + 2 * next * layer_elements;
        attention(shape, 0, shape.n_heads, q, shape.n_heads * shape.head_dim,
                  std::span<const T>(k, layer_elements),
                  std::span<const T>(k + layer_elements, layer_elements), kv_stride, out,
                  shape.n_heads * shape.head_dim, scratch);
        benchmark::DoNotOptimize(out.data());
        next = next + 1 == copies ? 0 : next + 1;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(layer_bytes));
}

void attention_decode_args(benchmark::internal::Benchmark* b) {
    b->Args({2048, 32, 32});  // LLaMA 7B
    b->Args({512, 32, 8});    // grouped-query heads (LLaMA 3 8B)
    b->Args({2048, 32, 8});
    b->ArgNames({"n_kv", "heads", "kv_heads"});
    b->Unit(benchmark::kMicrosecond);
    b->UseRealTime();
}
BENCHMARK_TEMPLATE(BM_AttentionDecode, float)->Apply(attention_decode_args);
BENCHMARK_TEMPLATE(BM_AttentionDecode, uint16_t)->Apply(attention_decode_args);

// Prompt attention of n_q tokens over an empty cache (n_kv = n_q), all heads, cache elements T: a
// half cache adds the widening of each kv head's rows to the two GEMMs per head.
template <class T>
void BM_AttentionPrompt(benchmark::State& state) {
    const int64_t n_q = state.range(0);
    const AttentionShape shape{state.range(1), state.range(2), 128, n_q, 0, n_q};
    const int64_t q_stride = shape.n_heads * shape.head_dim;
    const int64_t kv_stride = shape.n_kv_heads * shape.head_dim;
    const auto values = random_floats(static_cast<size_t>(2 * n_q * kv_stride), 12);
    std::vector<T> cache(values.size());
    if constexpr (std::is_same_v<T, float>) {
        std::ranges::copy(values, cache.begin());
    } else {
        f32_to_f16(values, cache);
    }
    const std::span<const T> k(cache.data(), static_cast<size_t>(n_q * kv_stride));
    const std::span<const T> v(cache.data() + n_q * kv_stride, k.size());
    const auto q = random_floats(static_cast<size_t>(n_q * q_stride), 13);
    std::vector<float> out(q.size());
    std::vector<float> scratch(static_cast<size_t>(attention_scratch_size(shape)));
    for (auto _ : state) {
        attention(shape, 0, shape.n_heads, q, q_stride, k, v, kv_stride, out, q_stride, scratch);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK_TEMPLATE(BM_AttentionPrompt, float)
    ->Args({512, 32, 32})
    ->ArgNames({"n_q", "heads", "kv_heads"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_AttentionPrompt, uint16_t)
    ->Args({512, 32, 32})
    ->ArgNames({"n_q", "heads", "kv_heads"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace llama::kernels

// MemoryRead, the bandwidth ceiling, is in memory_read_bench.cpp.

BENCHMARK_MAIN();
