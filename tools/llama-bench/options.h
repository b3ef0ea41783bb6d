#pragma once

// Command-line options of llama-bench and their parser. Parsing never exits or prints: it returns
// the options or an error message, so tests can check both.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/context.h"
#include "llama/tensor.h"
#include "tools/llama-bench/config_key.h"

namespace llama::bench {

// Which split paths to time. Ab times cached, per-forward and a second cached arm (the A/A
// control) interleaved within every configuration.
enum class SplitChoice { Cached, PerForward, Ab };
enum class OutputFormat { Markdown, Csv, Json };

std::string_view split_choice_name(SplitChoice choice);
std::string_view output_format_name(OutputFormat format);

struct BenchOptions {
    // Model: exactly one of model_path and config_name.
    std::string model_path;
    std::string config_name;
    int64_t layers = 0;  // keep the first N layers; 0 keeps all
    DType dtype = DType::F16;
    bool dtype_given = false;
    uint64_t seed = 42;

    // Grid.
    std::vector<int64_t> batches{1};
    std::vector<int64_t> seqs{128};
    std::vector<TestKind> kinds{TestKind::PromptProcessing};
    int64_t n_gen = 16;
    int reps = 5;
    int warmup = 1;
    int threads = 0;  // 0 = every hardware thread
    int64_t ubatch = 512;
    SplitChoice split = SplitChoice::Ab;
    PromptPrecision precision = PromptPrecision::BF16;
    bool repack = true;  // --repack: weights interleaved at load where they can be (LoadOptions)
    std::string isa;     // --isa: cap on the kernels' instruction set; empty = $LLAMA_ISA or none

    // Statistics.
    int bootstrap_resamples = 2000;
    double alpha = 0.05;
    double max_memory_gib = 0;  // 0 = what the machine has available

    // Output.
    OutputFormat format = OutputFormat::Markdown;
    std::string output_path;  // empty = stdout
    std::string plot_path;
    bool progress = true;
    bool dry_run = false;
    std::string report_from;  // re-render a saved JSON report instead of measuring  // calibrate,
                              // print the plan with time and memory estimates, exit
    bool help = false;
};

struct ParseResult {
    std::optional<BenchOptions> options;  // set on success
    std::string error;                    // set on failure: one line naming the bad flag or value
};

// args excludes the program name.
ParseResult parse_args(std::span<const std::string_view> args);
ParseResult parse_args(int argc, const char* const* argv);

// A list of positive integers: comma-separated items, each one of
//   N          a single value
//   A..B       every value from A to B
//   A..B+S     A, A+S, A+2S, ... up to B
//   A..B*F     A, A*F, A*F^2, ... up to B (F >= 2)
// e.g. "1..64*2" = 1,2,4,8,16,32,64 and "128,512..2048*2" = 128,512,1024,2048. Values keep the
// order written; a repeated value is an error. Throws llama::Error naming the bad item.
std::vector<int64_t> parse_int_list(std::string_view text);

std::string usage();

}  // namespace llama::bench
