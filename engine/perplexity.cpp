#include "llama/perplexity.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/stopwatch.h"
#include "llama/error.h"

namespace llama {

double negative_log_likelihood(std::span<const float> logits, int32_t target) {
    if (target < 0 || static_cast<size_t>(target) >= logits.size()) {
        throw Error("target token " + std::to_string(target) + " is outside the logits row of " +
                    std::to_string(logits.size()));
    }
    double max_logit = logits[0];
    for (float l : logits) max_logit = std::max(max_logit, static_cast<double>(l));
    double sum = 0.0;
    for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
    return std::log(sum) - (static_cast<double>(logits[target]) - max_logit);
}

PerplexityResult compute_perplexity(InferenceContext& context, std::span<const int32_t> tokens,
                                    int32_t bos_id, const ChunkCallback& on_chunk) {
    if (context.n_seqs() != 1) {
        throw Error("perplexity needs a context with one sequence, this one has " +
                    std::to_string(context.n_seqs()));
    }
    const int64_t n_ctx = context.n_ctx();
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    if (n_ctx < 4) {
        throw Error("perplexity needs a context of at least 4 tokens, got " +
                    std::to_string(n_ctx));
    }
    if (n_tokens < 2 * n_ctx) {
        throw Error("the text is " + std::to_string(n_tokens) +
                    " tokens long but perplexity with a context of " + std::to_string(n_ctx) +
                    " needs at least " + std::to_string(2 * n_ctx) +
                    " tokens (two chunks, as llama.cpp requires); use a longer text or a smaller "
                    "context (-c)");
    }
    const int64_t vocab = context.model().config.vocab_size;
    const int64_t n_chunks = n_tokens / n_ctx;
    const int64_t first = n_ctx / 2;

    PerplexityResult result;
    result.n_tokens = n_tokens;
    result.n_chunks = n_chunks;
    const Stopwatch start;
    double nll_sum = 0.0;
    std::vector<int32_t> chunk(n_ctx);
    for (int64_t c = 0; c < n_chunks; ++c) {
        const Stopwatch chunk_start;
        const auto begin = tokens.begin() + c * n_ctx;
        std::copy(begin, begin + n_ctx, chunk.begin());
        if (bos_id >= 0) chunk[0] = bos_id;

        context.reset();
        const std::span<const float> logits = context.forward(chunk, n_ctx, LogitsMode::All);
        for (int64_t pos = first; pos < n_ctx - 1; ++pos) {
            // Targets come from the original tokens; only position 0 was replaced.
            const int32_t target = begin[pos + 1];
            nll_sum += negative_log_likelihood(logits.subspan(pos * vocab, vocab), target);
            ++result.n_scored;
        }
        if (on_chunk) {
            on_chunk({c, n_chunks, std::exp(nll_sum / static_cast<double>(result.n_scored)),
                      chunk_start.seconds()});
        }
        spdlog::debug("perplexity chunk {}/{}: running nll {:.6f}", c + 1, n_chunks,
                      nll_sum / static_cast<double>(result.n_scored));
    }
    result.mean_nll = nll_sum / static_cast<double>(result.n_scored);
    result.ppl = std::exp(result.mean_nll);
    result.seconds = start.seconds();
    return result;
}

PerplexityResult compute_perplexity(InferenceContext& context, const Tokenizer& tokenizer,
                                    std::string_view text, const ChunkCallback& on_chunk) {
    const std::vector<int32_t> tokens = tokenizer.encode(text, /*add_bos=*/true);
    spdlog::info("perplexity: text is {} tokens", tokens.size());
    return compute_perplexity(context, tokens, tokenizer.bos_id(), on_chunk);
}

}  // namespace llama
