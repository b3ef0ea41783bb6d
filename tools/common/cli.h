#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/context.h"

// Pieces every command-line tool shares: a llama.cpp-style flag parser, the default model, the
// thread count, logging setup and the "error: ..." exit path.
namespace llama::cli {

// Flags are "-x VALUE", "--long VALUE" or "--long=VALUE"; a value may start with '-' (so
// "-n -1" works). Bad input (unknown flag, missing value, bad number, stray argument) throws
// llama::Error with a message naming the flag and pointing to --help.
class ArgParser {
  public:
    ArgParser(std::string program, std::string summary);

    using Setter = std::function<void(std::string_view flag, std::string_view value)>;
    // A flag taking a value. `names` like {"-n", "--n-predict"}; `value_name` shown in --help.
    void add_option(std::vector<std::string> names, std::string value_name, std::string help,
                    Setter set);
    // A flag without a value.
    void add_switch(std::vector<std::string> names, std::string help, std::function<void()> set);

    // Typed conveniences. Numbers must parse completely and lie in [min, max].
    void add_string(std::vector<std::string> names, std::string value_name, std::string help,
                    std::string* target);
    void add_int(std::vector<std::string> names, std::string value_name, std::string help,
                 int64_t* target, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
    void add_float(std::vector<std::string> names, std::string value_name, std::string help,
                   float* target, double min = -1e30, double max = 1e30);
    void add_flag(std::vector<std::string> names, std::string help, bool* target);
    // One of `choices`, stored as given.
    void add_choice(std::vector<std::string> names, std::vector<std::string> choices,
                    std::string help, std::string* target);

    // Applies argv[1..]. Returns false if -h/--help was given (the caller prints help() and
    // exits 0); throws llama::Error on bad input.
    bool parse(int argc, const char* const* argv);
    bool parse(std::span<const std::string> args);

    std::string help() const;
    const std::string& program() const { return program_; }

  private:
    struct Option {
        std::vector<std::string> names;
        std::string value_name;  // empty for switches
        std::string help;
        Setter set;
    };
    const Option* find(std::string_view name) const;

    std::string program_;
    std::string summary_;
    std::vector<Option> options_;
};

// Whole-string numbers; throw llama::Error naming `flag` and the value.
int64_t parse_int(std::string_view flag, std::string_view value, int64_t min = INT64_MIN,
                  int64_t max = INT64_MAX);
double parse_float(std::string_view flag, std::string_view value, double min = -1e30,
                   double max = 1e30);

// --precision: the arithmetic of prompt processing (ContextParams::prompt_precision).
// "f32" or "bf16"; throws llama::Error naming `flag` for anything else.
PromptPrecision parse_precision(std::string_view flag, std::string_view value);
std::string_view precision_name(PromptPrecision precision);
// Adds "--precision f32|bf16" with its help text to `parser`, storing into `target`.
void add_precision_flag(ArgParser& parser, PromptPrecision* target);

// --isa LEVEL: caps the kernels' instruction set (llama/isa.h). The flag stores the level's name
// into `target` (an unknown name is an error naming the flag); apply_isa_flag() applies it after
// parsing: the flag's level if given, else $LLAMA_ISA if set. Either throws llama::Error for a
// level the CPU lacks.
void add_isa_flag(ArgParser& parser, std::string* target);
void apply_isa_flag(const std::string& isa);

// The model the project ships: for an installed tool, the copy installed with it
// (<prefix>/share/llama-engine/kjv-tiny, found from the executable's own path); for one run from
// the build tree, model/kjv-tiny in the source tree.
std::filesystem::path default_model_path();
// Hardware threads (at least 1).
int default_threads();

// Sends spdlog's output to stderr and sets its level from `level` if not empty, else from the
// LLAMA_LOG_LEVEL environment variable, else `fallback`. Levels: trace, debug, info, warn, error,
// critical, off. Throws llama::Error for an unknown level.
void init_logging(std::string_view level, std::string_view fallback = "warn");

// The context size to use: `requested` (0 = the model's maximum). Throws llama::Error if it is
// negative or beyond the model's maximum context.
int64_t resolve_context_size(int64_t requested, int64_t model_max);

// The whole file; throws llama::Error if it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

// Runs a tool's body: llama::Error and other exceptions become "error: <message>" on stderr and
// exit status 1.
int run_tool(const std::function<int()>& body);

}  // namespace llama::cli
