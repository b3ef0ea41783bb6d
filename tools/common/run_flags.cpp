#include "common/run_flags.h"

#include "llama/error.h"
#include "llama/isa.h"

namespace llama::cli {

namespace {

std::string_view split_mode_name(SplitMode mode) {
    return mode == SplitMode::Cached ? "cached" : "per-forward";
}

std::string_view cache_type_name(CacheType type) { return type == CacheType::F16 ? "f16" : "f32"; }

}  // namespace

void add_run_flags(ArgParser& parser, RunOptions* options) {
    parser.add_string(
        {"-m", "--model"}, "PATH",
        "model: a Hugging Face directory or a GGUF file (default: " + options->model + ")",
        &options->model);
    parser.add_int(
        {"-t", "--threads"}, "N",
        "threads (default: " + std::to_string(options->threads) + ", the hardware threads)",
        &options->threads, 1, 4096);
    parser.add_int({"-b", "--batch-size"}, "N",
                   "most prompt tokens per forward chunk (default: " +
                       std::to_string(options->batch_size) + ")",
                   &options->batch_size, 1);
    parser.add_option({"--split-mode"}, "cached|per-forward",
                      "how attention splits the fused QKV output: sizes cached at load, or "
                      "rebuilt every forward (default: cached)",
                      [options](std::string_view flag, std::string_view value) {
                          if (value == "cached") {
                              options->split_mode = SplitMode::Cached;
                          } else if (value == "per-forward") {
                              options->split_mode = SplitMode::PerForward;
                          } else {
                              throw Error("invalid value '" + std::string(value) + "' for " +
                                          std::string(flag) +
                                          ": expected one of cached, per-forward");
                          }
                      });
    add_precision_flag(parser, &options->precision);
    add_isa_flag(parser, &options->isa);
    parser.add_option({"--cache-type"}, "f16|f32",
                      "element type of the KV cache: f16 halves its memory (default: f16)",
                      [options](std::string_view flag, std::string_view value) {
                          if (value == "f16") {
                              options->cache_type = CacheType::F16;
                          } else if (value == "f32") {
                              options->cache_type = CacheType::F32;
                          } else {
                              throw Error("invalid value '" + std::string(value) + "' for " +
                                          std::string(flag) + ": expected one of f16, f32");
                          }
                      });
    parser.add_string({"--log-level"}, "LEVEL",
                      "trace|debug|info|warn|error|off (default: $LLAMA_LOG_LEVEL or warn)",
                      &options->log_level);
}

ContextParams context_params(const RunOptions& options, int64_t n_ctx) {
    ContextParams params;
    params.n_ctx = n_ctx;
    params.n_batch = options.batch_size;
    params.n_threads = static_cast<int>(options.threads);
    params.split_mode = options.split_mode;
    params.prompt_precision = options.precision;
    params.cache_type = options.cache_type;
    return params;
}

std::string describe(const RunOptions& options, int64_t n_ctx) {
    return "context " + std::to_string(n_ctx) + " tokens, batch " +
           std::to_string(options.batch_size) + ", " + std::to_string(options.threads) +
           " threads, split mode " + std::string(split_mode_name(options.split_mode)) +
           ", precision " + std::string(precision_name(options.precision)) + ", cache " +
           std::string(cache_type_name(options.cache_type)) + ", isa " +
           std::string(isa_name(active_isa()));
}

}  // namespace llama::cli
