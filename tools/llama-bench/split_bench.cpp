// Google Benchmark of the step llama-bench's A/B is about: LlamaAttention::split in both modes,
// alone, in ns per call. A forward calls it once per layer and chunk, so this times the whole
// difference the split mode can make, without the forward pass around it.

#include <benchmark/benchmark.h>

#include <vector>

#include "llama/model.h"
#include "llama/random_model.h"

namespace {

// The split reads only the shapes, never the weights: a dummy byte stands in for their data.
llama::LlamaAttention make_attention(const char* preset) {
    static const std::byte dummy{};
    const llama::LlamaConfig c = *llama::preset_config(preset);
    const llama::Matrix qkv{llama::DType::F16, c.q_size() + 2 * c.kv_size(), c.hidden_size, &dummy};
    const llama::Matrix o{llama::DType::F16, c.hidden_size, c.q_size(), &dummy};
    return llama::LlamaAttention(c, qkv, o);
}

void split_bench(benchmark::State& state, const char* preset, llama::SplitMode mode) {
    const llama::LlamaAttention attention = make_attention(preset);
    for (auto _ : state) {
        llama::QkvSplit split = attention.split(mode);
        benchmark::DoNotOptimize(split);
        benchmark::ClobberMemory();
    }
}

}  // namespace

BENCHMARK_CAPTURE(split_bench, llama7b_cached, "llama-7b", llama::SplitMode::Cached);
BENCHMARK_CAPTURE(split_bench, llama7b_per_forward, "llama-7b", llama::SplitMode::PerForward);
BENCHMARK_CAPTURE(split_bench, small_gqa_cached, "small", llama::SplitMode::Cached);
BENCHMARK_CAPTURE(split_bench, small_gqa_per_forward, "small", llama::SplitMode::PerForward);

BENCHMARK_MAIN();
