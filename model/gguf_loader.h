#pragma once

#include <filesystem>

#include "llama/model.h"
#include "model/gguf.h"
#include "model/load_progress.h"

namespace llama {

// The LlamaConfig of a GGUF file with general.architecture = "llama", from its llama.* keys
// (vocab size from token_embd.weight). Throws llama::Error naming the file and the key.
LlamaConfig read_gguf_config(const GgufFile& file);

// Loads a llama.cpp GGUF checkpoint (v2/v3; F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, mixed per tensor). Weights stay memory-mapped. q/k/v and
// gate/up are fused in place when the file stores them back to back with one type (as our
// llama-quantize writes them); otherwise they are copied once into an owned buffer and the mapped
// source pages released. Parts of different types cannot share one matrix: q/k/v with a quantized
// part stay three matrices, each in its own type (llama.cpp's K presets give attn_v more bits);
// float parts are widened to F32; gate/up with a quantized part are requantized to Q8_0 (ggml's
// quantizer; a small extra error next to the 4-6 bit originals). RoPE uses the interleaved layout
// GGUF converters permute q/k into. With `interleave`, Q4_0, Q4_K and IQ4_NL matrices (but the
// embedding table) are stored as their 16-row interleaved types (kernels/quant_interleave.h) in
// buffers of their own, the file's pages released: the same memory, faster products.
LlamaModel load_gguf_model(const std::filesystem::path& path, ProgressReporter* progress = nullptr,
                           bool interleave = true);
// The same for a file already parsed (the model keeps file.file() alive).
LlamaModel load_gguf_model(const GgufFile& file, ProgressReporter* progress = nullptr,
                           bool interleave = true);

}  // namespace llama
