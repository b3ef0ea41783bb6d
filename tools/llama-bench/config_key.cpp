#include "tools/llama-bench/config_key.h"

namespace llama::bench {

std::string_view test_kind_name(TestKind kind) {
    return kind == TestKind::PromptProcessing ? "pp" : "tg";
}

std::optional<TestKind> parse_test_kind(std::string_view name) {
    if (name == "pp") return TestKind::PromptProcessing;
    if (name == "tg") return TestKind::TokenGeneration;
    return std::nullopt;
}

std::string ConfigKey::label() const {
    std::string s = std::string(test_kind_name(kind)) + " b=" + std::to_string(batch) +
                    " s=" + std::to_string(seq);
    if (kind == TestKind::TokenGeneration) s += " n=" + std::to_string(n_gen);
    return s;
}

std::string_view arm_name(Arm arm) {
    switch (arm) {
        case Arm::Cached:
            return "cached";
        case Arm::PerForward:
            return "per-forward";
        case Arm::CachedControl:
            return "cached-control";
    }
    return "?";
}

std::optional<Arm> parse_arm(std::string_view name) {
    for (Arm arm : {Arm::Cached, Arm::PerForward, Arm::CachedControl}) {
        if (arm_name(arm) == name) return arm;
    }
    return std::nullopt;
}

SplitMode arm_split_mode(Arm arm) {
    return arm == Arm::PerForward ? SplitMode::PerForward : SplitMode::Cached;
}

}  // namespace llama::bench
