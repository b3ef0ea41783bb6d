#pragma once

// The flags every tool that runs a model shares (-m, -t, -b, --split-mode, --precision,
// --cache-type, --log-level) and the InferenceContext parameters they make.

#include <cstdint>
#include <string>

#include "common/cli.h"
#include "llama/context.h"

namespace llama::cli {

struct RunOptions {
    std::string model = default_model_path().string();
    int64_t threads = default_threads();
    int64_t batch_size = 512;
    SplitMode split_mode = SplitMode::Cached;
    PromptPrecision precision = PromptPrecision::BF16;
    CacheType cache_type = CacheType::F16;
    std::string isa;  // --isa; empty: $LLAMA_ISA or no cap
    std::string log_level;
};

// Adds the shared flags to `parser`, storing into `options` (whose values are the defaults shown).
void add_run_flags(ArgParser& parser, RunOptions* options);

// Context parameters for `n_ctx` tokens per sequence from the shared flags.
ContextParams context_params(const RunOptions& options, int64_t n_ctx);

// One line for logs: "context N tokens, batch B, T threads, split mode M, precision P, cache C".
std::string describe(const RunOptions& options, int64_t n_ctx);

}  // namespace llama::cli
