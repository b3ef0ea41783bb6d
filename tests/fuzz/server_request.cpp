// llama-server's request parsers: a POST body as /v1/completions, /v1/chat/completions,
// /tokenize or /detokenize gets it, through the server's own functions (JSON, fields, prompt
// tokenization).

#include <string>

#include "api_error.h"
#include "llama/error.h"
#include "request.h"
#include "tests/fuzz/fixed_tokenizer.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

namespace {

// What the server hands the scheduler and sampler must be in the ranges they assume.
void check_generation(const server::GenerationRequest& g) {
    check(!g.max_tokens || (*g.max_tokens >= 1 && *g.max_tokens <= (int64_t{1} << 20)),
          "max_tokens out of range");
    const SamplerParams& s = g.sampler;
    check(s.temperature >= 0.0f && s.temperature <= 2.0f, "temperature out of range");
    check(s.top_p > 0.0f && s.top_p <= 1.0f, "top_p out of range");
    check(s.top_k >= 0, "negative top_k");
    check(s.min_p >= 0.0f && s.min_p <= 1.0f, "min_p out of range");
    check(s.presence_penalty >= -2.0f && s.presence_penalty <= 2.0f, "presence_penalty range");
    check(s.frequency_penalty >= -2.0f && s.frequency_penalty <= 2.0f, "frequency_penalty range");
    check(s.repeat_penalty > 0.0f && s.repeat_penalty <= 10.0f, "repeat_penalty out of range");
    check(g.stop.size() <= 16, "more than 16 stop strings");
    for (const std::string& stop : g.stop) check(!stop.empty(), "an empty stop string");
}

}  // namespace

// Input: a mode byte (its low 2 bits: 0 POST /v1/completions, 1 /v1/chat/completions,
// 2 /tokenize, 3 /detokenize), then the body. A request the server refuses must be a 4xx with a
// message; it is reported as the llama::Error the harness contract expects.
void server_request(Input input) {
    if (input.empty()) return;
    const int mode = input[0] & 3;
    const std::string body(reinterpret_cast<const char*>(input.data()) + 1, input.size() - 1);
    const Tokenizer& tokenizer = fixed_tokenizer();
    const auto check_ids = [&](const std::vector<int32_t>& ids) {
        for (int32_t id : ids) {
            check(id >= 0 && id < tokenizer.vocab_size(), "token id out of range");
        }
    };
    try {
        if (mode <= 1) {
            const bool chat = mode == 1;
            const server::PromptRequest request =
                server::parse_prompt_request(body, chat, tokenizer, /*random_seed=*/42);
            check(!request.prompt.empty() && request.prompt.front() == tokenizer.bos_id(),
                  "accepted prompt does not start with BOS");
            check_ids(request.prompt);
            check(request.text_after_prompt == !chat,
                  "text_after_prompt differs from the endpoint");
            check_generation(request.generation);
        } else if (mode == 2) {
            const server::TokenizeRequest request = server::parse_tokenize_request(body);
            check_ids(tokenizer.encode(request.content, request.add_special));
        } else {
            const std::vector<int32_t> ids =
                server::parse_detokenize_request(body, tokenizer.vocab_size());
            check_ids(ids);
            tokenizer.decode(ids);
        }
    } catch (const server::ApiError& e) {
        check(e.status() >= 400 && e.status() < 500, "a refused request that is not a 4xx");
        check(e.what()[0] != '\0', "a refused request without a message");
        throw Error("request refused (" + std::to_string(e.status()) + "): " + e.what());
    }
}

}  // namespace llama::fuzz
