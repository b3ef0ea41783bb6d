// llama-quantize: writes a GGUF file in F32, F16, BF16, Q8_0, Q4_0 or one of llama.cpp's
// quantization presets (Q4_K_M, Q2_K, IQ4_XS, ... with llama.cpp's per-tensor mix) from a GGUF
// file, a Hugging Face LLaMA directory, or a synthetic model with seeded random weights.
//
//   llama-quantize IN OUT TYPE
//   llama-quantize --config NAME [--seed N] [--layers N] [--tokenizer PATH] OUT TYPE

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/cli.h"
#include "llama/error.h"
#include "llama/random_model.h"
#include "model/gguf_convert.h"
#include "model/load_progress.h"
#include "model/quant_mix.h"

namespace {

std::string preset_list() {
    std::string list;
    for (const std::string& name : llama::preset_names()) list += (list.empty() ? "" : ", ") + name;
    return list;
}

// The TYPE table of --help: every preset and what it mixes.
std::string type_table() {
    std::string table;
    for (const llama::QuantPreset& preset : llama::quant_presets()) {
        std::string name(preset.name);
        name.resize(std::max<size_t>(name.size(), 8), ' ');
        table += "\n  " + name + std::string(preset.mix);
    }
    return table;
}

// The synthetic model is built whole in memory (12.6 GiB of F16 for llama-7b) and written tensor
// by tensor from there, so the peak is one model plus one converted tensor.
void write_synthetic(const std::string& config_name, uint64_t seed, int64_t layers,
                     const std::filesystem::path& output,
                     const llama::GgufConvertOptions& options) {
    auto config = llama::preset_config(config_name);
    if (!config) {
        throw llama::Error("unknown --config '" + config_name + "' (known: " + preset_list() + ")");
    }
    if (!options.tokenizer.empty()) {
        // Checked before the minutes of building a large model. A tokenizer larger than the
        // preset's vocabulary grows it (every id must have an embedding row); a smaller one is
        // padded, keeping the preset's shape.
        const int64_t pieces = llama::tokenizer_model_pieces(options.tokenizer);
        if (pieces > config->vocab_size) {
            spdlog::info("vocabulary {} -> {} to fit the tokenizer's pieces", config->vocab_size,
                         pieces);
            config->vocab_size = pieces;
        }
    }
    llama::RandomModelParams params;
    params.config = *config;
    if (layers > 0) params.config.n_layers = layers;
    params.dtype = options.type == llama::DType::F32 ? llama::DType::F32 : llama::DType::F16;
    params.seed = seed;
    params.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const llama::LlamaModel model = llama::make_random_model(params);
    llama::write_model_gguf(model, output, options,
                            config_name + "-random-seed" + std::to_string(seed));
}

int run(int argc, char** argv) {
    std::string log_level;
    std::vector<std::string> positional;
    llama::cli::ArgParser parser(
        "llama-quantize IN OUT TYPE\n       llama-quantize --config NAME [--seed N] [--layers N] "
        "[--tokenizer PATH] OUT TYPE",
        "Writes the GGUF file OUT from IN (a GGUF file or a Hugging Face LLaMA directory with "
        "config.json, *.safetensors and tokenizer.model) with its weight matrices in TYPE (below). "
        "Norm weights stay F32. The quantized presets other than Q8_0/Q4_0 mix types per tensor "
        "as llama.cpp's llama-quantize does (no importance matrix): the output matrix (or tied "
        "embedding) Q6_K, some attn_v/attn_output/ffn_down matrices more bits; a matrix whose "
        "rows are not a multiple of 256 values falls back to a 32-value block type (Q2_K/Q3_K to "
        "Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, IQ4_XS to IQ4_NL; F16 if not a multiple "
        "of 32 either). Q3_K, Q4_K, Q5_K mean Q3_K_M, Q4_K_M, Q5_K_M. From Hugging Face input the "
        "q/k rows are permuted to GGUF's interleaved RoPE layout "
        "and the tokenizer is stored as tokenizer.ggml.* metadata, as llama.cpp's converter does. "
        "With --config, the input is a synthetic model of that shape with seeded random weights "
        "(as llama-bench --config builds it; F32 weights for TYPE F32, F16 otherwise): for "
        "benchmarks. Its tokenizer, if any, comes from --tokenizer (llama.cpp needs one to load "
        "the file; our engine only for text prompts).\n\nTYPE:" +
            type_table());
    std::string config_name;
    int64_t seed = 42;
    parser.add_string(
        {"--config"}, "NAME",
        "synthetic input instead of IN: " + preset_list() + " (seeded random weights)",
        &config_name);
    std::string isa;
    llama::cli::add_isa_flag(parser, &isa);
    parser.add_int({"--seed"}, "N", "seed of the synthetic weights (default: 42)", &seed, 0);
    int64_t layers = 0;
    parser.add_int({"--layers"}, "N",
                   "with --config: N decoder layers instead of the preset's (a smaller file of the "
                   "same widths for benchmarks)",
                   &layers, 0);
    std::string tokenizer;
    parser.add_string({"--tokenizer"}, "PATH",
                      "with --config: a sentencepiece tokenizer.model stored as tokenizer.ggml.* "
                      "metadata (the vocabulary grows to its size if larger; default: none)",
                      &tokenizer);
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
    llama::cli::apply_isa_flag(isa);
    const bool synthetic = !config_name.empty();
    if (!tokenizer.empty() && !synthetic) {
        throw llama::Error(
            "--tokenizer is for --config input (a Hugging Face directory brings its own "
            "tokenizer.model, a GGUF file keeps its tokenizer)");
    }
    const size_t expected = synthetic ? 2 : 3;
    if (positional.size() != expected) {
        throw llama::Error(
            std::string(synthetic ? "with --config, expected OUT TYPE" : "expected IN OUT TYPE") +
            ", got " + std::to_string(positional.size()) +
            " arguments (see llama-quantize --help)");
    }
    const std::filesystem::path output = positional[expected - 2];
    const std::string type_name = positional[expected - 1];
    llama::GgufConvertOptions options;
    options.type = llama::parse_gguf_output_type(type_name);
    options.preset = std::string(llama::find_quant_preset(type_name)->name);
    options.tokenizer = tokenizer;

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
    if (synthetic) {
        write_synthetic(config_name, static_cast<uint64_t>(seed), layers, output, options);
    } else {
        llama::convert_to_gguf(positional[0], output, options);
    }
    progress.reset();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("wrote {} ({} MiB, {}) in {:.1f} s", output.string(),
                 std::filesystem::file_size(output) >> 20, options.preset, seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return llama::cli::run_tool([&] { return run(argc, argv); });
}
