#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "llama/batch.h"
#include "llama/error.h"
#include "llama/kv_cache.h"
#include "llama/model.h"
#include "llama/thread_pool.h"

namespace llama {

// Arithmetic of the projections of many tokens at once (prompt processing, batches). BF16, the
// fast default, uses reduced-precision dot products where the ISA level (llama/isa.h) has them:
// float weights are rounded to bfloat16 with the activations and multiplied on AMX tiles or with
// AVX512-BF16 where that outruns fp32 FMA (AMD's cores; fp32 accumulation; logits within about
// 1e-2 relative of exact), elsewhere on exact fp32 FMA tiles at AVX2 and up, and quantized
// weights without AMX multiply 8-bit activations with integer dot products, as decode and
// llama.cpp do. F32 runs every such projection as fp32 sgemm on widened weights: the exact
// reference. One-token decode multiplies the stored weights in fp32; with BF16, F16 weights read
// the activations rounded to f16 (2^-11 relative, as llama.cpp does; fp32 if a value is beyond
// f16's range), which streams the weights ~10-25% faster; F32 keeps them fp32.
enum class PromptPrecision { F32, BF16 };

struct ContextParams {
    int64_t n_ctx = 0;      // tokens per sequence the KV cache holds; 0 = the model's max context
    int64_t n_seqs = 1;     // independent sequences the KV cache holds (llama-bench's batch)
    int64_t n_batch = 512;  // most tokens (over all sequences) in one forward chunk
    int n_threads = 1;
    SplitMode split_mode = SplitMode::Cached;
    PromptPrecision prompt_precision = PromptPrecision::BF16;
    CacheType cache_type = CacheType::F16;  // element type of the KV cache (see kv_cache.h)
    // Forwards of at most this many tokens run every projection with the one-token kernels, token
    // by token over each cached block of weight rows (as the library does anyway for a few
    // tokens), so each token's logits are bit-identical to running it alone: a server's decode
    // steps then give the same results whatever else is in the batch. Larger forwards use GEMM.
    // 0: the library's own threshold only.
    int64_t exact_batch_tokens = 0;
};

enum class LogitsMode { Last, All };

// What decode() and forward() throw when a sequence would hold more than n_ctx tokens (and
// generate() when a prompt leaves no room to generate).
class ContextFullError : public Error {
  public:
    using Error::Error;
};

// Everything one run of a model needs besides the weights: KV cache, scratch buffers, threads.
// The cache holds n_seqs independent sequences, each with its own length; decode() runs any mix
// of their tokens in one forward, and forward() is the lockstep special case built on it.
class InferenceContext {
  public:
    InferenceContext(const LlamaModel& model, const ContextParams& params);
    ~InferenceContext();

    // Runs the model over every token of `batch` in one forward (in chunks of at most n_batch
    // tokens, in batch order): projections over all tokens at once, attention per run of
    // consecutive tokens of one sequence, causal by position, over that sequence's cache. Each
    // token's key and value join its sequence's cache. Returns the logits of the tokens that asked
    // for them, [n_outputs, vocab] rows in batch order; logits(i) finds batch entry i's row. The
    // span stays valid until the next decode(), forward() or reset(). Throws llama::Error, before
    // running anything (the cache stays as it was), if the batch is empty, a sequence id is out of
    // range, a token id is outside the vocabulary, a position does not follow what its sequence
    // holds (see Batch), or a sequence would exceed n_ctx (ContextFullError).
    std::span<const float> decode(const Batch& batch);
    // The logits row (vocab floats) of entry i of the last decode()'s batch. Throws llama::Error
    // if there is no entry i or it did not ask for logits.
    std::span<const float> logits(size_t i) const;

    // Appends n_tokens_per_seq tokens to each of the n_seqs() sequences, after what each holds,
    // and runs the model over them (in chunks of n_batch / n_seqs tokens of every sequence).
    // tokens is [n_seqs, n_tokens_per_seq]. Returns logits: LogitsMode::Last -> [n_seqs, vocab]
    // for each sequence's last new token; LogitsMode::All -> [n_seqs, n_tokens_per_seq, vocab].
    // The span stays valid until the next call. Throws llama::Error if a token id is out of
    // range, ContextFullError if a sequence would exceed n_ctx.
    std::span<const float> forward(std::span<const int32_t> tokens, int64_t n_tokens_per_seq,
                                   LogitsMode mode = LogitsMode::Last);

    // The sequences' caches (see KVCache): what each holds, and the operations for prompt reuse
    // (truncate to a common prefix, then decode the rest) and shared prefixes (decode once, copy).
    // They throw llama::Error for a sequence id out of range or a length the sequence lacks.
    int64_t seq_length(int64_t seq) const { return cache_.length(seq); }
    void seq_clear(int64_t seq) { cache_.clear(seq); }
    void seq_truncate(int64_t seq, int64_t n_tokens) { cache_.truncate(seq, n_tokens); }
    void seq_copy(int64_t src, int64_t dst) { cache_.copy(src, dst); }

    void reset();  // empties the KV cache of every sequence
    // Tokens held by sequence 0 (by every sequence while they advance together via forward()).
    int64_t n_past() const { return cache_.length(0); }
    int64_t n_ctx() const { return params_.n_ctx; }
    int64_t n_seqs() const { return params_.n_seqs; }
    const LlamaModel& model() const { return model_; }
    const ContextParams& params() const { return params_; }
    void set_split_mode(SplitMode mode) { params_.split_mode = mode; }

  private:
    struct Workspace;
    // Throws llama::Error for the first token that decode() cannot run.
    void check_batch(std::span<const BatchToken> tokens) const;
    // Runs checked tokens in chunks of chunk_tokens; the logits of token i go to row out_rows[i]
    // of logits_ (none when negative).
    void run(std::span<const BatchToken> tokens, std::span<const int64_t> out_rows,
             int64_t chunk_tokens);
    void forward_chunk(std::span<const BatchToken> tokens, std::span<const int64_t> out_rows);

    const LlamaModel& model_;
    ContextParams params_;
    ThreadPool pool_;
    KVCache cache_;
    std::unique_ptr<Workspace> ws_;
    std::vector<float> logits_;
    std::vector<int64_t> decode_rows_;  // per entry of decode()'s last batch: its logits row or -1
    Batch lockstep_;                    // forward()'s tokens as a batch
    std::vector<int64_t> lockstep_rows_;
};

}  // namespace llama
