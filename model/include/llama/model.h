#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "llama/config.h"
#include "llama/tensor.h"

namespace llama {

// How attention splits its fused QKV projection into q, k and v. Cached uses the split sizes
// computed once at construction; PerForward rebuilds them as a fresh heap-allocated list on every
// forward, as the original Python code did. Both give bit-identical results; llama-bench times
// them.
enum class SplitMode { Cached, PerForward };

// Column ranges of q, k and v inside one row of the fused QKV output.
struct QkvSplit {
    int64_t q_offset, q_size;
    int64_t k_offset, kv_size;
    int64_t v_offset;
};

class LlamaAttention {
  public:
    // qkv: fused [q_size + 2*kv_size, hidden] weight (q rows, then k rows, then v rows).
    // o: [hidden, q_size].
    LlamaAttention(const LlamaConfig& config, Matrix qkv, Matrix o);
    // q, k and v as three matrices of their own, for files whose q/k/v tensors have different
    // quantized types (llama.cpp's Q2_K, Q3_K_M, Q4_K_M ... presets give attn_v more bits):
    // fusing them would mean requantizing to one type.
    LlamaAttention(const LlamaConfig& config, Matrix q, Matrix k, Matrix v, Matrix o);

    // The q/k/v weights as a stack of row blocks: one fused matrix, or q, k and v.
    std::span<const Matrix> qkv_parts() const { return {qkv_.data(), n_qkv_parts_}; }
    // The fused matrix (qkv_parts().size() == 1), else the q part.
    const Matrix& qkv_weight() const { return qkv_[0]; }
    const Matrix& o_weight() const { return o_; }

    // Where q, k and v live in a row of the QKV output, computed the way `mode` says.
    QkvSplit split(SplitMode mode) const;

  private:
    std::array<Matrix, 3> qkv_;
    size_t n_qkv_parts_;
    Matrix o_;
    std::array<int64_t, 3> split_sizes_;  // [q_size, kv_size, kv_size], cached at construction
};

class LlamaMLP {
  public:
    // gate_up: fused [2*ffn_size, hidden] weight (gate rows, then up rows). down: [hidden,
    // ffn_size].
    LlamaMLP(const LlamaConfig& config, Matrix gate_up, Matrix down);

    const Matrix& gate_up_weight() const { return gate_up_; }
    const Matrix& down_weight() const { return down_; }
    int64_t ffn_size() const { return ffn_size_; }

  private:
    Matrix gate_up_;
    Matrix down_;
    int64_t ffn_size_;
};

struct DecoderLayer {
    std::vector<float> attn_norm;  // [hidden]
    LlamaAttention attention;
    std::vector<float> ffn_norm;  // [hidden]
    LlamaMLP mlp;
};

// A loaded model: configuration, weights and whatever keeps their bytes alive (mapped files,
// fused buffers). Movable, not copyable; pass it by reference to an InferenceContext.
struct LlamaModel {
    LlamaConfig config;
    Matrix token_embedding;  // [vocab, hidden]
    std::vector<DecoderLayer> layers;
    std::vector<float> final_norm;  // [hidden]
    Matrix lm_head;                 // [vocab, hidden]
    std::string description;        // file format and weight types, for logs and reports
    std::vector<std::shared_ptr<const void>> storage;

    LlamaModel() = default;
    LlamaModel(LlamaModel&&) = default;
    LlamaModel& operator=(LlamaModel&&) = default;
    LlamaModel(const LlamaModel&) = delete;
    LlamaModel& operator=(const LlamaModel&) = delete;

    // Bytes of weight data the model references.
    int64_t weight_bytes() const;
    // Bytes of weights one decode step reads: every matrix but the token embedding table, of
    // which it reads one row (the output matrix is read whole, also when it is that table).
    // tokens/s of one sequence x decode_bytes() is the weight bandwidth a decode reaches.
    int64_t decode_bytes() const;
};

// Told how far loading has come, as a fraction in [0, 1] that never decreases (1 once the model is
// ready); returning false cancels the load, which then throws llama::Error.
using LoadProgressCallback = std::function<bool(float fraction)>;

struct LoadOptions {
    // Store Q4_0 / Q4_K / IQ4_NL / Q8_0 / Q6_K (Q6_K where a SIMD path runs) weights with every 16
    // rows interleaved, the layout the matrix-vector and GEMM kernels read fastest, and the other
    // matrices (quantized or float) as copies out of the file's pages in huge pages where the
    // kernel grants them (the same memory, read faster; GGUF files); false keeps the file's layout
    // and pages (A/B timing; loads faster).
    bool interleave_weights = true;
};

// Loads a Hugging Face LLaMA directory (config.json + *.safetensors) or a GGUF file.
// Throws llama::Error naming the problem on any bad or unsupported input.
LlamaModel load_model(const std::filesystem::path& path,
                      const LoadProgressCallback& on_progress = {},
                      const LoadOptions& options = {});

}  // namespace llama
