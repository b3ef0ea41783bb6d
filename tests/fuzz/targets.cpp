// The table of fuzz targets and the rule every one of them is held to: accept, or reject with a
// llama::Error that says what is wrong.

#include "tests/fuzz/targets.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "llama/error.h"

namespace llama::fuzz {

namespace {

// Chosen above the costliest structures each input can build (see README, "Reliability"), and
// held through the long fuzzing run: a GGUF uint8 array costs one 40-byte GgufValue per file
// byte; a tokenizer holds sentencepiece's piece tables; encoding keeps a few words of state per
// input byte.
constexpr Target kTargets[] = {
    {"gguf_reader", gguf_reader, 64},
    {"gguf_tokenizer", gguf_tokenizer, 64},
    {"safetensors_header", safetensors_header, 64},
    {"safetensors_index", safetensors_index, 64},
    {"config_json", config_json, 64},
    {"tokenizer_text", tokenizer_text, 256},
    {"chat_prompt", chat_prompt, 256},
#ifdef LLAMA_FUZZ_SERVER
    // A parsed JSON document costs some 50-100 bytes per input byte (nlohmann nodes, strings).
    {"server_request", server_request, 256},
#endif
};

}  // namespace

std::span<const Target> all_targets() { return kTargets; }

const Target* find_target(std::string_view name) {
    for (const Target& target : kTargets) {
        if (target.name == name) return &target;
    }
    return nullptr;
}

void check(bool condition, std::string_view message) {
    if (condition) return;
    std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(message.size()),
                 message.data());
    std::abort();
}

std::string run_target(const Target& target, Input input) {
    try {
        target.run(input);
        return "";
    } catch (const Error& e) {
        check(e.what()[0] != '\0', "llama::Error with an empty message");
        return e.what();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%.*s: exception other than llama::Error: %s\n",
                     static_cast<int>(target.name.size()), target.name.data(), e.what());
        std::abort();
    }
}

}  // namespace llama::fuzz
