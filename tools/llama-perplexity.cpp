// llama-perplexity: perplexity of a text file under a LLaMA model, with llama.cpp's protocol
// (see llama/perplexity.h). Running estimates per chunk, then "PPL = <value>" as the last line of
// stdout.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "common/run_flags.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"
#include "llama/perplexity.h"
#include "llama/tokenizer.h"

namespace {

struct PerplexityOptions {
    llama::cli::RunOptions run;
    std::string text_file;
    int64_t ctx_size = 512;
    bool ctx_given = false;
};

int run(int argc, char** argv) {
    PerplexityOptions opt;

    llama::cli::ArgParser parser(
        "llama-perplexity",
        "Computes the perplexity of a text file with llama.cpp's protocol: chunks of CTX tokens, "
        "BOS first in each, the second half of each chunk scored. Prints the running estimate "
        "after each chunk and \"PPL = <value>\" last.");
    llama::cli::add_run_flags(parser, &opt.run);
    parser.add_string({"-f", "--file"}, "FILE", "text to score (required)", &opt.text_file);
    parser.add_option({"-c", "--ctx-size"}, "N",
                      "tokens per chunk, 0 = the model's maximum (default: 512, or the model's "
                      "maximum if smaller)",
                      [&](std::string_view flag, std::string_view value) {
                          opt.ctx_size = llama::cli::parse_int(flag, value, 0);
                          opt.ctx_given = true;
                      });
    if (!parser.parse(argc, argv)) {
        std::cout << parser.help();
        return 0;
    }
    llama::cli::init_logging(opt.run.log_level);
    llama::cli::apply_isa_flag(opt.run.isa);
    if (opt.text_file.empty()) {
        throw llama::Error("no text to score: give a file with -f (see llama-perplexity --help)");
    }
    const std::string text = llama::cli::read_text_file(opt.text_file);

    const llama::LlamaModel model = llama::load_model(opt.run.model);
    const llama::Tokenizer tokenizer = llama::Tokenizer::load(opt.run.model);
    const int64_t model_max = model.config.max_context;
    const int64_t n_ctx = opt.ctx_given ? llama::cli::resolve_context_size(opt.ctx_size, model_max)
                                        : std::min<int64_t>(opt.ctx_size, model_max);
    llama::InferenceContext context(model, llama::cli::context_params(opt.run, n_ctx));

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
