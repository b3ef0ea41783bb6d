#pragma once

// Synthetic LLaMA models: a named shape with seeded random weights, for benchmarking shapes whose
// checkpoints are not at hand (llama-bench --config llama-7b).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llama/config.h"
#include "llama/model.h"
#include "llama/tensor.h"

namespace llama {

// Shapes of well-known models (max_context 4096 so the benchmark grid fits):
//   llama-7b   hidden 4096, 32 layers, 32/32 heads, head_dim 128, ffn 11008, vocab 32000
//   llama-13b  hidden 5120, 40 layers, 40/40 heads, head_dim 128, ffn 13824, vocab 32000
//   small      hidden 1024,  8 layers, 16/4 heads,  head_dim 64,  ffn 2816,  vocab 32000
//   tiny       hidden 256,   4 layers,  8/4 heads,  head_dim 32,  ffn 688,   vocab 1024
std::optional<LlamaConfig> preset_config(std::string_view name);
std::vector<std::string> preset_names();

struct RandomModelParams {
    LlamaConfig config;        // n_layers decides how many layers are built
    DType dtype = DType::F16;  // F32, F16 or BF16
    uint64_t seed = 42;
    // Weights are uniform with this standard deviation (GPT-style 0.02): projections of unit-RMS
    // activations stay O(1) at 7B widths, so activations remain finite through every layer.
    float weight_std = 0.02f;
    int n_threads = 1;  // threads filling the buffers
};

// A real LlamaModel whose weight buffers are allocated here and kept alive by model.storage:
// fused qkv [q_size + 2*kv_size, hidden], o [hidden, q_size], fused gate_up [2*ffn, hidden],
// down [hidden, ffn], embedding and lm_head [vocab, hidden]; norm weights are 1. Every value is a
// pure function of (seed, tensor, element index), so the result does not depend on n_threads.
// Throws llama::Error for an invalid config or an unsupported dtype.
LlamaModel make_random_model(const RandomModelParams& params);

}  // namespace llama
