#pragma once

// The fuzz targets: one function per input surface of the engine. Each takes arbitrary bytes and
// either returns (the input was accepted, and what the target checks about the result held) or
// throws llama::Error (the input was rejected). Anything else is a bug: a sanitizer report, a
// crash, another exception type, an empty error message, or a failed FUZZ_CHECK (which aborts).
//
// The same functions run under libFuzzer (fuzz_main.cpp, LLAMA_FUZZ=ON builds) and in the normal
// test suite (fuzz_corpus_test.cpp replays the seed corpus and every input that once failed).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llama::fuzz {

using Input = std::span<const uint8_t>;
using TargetFunction = void (*)(Input input);

struct Target {
    std::string_view name;  // also the corpus directory: tests/fuzz/corpus/<name>/
    TargetFunction run;
    // Memory bound: while the target runs, live heap bytes may grow by at most
    // memory_factor * input size + kMemorySlack (checked by fuzz_main.cpp under ASan).
    int64_t memory_factor;
};
inline constexpr int64_t kMemorySlack = int64_t{1} << 20;

void gguf_reader(Input input);         // GGUF header, metadata, tensor table, then the loader
void gguf_tokenizer(Input input);      // GGUF tokenizer metadata -> sentencepiece model
void safetensors_header(Input input);  // one .safetensors file
void safetensors_index(Input input);   // model.safetensors.index.json
void config_json(Input input);         // a Hugging Face config.json
void tokenizer_text(Input input);      // encode/decode of arbitrary bytes and token ids
void chat_prompt(Input input);         // the LLaMA-2 chat prompt builder
#ifdef LLAMA_FUZZ_SERVER
void server_request(Input input);  // llama-server's request body -> prompt tokens and settings
#endif

// Every target, in a fixed order.
std::span<const Target> all_targets();
const Target* find_target(std::string_view name);

// Runs `target` on `input`. Returns the llama::Error message if the input was rejected, "" if
// accepted; aborts with a report if the target threw anything else or an empty message.
std::string run_target(const Target& target, Input input);

// Loads what targets share across inputs (the fixed tokenizer), so it is not counted as memory
// one input made them allocate.
void prepare_targets();

// Aborts with `message` (the fuzzer records the input) when `condition` does not hold.
void check(bool condition, std::string_view message);

}  // namespace llama::fuzz
