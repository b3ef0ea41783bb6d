#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "llama/chat.h"
#include "llama/sampler.h"
#include "llama/tokenizer.h"

namespace llama::server {

// The generation settings of a completion or chat completion request, validated.
struct GenerationRequest {
    std::optional<int64_t> max_tokens;  // nullopt: until EOS or the context is full
    SamplerParams sampler;              // seed filled in (random when the request has none)
    std::vector<std::string> stop;
    bool stream = false;
    bool ignore_eos = false;     // llama.cpp's extension: generate past EOS (benchmarks)
    bool include_usage = false;  // stream_options.include_usage: a last chunk with usage only
};

// POST /v1/completions: the prompt text.
struct CompletionRequest {
    std::string prompt;
    GenerationRequest generation;
};

// POST /v1/chat/completions: the dialog in LLaMA-2 chat turns.
struct ChatRequest {
    std::optional<std::string> system;
    std::vector<ChatTurn> turns;  // the last one awaits the answer
    GenerationRequest generation;
};

// Parse and validate request bodies; throw ApiError (400) naming the field for bad JSON, a wrong
// type or an out-of-range value. Unknown fields are ignored, as OpenAI clients expect.
// `random_seed` supplies the seed of a request that has none.
nlohmann::json parse_json_body(const std::string& body);
CompletionRequest parse_completion_request(const nlohmann::json& body, uint64_t random_seed);
ChatRequest parse_chat_request(const nlohmann::json& body, uint64_t random_seed);

// A request body of POST /v1/chat/completions (`chat`) or /v1/completions as the server queues
// it: the prompt tokenized (a completion's text after BOS; a chat in the LLaMA-2 format) and the
// generation settings. Throws ApiError (400) for a bad body or an empty prompt and llama::Error
// for a dialog the tokenizer cannot build. The one parser of both endpoints, also fuzzed
// (tests/fuzz/server_request.cpp).
struct PromptRequest {
    std::vector<int32_t> prompt;
    bool text_after_prompt = true;  // a completion's text continues the prompt's
    GenerationRequest generation;
};
PromptRequest parse_prompt_request(const std::string& body, bool chat, const Tokenizer& tokenizer,
                                   uint64_t random_seed);

// POST /tokenize: {"content": string, "add_special": bool (default false)}.
struct TokenizeRequest {
    std::string content;
    bool add_special = false;
};
TokenizeRequest parse_tokenize_request(const std::string& body);
// POST /detokenize: {"tokens": [ids in [0, vocab_size)]}.
std::vector<int32_t> parse_detokenize_request(const std::string& body, int64_t vocab_size);

}  // namespace llama::server
