#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "llama/model.h"
#include "model/load_progress.h"

namespace llama {

// Reads config.json into a LlamaConfig (throws llama::Error naming the bad or missing field).
LlamaConfig read_hf_config(const std::filesystem::path& config_json);
// The same from the text of a config.json; `where` names it in errors.
LlamaConfig parse_hf_config(std::string_view text, const std::string& where);

// Loads a Hugging Face LLaMA directory: config.json + model.safetensors (or shards). q/k/v and
// gate/up are fused into one buffer each at their stored 16/32-bit type; the other weights stay
// memory-mapped. RoPE uses the rotate-half layout HF checkpoints are stored in.
LlamaModel load_hf_model(const std::filesystem::path& dir, ProgressReporter* progress = nullptr);

}  // namespace llama
