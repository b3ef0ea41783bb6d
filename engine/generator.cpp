#include "llama/generator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "engine/stopwatch.h"
#include "llama/error.h"

namespace llama {

double GenerationStats::prompt_tokens_per_second() const {
    return prompt_seconds > 0.0 ? static_cast<double>(prompt_tokens) / prompt_seconds : 0.0;
}

double GenerationStats::generation_tokens_per_second() const {
    return generation_seconds > 0.0 ? static_cast<double>(generated_tokens) / generation_seconds
                                    : 0.0;
}

namespace {

void check_context(const InferenceContext& context, const Tokenizer& tokenizer) {
    if (context.n_seqs() != 1) {
        throw Error("generation needs a context with one sequence, this one has " +
                    std::to_string(context.n_seqs()));
    }
    const int64_t model_vocab = context.model().config.vocab_size;
    if (tokenizer.vocab_size() > model_vocab) {
        throw Error("tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                    " tokens but the model's vocabulary has only " + std::to_string(model_vocab));
    }
}

// Runs `tokens` through the model after what the cache holds, then samples and streams up to
// n_predict tokens. The caller has checked that the tokens fit with room for one more.
void prefill_and_sample(InferenceContext& context, const Tokenizer& tokenizer,
                        std::span<const int32_t> tokens, const GenerationParams& params,
                        Sampler& sampler, StreamingDecoder& decoder, const TextCallback& on_text,
                        GenerationStats& stats) {
    // Models may pad their vocabulary; tokens past the tokenizer's would have no text.
    const auto n_vocab = static_cast<size_t>(tokenizer.vocab_size());
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    const int64_t n_ctx = context.n_ctx();
    const int64_t n_before = context.n_past();
    const auto emit = [&](std::string_view text) {
        return text.empty() || !on_text || on_text(text);
    };

    const Stopwatch prompt_start;
    std::span<const float> logits = context.forward(tokens, n_tokens, LogitsMode::Last);
    stats.prompt_seconds = prompt_start.seconds();
    spdlog::debug("prefill: {} tokens in {:.3f} s", n_tokens, stats.prompt_seconds);

    const Stopwatch generation_start;
    const int32_t eos = tokenizer.eos_id();
    std::vector<float> row;
    while (true) {
        if (params.n_predict >= 0 && stats.generated_tokens >= params.n_predict) {
            stats.stop_reason = StopReason::TokenLimit;
            break;
        }
        // Each generated token is stored in the cache before the next is sampled.
        if (n_before + n_tokens + stats.generated_tokens >= n_ctx) {
            stats.stop_reason = StopReason::ContextFull;
            break;
        }
        row.assign(logits.begin(), logits.begin() + n_vocab);
        if (params.ignore_eos && eos >= 0) row[eos] = -std::numeric_limits<float>::infinity();
        const int32_t token = sampler.sample(row);
        if (token == eos && !params.ignore_eos) {
            stats.stop_reason = StopReason::EndOfSequence;
            break;
        }
        sampler.accept(token);
        stats.output_tokens.push_back(token);
        ++stats.generated_tokens;
        if (!emit(decoder.push(token))) {
            stats.stop_reason = StopReason::Callback;
            break;
        }
        const bool last = (params.n_predict >= 0 && stats.generated_tokens >= params.n_predict) ||
                          n_before + n_tokens + stats.generated_tokens >= n_ctx;
        if (last) continue;  // the loop condition reports why; no forward needed
        logits = context.forward(std::span<const int32_t>(&token, 1), 1, LogitsMode::Last);
    }
    if (stats.stop_reason != StopReason::Callback) emit(decoder.flush());
    stats.generation_seconds = generation_start.seconds();
}

}  // namespace

GenerationStats generate(InferenceContext& context, const Tokenizer& tokenizer,
                         std::string_view prompt, const GenerationParams& params,
                         const TextCallback& on_text) {
    check_context(context, tokenizer);
    const std::vector<int32_t> prompt_tokens = tokenizer.encode(prompt, params.add_bos);
    const auto n_prompt = static_cast<int64_t>(prompt_tokens.size());
    const int64_t n_ctx = context.n_ctx();
    if (n_prompt == 0) throw Error("the prompt is empty (and no BOS token was added)");
    if (n_prompt >= n_ctx) {
        throw ContextFullError(
            "the prompt is " + std::to_string(n_prompt) + " tokens long but the context holds " +
            std::to_string(n_ctx) +
            " tokens, leaving no room to generate; shorten the prompt or raise the "
            "context size (-c)");
    }

    GenerationStats stats;
    stats.prompt_tokens = n_prompt;
    context.reset();
    Sampler sampler(params.sampler);
    StreamingDecoder decoder(tokenizer);
    for (int32_t token : prompt_tokens) {
        sampler.accept(token);
        decoder.push(token);  // the caller prints the prompt; this sets the spacing state
    }
    if (params.echo_prompt && !prompt.empty() && on_text && !on_text(prompt)) {
        stats.stop_reason = StopReason::Callback;
        return stats;
    }
    prefill_and_sample(context, tokenizer, prompt_tokens, params, sampler, decoder, on_text, stats);
    return stats;
}

GenerationStats continue_generation(InferenceContext& context, const Tokenizer& tokenizer,
                                    std::span<const int32_t> tokens, const GenerationParams& params,
                                    Sampler& sampler, const TextCallback& on_text) {
    check_context(context, tokenizer);
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    if (n_tokens == 0) throw Error("nothing to continue with: no new tokens");
    const int64_t n_past = context.n_past();
    const int64_t n_ctx = context.n_ctx();
    if (n_past + n_tokens >= n_ctx) {
        throw ContextFullError(
            "no room in the context for the next " + std::to_string(n_tokens) +
            " tokens: it holds " + std::to_string(n_ctx) + " tokens, " + std::to_string(n_past) +
            " are in use, and one more is needed to generate; raise the context size "
            "(-c)");
    }
    GenerationStats stats;
    stats.prompt_tokens = n_tokens;
    for (int32_t token : tokens) sampler.accept(token);
    StreamingDecoder decoder(tokenizer);  // the answer's text on its own
    prefill_and_sample(context, tokenizer, tokens, params, sampler, decoder, on_text, stats);
    return stats;
}

}  // namespace llama
