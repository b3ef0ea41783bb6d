#pragma once

#include <cstdint>
#include <string>

#include "llama/rope_layout.h"

namespace llama {

// Hyper-parameters of a LLaMA-shaped decoder, read from the checkpoint.
struct LlamaConfig {
    int64_t hidden_size = 0;
    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;
    int64_t ffn_size = 0;  // intermediate size of the SwiGLU MLP
    int64_t vocab_size = 0;
    int64_t max_context = 0;
    float rms_norm_eps = 1e-5f;
    float rope_theta = 10000.0f;
    RopeLayout rope_layout = RopeLayout::RotateHalf;
    int32_t bos_token_id = 1;
    int32_t eos_token_id = 2;

    int64_t q_size() const { return n_heads * head_dim; }
    int64_t kv_size() const { return n_kv_heads * head_dim; }

    // Throws llama::Error naming the first inconsistent field (zero sizes, heads not dividing
    // evenly, odd head_dim, ...).
    void validate() const;
    std::string describe() const;
};

}  // namespace llama
