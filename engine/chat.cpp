#include "llama/chat.h"

#include <utility>

#include "llama/error.h"

namespace llama {

namespace {

constexpr std::string_view kBeginInst = "[INST]";
constexpr std::string_view kEndInst = "[/INST]";
constexpr std::string_view kBeginSys = "<<SYS>>\n";
constexpr std::string_view kEndSys = "\n<</SYS>>\n\n";

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// The user message as Meta's code has it before "[INST] ... [/INST]": the system block merged
// into the first message, the whole stripped.
std::string user_content(const std::optional<std::string>& system, std::string_view user) {
    std::string content(strip_whitespace(user));
    if (system) {
        content = std::string(kBeginSys) + *system + std::string(kEndSys) + content;
    }
    return std::string(strip_whitespace(content));
}

void append(std::vector<int32_t>& out, const std::vector<int32_t>& tokens) {
    out.insert(out.end(), tokens.begin(), tokens.end());
}

void require_special_tokens(const Tokenizer& tokenizer) {
    if (tokenizer.bos_id() < 0 || tokenizer.eos_id() < 0) {
        throw Error("the LLaMA-2 chat format needs BOS and EOS tokens, and this tokenizer lacks " +
                    std::string(tokenizer.bos_id() < 0 ? "BOS" : "EOS"));
    }
}

}  // namespace

std::string_view strip_whitespace(std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

std::vector<int32_t> llama2_chat_user_tokens(const Tokenizer& tokenizer,
                                             const std::optional<std::string>& system,
                                             std::string_view user) {
    require_special_tokens(tokenizer);
    const std::string text =
        std::string(kBeginInst) + " " + user_content(system, user) + " " + std::string(kEndInst);
    return tokenizer.encode(text, /*add_bos=*/true);
}

std::vector<int32_t> llama2_chat_tokens(const Tokenizer& tokenizer,
                                        const std::optional<std::string>& system,
                                        std::span<const ChatTurn> turns) {
    require_special_tokens(tokenizer);
    if (turns.empty()) throw Error("a chat needs at least one user message");
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < turns.size(); ++i) {
        const ChatTurn& turn = turns[i];
        // Only the first message carries the system prompt.
        const std::optional<std::string> turn_system = i == 0 ? system : std::nullopt;
        if (!turn.answer) {
            if (i + 1 != turns.size()) {
                throw Error("chat turn " + std::to_string(i + 1) + " of " +
                            std::to_string(turns.size()) +
                            " has no answer: only the last turn may be waiting for one");
            }
            append(tokens, llama2_chat_user_tokens(tokenizer, turn_system, turn.user));
            break;
        }
        // One encode call per exchange, answer included, as Meta's code does (the answer's
        // tokens depend on the text before it).
        const std::string text =
            std::string(kBeginInst) + " " + user_content(turn_system, turn.user) + " " +
            std::string(kEndInst) + " " + std::string(strip_whitespace(*turn.answer)) + " ";
        append(tokens, tokenizer.encode(text, /*add_bos=*/true));
        tokens.push_back(tokenizer.eos_id());
    }
    return tokens;
}

ChatSession::ChatSession(InferenceContext& context, const Tokenizer& tokenizer,
                         std::optional<std::string> system, const GenerationParams& params)
    : context_(context),
      tokenizer_(tokenizer),
      system_(std::move(system)),
      params_(params),
      sampler_(params.sampler) {
    require_special_tokens(tokenizer);
    context_.reset();
}

GenerationStats ChatSession::reply(std::string_view user, const TextCallback& on_text) {
    // Generated tokens the cache does not hold yet come first, then EOS ending the answer.
    const auto n_cached = static_cast<size_t>(context_.n_past());
    std::vector<int32_t> next(tokens_.begin() + static_cast<std::ptrdiff_t>(n_cached),
                              tokens_.end());
    if (n_turns_ > 0) next.push_back(tokenizer_.eos_id());
    append(next, llama2_chat_user_tokens(tokenizer_, n_turns_ == 0 ? system_ : std::nullopt, user));

    GenerationStats stats =
        continue_generation(context_, tokenizer_, next, params_, sampler_, on_text);
    tokens_.resize(n_cached);
    append(tokens_, next);
    append(tokens_, stats.output_tokens);
    ++n_turns_;
    return stats;
}

}  // namespace llama
