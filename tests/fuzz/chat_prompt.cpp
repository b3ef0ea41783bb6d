// The LLaMA-2 chat prompt builder on arbitrary messages.

#include <algorithm>
#include <optional>

#include "llama/chat.h"
#include "tests/fuzz/fixed_tokenizer.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

// Input: a flags byte (bit 0: a system prompt comes first; bit 1: the last turn awaits its
// answer), then NUL-separated texts: [system,] user, answer, user, answer, ...
void chat_prompt(Input input) {
    if (input.empty()) return;
    const uint8_t flags = input[0];
    std::vector<std::string> parts;
    std::string current;
    for (uint8_t byte : input.subspan(1)) {
        if (byte == 0) {
            parts.push_back(std::move(current));
            current.clear();
        } else {
            current += static_cast<char>(byte);
        }
    }
    parts.push_back(std::move(current));

    std::optional<std::string> system;
    size_t next = 0;
    if (flags & 1) system = parts[next++];
    std::vector<ChatTurn> turns;
    while (next < parts.size()) {
        ChatTurn turn{parts[next++], std::nullopt};
        if (next < parts.size()) turn.answer = parts[next++];
        turns.push_back(std::move(turn));
    }
    if ((flags & 2) && !turns.empty()) turns.back().answer.reset();
    // Bit 2: a turn in the middle without an answer, which must be rejected.
    const bool open_turn_in_middle = (flags & 4) && turns.size() > 1;
    if (open_turn_in_middle) turns.front().answer.reset();

    const Tokenizer& tokenizer = fixed_tokenizer();
    const std::vector<int32_t> tokens = llama2_chat_tokens(tokenizer, system, turns);
    check(!open_turn_in_middle, "a turn without an answer before the last was accepted");
    check(!tokens.empty() && tokens.front() == tokenizer.bos_id(),
          "prompt does not start with BOS");
    const auto answered = std::count_if(turns.begin(), turns.end(),
                                        [](const ChatTurn& t) { return t.answer.has_value(); });
    check(std::count(tokens.begin(), tokens.end(), tokenizer.eos_id()) == answered,
          "EOS count differs from the number of answered turns");
    check(std::count(tokens.begin(), tokens.end(), tokenizer.bos_id()) ==
              static_cast<std::ptrdiff_t>(turns.size()),
          "BOS count differs from the number of turns");
    if (!turns.back().answer) {
        const auto last = llama2_chat_user_tokens(
            tokenizer, turns.size() == 1 ? system : std::nullopt, turns.back().user);
        check(tokens.size() >= last.size() &&
                  std::equal(last.begin(), last.end(), tokens.end() - last.size()),
              "the open turn's tokens differ from llama2_chat_user_tokens");
    }
}

}  // namespace llama::fuzz
