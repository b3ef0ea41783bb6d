// llama-perplexity: perplexity of a text file under a LLaMA model, with llama.cpp's protocol
// (see llama/perplexity.h). Running estimates per chunk, then "PPL = <value>" as the last line of
// stdout.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"
#include "llama/perplexity.h"
#include "llama/tokenizer.h"

namespace {

struct PerplexityOptions {
    std::string model;
    std::string text_file;
    int64_t ctx_size = 512;
    bool ctx_given = false;
    int64_t threads = 0;
    int64_t batch_size = 512;
    std::string split_mode = "cached";
    llama::PromptPrecision precision = llama::PromptPrecision::BF16;
    std::string log_level;
};

int run(int argc, char** argv) {
    PerplexityOptions opt;
    opt.model = llama::cli::default_model_path().string();
    opt.threads = llama::cli::default_threads();

    llama::cli::ArgParser parser(
        "llama-perplexity",
        "Computes the perplexity of a text file with llama.cpp's protocol: chunks of CTX tokens, "
        "BOS first in each, the second half of each chunk scored. Prints the running estimate "
        "after each chunk and \"PPL = <value>\" last.");
    parser.add_string({"-m", "--model"}, "PATH",
                      "model directory (Hugging Face layout) or file (default: " + opt.model + ")",
                      &opt.model);
    parser.add_string({"-f", "--file"}, "FILE", "text to score (required)", &opt.text_file);
    parser.add_option({"-c", "--ctx-size"}, "N",
                      "tokens per chunk, 0 = the model's maximum (default: 512, or the model's "
                      "maximum if smaller)",
                      [&](std::string_view flag, std::string_view value) {
                          opt.ctx_size = llama::cli::parse_int(flag, value, 0);
                          opt.ctx_given = true;
                      });
    parser.add_int({"-t", "--threads"}, "N",
                   "threads (default: " + std::to_string(opt.threads) + ", the hardware threads)",
                   &opt.threads, 1, 4096);
    parser.add_int({"-b", "--batch-size"}, "N", "most tokens per forward chunk (default: 512)",
                   &opt.batch_size, 1);
    parser.add_choice({"--split-mode"}, {"cached", "per-forward"},
                      "how attention splits the fused QKV output (default: cached)",
                      &opt.split_mode);
    llama::cli::add_precision_flag(parser, &opt.precision);
    parser.add_string({"--log-level"}, "LEVEL",
                      "trace|debug|info|warn|error|off (default: $LLAMA_LOG_LEVEL or warn)",
                      &opt.log_level);
    if (!parser.parse(argc, argv)) {
        std::cout << parser.help();
        return 0;
    }
    llama::cli::init_logging(opt.log_level);
    if (opt.text_file.empty()) {
        throw llama::Error("no text to score: give a file with -f (see llama-perplexity --help)");
    }
    const std::string text = llama::cli::read_text_file(opt.text_file);

    const llama::LlamaModel model = llama::load_model(opt.model);
    const llama::Tokenizer tokenizer = llama::Tokenizer::load(opt.model);
    const int64_t model_max = model.config.max_context;
    llama::ContextParams context_params;
    context_params.n_ctx = opt.ctx_given ? llama::cli::resolve_context_size(opt.ctx_size, model_max)
                                         : std::min<int64_t>(opt.ctx_size, model_max);
    context_params.n_batch = opt.batch_size;
    context_params.n_threads = static_cast<int>(opt.threads);
    context_params.split_mode =
        opt.split_mode == "per-forward" ? llama::SplitMode::PerForward : llama::SplitMode::Cached;
    context_params.prompt_precision = opt.precision;
    llama::InferenceContext context(model, context_params);

    const llama::PerplexityResult result = llama::compute_perplexity(
        context, tokenizer, text, [](const llama::PerplexityChunk& chunk) {
            std::printf("[%lld/%lld] %.4f\n", static_cast<long long>(chunk.index + 1),
                        static_cast<long long>(chunk.n_chunks), chunk.running_ppl);
            std::fflush(stdout);
        });
    std::fprintf(stderr, "%lld tokens, %lld chunks of %lld, %lld predictions scored in %.2f s\n",
                 static_cast<long long>(result.n_tokens), static_cast<long long>(result.n_chunks),
                 static_cast<long long>(context.n_ctx()), static_cast<long long>(result.n_scored),
                 result.seconds);
    std::printf("PPL = %.4f\n", result.ppl);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return llama::cli::run_tool([&] { return run(argc, argv); });
}
