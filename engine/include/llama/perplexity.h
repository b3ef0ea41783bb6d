#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "llama/context.h"
#include "llama/tokenizer.h"

namespace llama {

// Progress after one chunk.
struct PerplexityChunk {
    int64_t index = 0;  // 0-based
    int64_t n_chunks = 0;
    double running_ppl = 0.0;  // exp(mean NLL) over every token scored so far
    double seconds = 0.0;      // time spent on this chunk
};

struct PerplexityResult {
    double ppl = 0.0;
    double mean_nll = 0.0;
    int64_t n_tokens = 0;  // tokens in the text, BOS included
    int64_t n_chunks = 0;
    int64_t n_scored = 0;  // predictions that entered the mean
    double seconds = 0.0;
};

using ChunkCallback = std::function<void(const PerplexityChunk&)>;

// llama.cpp's perplexity protocol, so figures compare across engines. The text is tokenized with
// BOS first and cut into non-overlapping chunks of n_ctx tokens (n_ctx = the context's size; a
// partial last chunk is dropped). Each chunk's first token is replaced by BOS, the chunk runs
// through the model from an empty cache, and only its second half is scored: the logits at
// positions n_ctx/2 .. n_ctx-2 predicting the following token. PPL = exp(mean NLL), with the
// log-softmax in double. Like llama.cpp, the text must give at least 2 * n_ctx tokens; anything
// less throws llama::Error naming both counts.
PerplexityResult compute_perplexity(InferenceContext& context, const Tokenizer& tokenizer,
                                    std::string_view text, const ChunkCallback& on_chunk = {});

// The same over tokens that are already the tokenized text (BOS first).
PerplexityResult compute_perplexity(InferenceContext& context, std::span<const int32_t> tokens,
                                    int32_t bos_id, const ChunkCallback& on_chunk = {});

// -log softmax(logits)[target], computed in double.
double negative_log_likelihood(std::span<const float> logits, int32_t target);

}  // namespace llama
