#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "llama/kv_cache.h"
#include "llama/model.h"
#include "llama/thread_pool.h"

namespace llama {

// Arithmetic of the projections of many tokens at once (prompt processing, batches). BF16, the
// fast default, uses reduced-precision dot products where the ISA level (llama/isa.h) has them:
// float weights are rounded to bfloat16 with the activations and multiplied on AMX tiles or with
// AVX512-BF16 (fp32 accumulation; logits within about 1e-2 relative of exact), and quantized
// weights without AMX multiply 8-bit activations with integer dot products, as decode and
// llama.cpp do. F32 runs every such projection as fp32 sgemm on widened weights: the exact
// reference. One-token decode is always fp32 over the stored weights.
enum class PromptPrecision { F32, BF16 };

struct ContextParams {
    int64_t n_ctx = 0;      // tokens per sequence the KV cache holds; 0 = the model's max context
    int64_t n_seqs = 1;     // independent sequences run side by side (llama-bench's batch)
    int64_t n_batch = 512;  // most tokens (over all sequences) in one forward chunk
    int n_threads = 1;
    SplitMode split_mode = SplitMode::Cached;
    PromptPrecision prompt_precision = PromptPrecision::BF16;
    CacheType cache_type = CacheType::F16;  // element type of the KV cache (see kv_cache.h)
};

enum class LogitsMode { Last, All };

// Everything one run of a model needs besides the weights: KV cache, scratch buffers, threads.
class InferenceContext {
  public:
    InferenceContext(const LlamaModel& model, const ContextParams& params);
    ~InferenceContext();

    // Appends n_tokens_per_seq tokens to each of the n_seqs() sequences and runs the model over
    // them (in chunks of at most n_batch tokens). tokens is [n_seqs, n_tokens_per_seq].
    // Returns logits: LogitsMode::Last -> [n_seqs, vocab] for each sequence's last new token;
    // LogitsMode::All -> [n_seqs, n_tokens_per_seq, vocab]. The span stays valid until the next
    // call. Throws llama::Error if a sequence would exceed n_ctx or a token id is out of range.
    std::span<const float> forward(std::span<const int32_t> tokens, int64_t n_tokens_per_seq,
                                   LogitsMode mode = LogitsMode::Last);

    void reset();  // empties the KV cache of every sequence
    int64_t n_past() const { return cache_.n_past(); }
    int64_t n_ctx() const { return params_.n_ctx; }
    int64_t n_seqs() const { return params_.n_seqs; }
    const LlamaModel& model() const { return model_; }
    const ContextParams& params() const { return params_; }
    void set_split_mode(SplitMode mode) { params_.split_mode = mode; }

  private:
    struct Workspace;
    void forward_chunk(std::span<const int32_t> tokens, int64_t n_seq_tokens, int64_t token_offset,
                       int64_t total_per_seq, LogitsMode mode, std::span<float> logits);

    const LlamaModel& model_;
    ContextParams params_;
    ThreadPool pool_;
    KVCache cache_;
    std::unique_ptr<Workspace> ws_;
    std::vector<float> logits_;
};

}  // namespace llama
