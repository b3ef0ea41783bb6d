// The smallest C++ program that generates text with libengine: load a model, then for each prompt
// print it and its greedy continuation on one line (what `llama-run -p PROMPT -n N --temp 0`
// prints). Usage: generate MODEL N PROMPT...
// Build against an installed engine: see "Use the library" in README.md.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "llama/context.h"
#include "llama/error.h"
#include "llama/generator.h"
#include "llama/log.h"
#include "llama/model.h"
#include "llama/tokenizer.h"

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s MODEL N PROMPT...\n", argv[0]);
        return 2;
    }
    char* end = nullptr;
    const long n_predict = std::strtol(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || n_predict < 0) {
        std::fprintf(stderr, "error: N must be a number of tokens, not '%s'\n", argv[2]);
        return 2;
    }
    llama::set_log_level(llama::LogLevel::Warn);  // stdout carries the text alone
    try {
        const llama::LlamaModel model = llama::load_model(argv[1]);
        const llama::Tokenizer tokenizer = llama::Tokenizer::load(argv[1]);
        llama::InferenceContext context(model, llama::ContextParams{});

        llama::GenerationParams params;
        params.n_predict = n_predict;
        params.sampler.temperature = 0.0f;  // greedy (after the default repetition penalty)
        params.echo_prompt = true;
        for (int i = 3; i < argc; ++i) {
            llama::generate(context, tokenizer, argv[i], params, [](std::string_view piece) {
                std::cout << piece << std::flush;
                return true;
            });
            std::cout << std::endl;
        }
    } catch (const llama::Error& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
    return 0;
}
