// model.safetensors.index.json: which shard holds which tensor. Shard names must stay inside
// the model directory.

#include "model/safetensors.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

void safetensors_index(Input input) {
    const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    const auto weight_map = parse_safetensors_index(text, "model.safetensors.index.json");
    for (const auto& [tensor, shard] : weight_map) {
        check(
            !shard.empty() && shard != "." && shard != ".." && shard.find('/') == std::string::npos,
            "a shard name that leaves the model directory was accepted");
    }
}

}  // namespace llama::fuzz
