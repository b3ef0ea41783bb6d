#include <spdlog/spdlog.h>

#include <array>
#include <fstream>

#include "llama/error.h"
#include "llama/isa.h"
#include "llama/model.h"
#include "model/gguf_loader.h"
#include "model/hf_loader.h"

namespace llama {

namespace {

LlamaModel load_any(const std::filesystem::path& path, ProgressReporter& progress,
                    const LoadOptions& options) {
    apply_isa_environment();
    spdlog::info("kernels: ISA level {} (this CPU supports up to {})", isa_name(active_isa()),
                 isa_name(detected_isa()));
    if (!std::filesystem::exists(path)) throw Error(path.string() + ": no such file or directory");
    if (std::filesystem::is_directory(path)) return load_hf_model(path, &progress);

    std::array<char, 4> magic{};
    std::ifstream in(path, std::ios::binary);
    in.read(magic.data(), magic.size());
    if (in.gcount() == 4 && std::string_view(magic.data(), 4) == "GGUF") {
        return load_gguf_model(path, &progress, options.interleave_weights);
    }
    throw Error(path.string() +
                ": not a model (expected a GGUF file or a Hugging Face directory with config.json "
                "and *.safetensors)");
}

}  // namespace

LlamaModel load_model(const std::filesystem::path& path, const LoadProgressCallback& on_progress,
                      const LoadOptions& options) {
    ProgressReporter progress(on_progress);
    progress.report(0.0f);
    LlamaModel model = load_any(path, progress, options);
    progress.report(1.0f);
    return model;
}

}  // namespace llama
