#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "llama/context.h"
#include "llama/sampler.h"
#include "llama/tokenizer.h"

namespace llama {

struct GenerationParams {
    int64_t n_predict = 128;  // most tokens to generate; < 0: until EOS or the context is full
    SamplerParams sampler;
    bool add_bos = true;
    bool ignore_eos = false;  // keep going past EOS (its logit is set to -inf)
    bool echo_prompt =
        false;  // pass the prompt text to the callback first, once it is known to fit
};

enum class StopReason { EndOfSequence, TokenLimit, ContextFull, Callback };

struct GenerationStats {
    int64_t prompt_tokens = 0;        // including BOS
    int64_t generated_tokens = 0;     // tokens sampled and streamed (EOS not counted)
    double prompt_seconds = 0.0;      // the prefill forward
    double generation_seconds = 0.0;  // sampling and decode steps after the prefill
    StopReason stop_reason = StopReason::TokenLimit;
    std::vector<int32_t> output_tokens;  // the generated token ids, in order

    double prompt_tokens_per_second() const;
    double generation_tokens_per_second() const;
};

// Receives generated text as it becomes complete; return false to stop generating.
using TextCallback = std::function<bool(std::string_view piece)>;

// Runs `prompt` through the model and samples up to n_predict tokens after it, streaming their
// text. The context is reset first and must hold a single sequence. The whole prompt goes through
// one forward call (the context splits it into batches), then one token per decode step.
// Throws llama::Error if the prompt is empty or does not leave room for a token in the context;
// stops quietly when the context fills up.
GenerationStats generate(InferenceContext& context, const Tokenizer& tokenizer,
                         std::string_view prompt, const GenerationParams& params,
                         const TextCallback& on_text);

// Continues the context's single sequence without resetting it: appends `tokens` after what the
// KV cache already holds (earlier turns of a conversation), then samples up to n_predict tokens
// as generate() does and streams their text. The text is decoded from the generated tokens alone,
// so the first generated piece loses its leading space. `sampler` carries the repetition history
// and the random state from call to call; `tokens` and the generated tokens are accepted into it.
// params.add_bos, params.echo_prompt and params.sampler do not apply. As with generate(), the cache
// ends up holding `tokens` and the generated tokens, except the last one when generation stopped
// before running it through the model (token limit, callback, full context), and never EOS:
// context.n_past() tells how many were kept, and the next call passes the rest first. Throws
// llama::Error if `tokens` is empty or the context cannot hold them plus one generated token.
GenerationStats continue_generation(InferenceContext& context, const Tokenizer& tokenizer,
                                    std::span<const int32_t> tokens, const GenerationParams& params,
                                    Sampler& sampler, const TextCallback& on_text);

}  // namespace llama
