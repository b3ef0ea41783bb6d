#pragma once

// Conversion of LLaMA checkpoints to GGUF (what llama-quantize does).

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "llama/model.h"
#include "llama/tensor.h"

namespace llama {

struct GgufConvertOptions {
    // Weight type of the 2-D matrices. Norm vectors stay F32. F32, F16, BF16, Q8_0, Q4_0: every
    // matrix; those whose rows are not whole 32-value blocks fall back to F16 for Q8_0/Q4_0, and
    // with Q4_0 the output (lm_head) matrix is kept at Q8_0. The other quantized types are the
    // base type of a llama.cpp preset (model/quant_mix.h): `preset` names it (Q4_K_M, Q3_K_S, ...;
    // empty: the preset named as the type, Q3_K/Q4_K/Q5_K meaning their _M presets), whose
    // per-tensor mix and fallbacks decide each matrix's type.
    DType type = DType::F16;
    // Called after each tensor written, with (done, total).
    std::function<void(size_t, size_t)> progress;
    // write_model_gguf only: a sentencepiece tokenizer.model to store as tokenizer.ggml.*
    // metadata, as for Hugging Face input (which takes its directory's own). Empty: none.
    std::filesystem::path tokenizer;
    // The llama.cpp preset of `type` to write (see above); empty: the one named as the type.
    std::string preset = {};
};

// The number of pieces of the sentencepiece tokenizer.model at `path`. Throws llama::Error naming
// the file if it cannot be read or is not a sentencepiece model.
int64_t tokenizer_model_pieces(const std::filesystem::path& path);

// The base type of the output type or preset `name` (case-insensitive): F32, F16, BF16, Q8_0, Q4_0
// or a preset of quant_presets(); throws llama::Error otherwise.
DType parse_gguf_output_type(std::string_view name);

// Writes `output` (GGUF v3) from `input`: a GGUF file, or a Hugging Face LLaMA directory
// (config.json, *.safetensors, tokenizer.model if present). From Hugging Face, q/k rows are
// permuted from the rotate-half to the interleaved RoPE layout as llama.cpp's converter does,
// and the llama.* and tokenizer.ggml.* metadata written. From GGUF, all metadata is kept.
// Tensors are written in llama.cpp's names with q/k/v and gate/up back to back, so the loader
// fuses them without copying. Converting to the type a tensor already has copies it exactly.
// Throws llama::Error naming the problem; a failed run leaves no output file.
void convert_to_gguf(const std::filesystem::path& input, const std::filesystem::path& output,
                     const GgufConvertOptions& options);

// Writes an in-memory model (such as make_random_model's synthetic one) as GGUF v3: llama.*
// metadata from its config, general.name = `name`, general.description = model.description, and
// tokenizer.ggml.* from options.tokenizer if given (the loader only needs one for text; llama.cpp
// always does). The tokenizer may have fewer pieces than the model's vocabulary (the rest are
// padding), not more. The fused q/k/v and gate/up weights are
// written as llama.cpp's separate tensors, back to back. A model in the rotate-half RoPE layout
// has its q/k rows permuted to GGUF's interleaved one (as from Hugging Face); an interleaved
// model is written as it is. Either way the loaded file computes the model's logits. Tensors are
// converted one at a time from the model's buffers, so memory grows by one tensor, not a model.
void write_model_gguf(const LlamaModel& model, const std::filesystem::path& output,
                      const GgufConvertOptions& options, const std::string& name);

}  // namespace llama
