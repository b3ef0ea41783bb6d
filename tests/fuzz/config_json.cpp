// A Hugging Face config.json into a LlamaConfig.

#include "model/hf_loader.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

void config_json(Input input) {
    const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    const LlamaConfig config = parse_hf_config(text, "config.json");
    // An accepted config is one the rest of the engine can size buffers from.
    config.validate();
    check(config.q_size() > 0 && config.kv_size() > 0, "accepted config with empty heads");
    check(config.n_heads % config.n_kv_heads == 0, "heads do not group evenly");
    check(!config.describe().empty(), "empty description");
}

}  // namespace llama::fuzz
