// llama-run: generates text from a prompt with a LLaMA model, streaming it to stdout; load time
// and speeds go to stderr.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "common/cli.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/generator.h"
#include "llama/model.h"
#include "llama/tokenizer.h"

namespace {

struct RunOptions {
    std::string model;
    std::string prompt;
    bool prompt_given = false;
    std::string prompt_file;
    int64_t n_predict = 128;
    int64_t threads = 0;
    int64_t ctx_size = 0;
    int64_t batch_size = 512;
    float temperature = 0.8f;
    int64_t top_k = 40;
    float top_p = 0.95f;
    float repeat_penalty = 1.1f;
    int64_t repeat_last_n = 64;
    int64_t seed = -1;
    std::string split_mode = "cached";
    std::string log_level;
    bool no_bos = false;
    bool ignore_eos = false;
};

constexpr const char* kDefaultPrompt = "And God said";

int run(int argc, char** argv) {
    RunOptions opt;
    opt.model = llama::cli::default_model_path().string();
    opt.threads = llama::cli::default_threads();

    llama::cli::ArgParser parser("llama-run",
                                 "Generates text from a prompt with a LLaMA model and streams it "
                                 "to stdout; timings go to stderr.");
    parser.add_string({"-m", "--model"}, "PATH",
                      "model directory (Hugging Face layout) or file (default: " + opt.model + ")",
                      &opt.model);
    parser.add_option({"-p", "--prompt"}, "TEXT",
                      std::string("prompt (default: \"") + kDefaultPrompt + "\")",
                      [&](std::string_view, std::string_view value) {
                          opt.prompt = value;
                          opt.prompt_given = true;
                      });
    parser.add_string({"-f", "--file"}, "FILE", "read the prompt from FILE", &opt.prompt_file);
    parser.add_int({"-n", "--n-predict"}, "N",
                   "tokens to generate, -1 = until EOS or the context is full (default: 128)",
                   &opt.n_predict, -1);
    parser.add_int({"-t", "--threads"}, "N",
                   "threads (default: " + std::to_string(opt.threads) + ", the hardware threads)",
                   &opt.threads, 1, 4096);
    parser.add_int({"-c", "--ctx-size"}, "N", "context size in tokens, 0 = the model's maximum",
                   &opt.ctx_size, 0);
    parser.add_int({"-b", "--batch-size"}, "N",
                   "most prompt tokens per forward chunk (default: 512)", &opt.batch_size, 1);
    parser.add_float({"--temp"}, "T", "temperature, 0 = greedy (default: 0.8)", &opt.temperature,
                     0.0);
    parser.add_int({"--top-k"}, "N", "top-k sampling, 0 = off (default: 40)", &opt.top_k, 0,
                   INT32_MAX);
    parser.add_float({"--top-p"}, "P", "top-p sampling, 1 = off (default: 0.95)", &opt.top_p, 1e-6,
                     1.0);
    parser.add_float({"--repeat-penalty"}, "X",
                     "penalty for repeating recent tokens, 1 = off (default: 1.1)",
                     &opt.repeat_penalty, 1e-6);
    parser.add_int({"--repeat-last-n"}, "N",
                   "how many recent tokens the penalty looks at, 0 = off (default: 64)",
                   &opt.repeat_last_n, 0, INT32_MAX);
    parser.add_int({"-s", "--seed"}, "N", "random seed, -1 = random (default: -1; printed)",
                   &opt.seed, -1);
    parser.add_choice({"--split-mode"}, {"cached", "per-forward"},
                      "how attention splits the fused QKV output (default: cached)",
                      &opt.split_mode);
    parser.add_flag({"--no-bos"}, "do not put BOS before the prompt", &opt.no_bos);
    parser.add_flag({"--ignore-eos"}, "keep generating past end-of-sequence", &opt.ignore_eos);
    parser.add_string({"--log-level"}, "LEVEL",
                      "trace|debug|info|warn|error|off (default: $LLAMA_LOG_LEVEL or warn)",
                      &opt.log_level);
    if (!parser.parse(argc, argv)) {
        std::cout << parser.help();
        return 0;
    }
    llama::cli::init_logging(opt.log_level);

    if (opt.prompt_given && !opt.prompt_file.empty()) {
        throw llama::Error("give the prompt with -p or -f, not both");
    }
    std::string prompt = kDefaultPrompt;
    if (opt.prompt_given) prompt = opt.prompt;
    if (!opt.prompt_file.empty()) prompt = llama::cli::read_text_file(opt.prompt_file);

    uint64_t seed = static_cast<uint64_t>(opt.seed);
    if (opt.seed < 0) seed = std::random_device{}() & 0xFFFFFFFFu;

    using Clock = std::chrono::steady_clock;
    const auto load_start = Clock::now();
    const llama::LlamaModel model = llama::load_model(opt.model);
    const llama::Tokenizer tokenizer = llama::Tokenizer::load(opt.model);
    llama::ContextParams context_params;
    context_params.n_ctx = llama::cli::resolve_context_size(opt.ctx_size, model.config.max_context);
    context_params.n_batch = opt.batch_size;
    context_params.n_threads = static_cast<int>(opt.threads);
    context_params.split_mode =
        opt.split_mode == "per-forward" ? llama::SplitMode::PerForward : llama::SplitMode::Cached;
    llama::InferenceContext context(model, context_params);
    const double load_seconds = std::chrono::duration<double>(Clock::now() - load_start).count();
    spdlog::info("context: {} tokens, batch {}, {} threads, split mode {}", context.n_ctx(),
                 opt.batch_size, opt.threads, opt.split_mode);

    llama::GenerationParams params;
    params.n_predict = opt.n_predict;
    params.add_bos = !opt.no_bos;
    params.ignore_eos = opt.ignore_eos;
    params.echo_prompt = true;
    params.sampler.temperature = opt.temperature;
    params.sampler.top_k = static_cast<int32_t>(opt.top_k);
    params.sampler.top_p = opt.top_p;
    params.sampler.repeat_penalty = opt.repeat_penalty;
    params.sampler.repeat_last_n = static_cast<int32_t>(opt.repeat_last_n);
    params.sampler.seed = seed;

    const llama::GenerationStats stats =
        llama::generate(context, tokenizer, prompt, params, [](std::string_view piece) {
            std::cout << piece << std::flush;
            return true;
        });
    std::cout << std::endl;

    std::fprintf(stderr, "seed = %llu\n", static_cast<unsigned long long>(seed));
    std::fprintf(stderr, "load time: %.3f s\n", load_seconds);
    std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.2f tokens/s)\n",
                 static_cast<long long>(stats.prompt_tokens), stats.prompt_seconds,
                 stats.prompt_tokens_per_second());
    std::fprintf(stderr, "generation: %lld tokens in %.3f s (%.2f tokens/s)\n",
                 static_cast<long long>(stats.generated_tokens), stats.generation_seconds,
                 stats.generation_tokens_per_second());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return llama::cli::run_tool([&] { return run(argc, argv); });
}
