#pragma once

// The LLaMA-2-chat prompt format, token for token as Meta's reference code builds it
// (llama/generation.py, chat_completion):
//
//   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user2} [/INST]
//
// <s> and </s> are the BOS and EOS token ids, never text. Each turn's text is encoded on its own
// (so it gets sentencepiece's dummy prefix), as Meta's code calls encode once per turn.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/context.h"
#include "llama/generator.h"
#include "llama/sampler.h"
#include "llama/tokenizer.h"

namespace llama {

// One exchange: what the user said and, once the model has answered, its answer.
struct ChatTurn {
    std::string user;
    std::optional<std::string> answer;  // nullopt: the turn the model is to answer next
};

// The whole dialog as tokens. The system prompt, when given, goes into the first user message
// inside a <<SYS>> block. User messages and answers are stripped of surrounding whitespace.
// Every turn with an answer ends with EOS; a turn without one ends with "[/INST]", ready for the
// model's answer, and must be the last. Throws llama::Error if there are no turns, a turn without
// an answer is not the last, or the tokenizer has no BOS or EOS token.
std::vector<int32_t> llama2_chat_tokens(const Tokenizer& tokenizer,
                                        const std::optional<std::string>& system,
                                        std::span<const ChatTurn> turns);

// The tokens of one user message awaiting an answer: BOS, then "[INST] {user} [/INST]" (with the
// <<SYS>> block first when `system` is given, i.e. for the first message). A conversation that
// keeps its KV cache feeds, per turn, EOS after the previous answer (if any) and then these.
// Equals llama2_chat_tokens(tokenizer, system, {{user, nullopt}}).
std::vector<int32_t> llama2_chat_user_tokens(const Tokenizer& tokenizer,
                                             const std::optional<std::string>& system,
                                             std::string_view user);

// A LLaMA-2-chat conversation on one context that keeps its KV cache from turn to turn: each
// reply runs only the new tokens through the model (EOS closing the previous answer, then the new
// message as llama2_chat_user_tokens builds it). The answers stay in the cache as the model
// generated them, where llama2_chat_tokens would re-encode their text; both agree token for token
// on the first message. The context and tokenizer must outlive the session.
class ChatSession {
  public:
    // Resets the context. `params` applies to every reply (n_predict: tokens per answer).
    ChatSession(InferenceContext& context, const Tokenizer& tokenizer,
                std::optional<std::string> system, const GenerationParams& params);

    // Answers `user`, streaming the answer's text, and keeps the exchange. StopReason::ContextFull
    // means the answer was cut short and the conversation cannot go on. Throws llama::Error if the
    // message does not fit in what is left of the context (with room for one answer token); the
    // session is unchanged then.
    GenerationStats reply(std::string_view user, const TextCallback& on_text);

    // The conversation's tokens so far: what the KV cache holds, then the generated tokens it
    // does not hold yet (an answer's last token, when it stopped before EOS).
    const std::vector<int32_t>& tokens() const { return tokens_; }
    int64_t n_turns() const { return n_turns_; }

  private:
    InferenceContext& context_;
    const Tokenizer& tokenizer_;
    std::optional<std::string> system_;
    GenerationParams params_;
    Sampler sampler_;
    std::vector<int32_t> tokens_;
    int64_t n_turns_ = 0;
};

// `text` without leading and trailing whitespace (Python's str.strip() for ASCII whitespace).
std::string_view strip_whitespace(std::string_view text);

}  // namespace llama
