// llama-quantize: writes a GGUF file in F32, F16, BF16, Q8_0 or Q4_0 from a GGUF file or a
// Hugging Face LLaMA directory.
//
//   llama-quantize IN OUT TYPE

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/cli.h"
#include "llama/error.h"
#include "model/gguf_convert.h"
#include "model/load_progress.h"

namespace {

int run(int argc, char** argv) {
    std::string log_level;
    std::vector<std::string> positional;
    llama::cli::ArgParser parser(
        "llama-quantize IN OUT TYPE",
        "Writes the GGUF file OUT from IN (a GGUF file or a Hugging Face LLaMA directory with "
        "config.json, *.safetensors and tokenizer.model) with its weight matrices in TYPE: F32, "
        "F16, BF16, Q8_0 or Q4_0. Norm weights stay F32; with Q4_0 the output matrix is kept at "
        "Q8_0. From Hugging Face input the q/k rows are permuted to GGUF's interleaved RoPE layout "
        "and the tokenizer is stored as tokenizer.ggml.* metadata, as llama.cpp's converter does.");
    parser.add_string({"--log-level"}, "LEVEL", "trace, debug, info, warn, error (default: info)",
                      &log_level);
    // Positional arguments are taken out before the flag parser sees the rest.
    std::vector<std::string> flags;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (!arg.empty() && arg[0] == '-' && arg != "-") {
            flags.push_back(arg);
            if (arg.find('=') == std::string::npos && arg != "-h" && arg != "--help" &&
                i + 1 < argc) {
                flags.push_back(argv[++i]);
            }
        } else {
            positional.push_back(arg);
        }
    }
    if (!parser.parse(flags)) {
        std::cout << parser.help();
        return 0;
    }
    llama::cli::init_logging(log_level, "info");
    if (positional.size() != 3) {
        throw llama::Error("expected IN OUT TYPE, got " + std::to_string(positional.size()) +
                           " arguments (see llama-quantize --help)");
    }
    const std::filesystem::path input = positional[0];
    const std::filesystem::path output = positional[1];
    llama::GgufConvertOptions options;
    options.type = llama::parse_gguf_output_type(positional[2]);

    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<llama::LoadProgress> progress;
    options.progress = [&](size_t done, size_t total) {
        if (!progress) {
            progress = std::make_unique<llama::LoadProgress>(
                "writing " + output.filename().string(), static_cast<int64_t>(total));
        }
        progress->advance();
        (void)done;
    };
    llama::convert_to_gguf(input, output, options);
    progress.reset();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("wrote {} ({} MiB, {}) in {:.1f} s", output.string(),
                 std::filesystem::file_size(output) >> 20, positional[2], seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return llama::cli::run_tool([&] { return run(argc, argv); });
}
