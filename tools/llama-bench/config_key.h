#pragma once

// One point of the benchmark grid and the arms measured at it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "llama/model.h"

namespace llama::bench {

// pp: one forward over batch x seq new tokens (prompt processing).
// tg: after an untimed prefill of seq tokens per sequence, n_gen decode steps of one token per
//     sequence (token generation).
enum class TestKind { PromptProcessing, TokenGeneration };

std::string_view test_kind_name(TestKind kind);  // "pp" / "tg"
std::optional<TestKind> parse_test_kind(std::string_view name);

struct ConfigKey {
    TestKind kind = TestKind::PromptProcessing;
    int64_t batch = 1;
    int64_t seq = 1;
    int64_t n_gen = 0;  // decode steps (tg only; 0 for pp)

    // Tokens processed in the timed part, for tokens/s.
    int64_t timed_tokens() const {
        return kind == TestKind::PromptProcessing ? batch * seq : batch * n_gen;
    }
    std::string label() const;  // "pp b=16 s=512" / "tg b=1 s=128 n=16"
    bool operator==(const ConfigKey&) const = default;
};

// Cached and PerForward are the two split paths; CachedControl is a second, independent run of the
// cached path used as the A/A control (its difference to Cached is pure noise).
enum class Arm { Cached, PerForward, CachedControl };

std::string_view arm_name(Arm arm);  // "cached", "per-forward", "cached-control"
std::optional<Arm> parse_arm(std::string_view name);
SplitMode arm_split_mode(Arm arm);

}  // namespace llama::bench
