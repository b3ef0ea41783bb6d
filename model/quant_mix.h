#pragma once

// llama.cpp's quantization presets ("file types": Q4_K_M, Q2_K, IQ4_XS, ...) and their per-tensor
// mix: which tensors get a higher type than the preset's base type (llama.cpp's
// llama_tensor_get_type for LLaMA models), and the fallback for matrices whose rows are not whole
// blocks of the chosen type (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0,
// IQ4_XS -> IQ4_NL; F16 when even that does not fit).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "llama/tensor.h"

namespace llama {

struct QuantPreset {
    std::string_view name;  // as llama.cpp's llama-quantize spells it
    DType base;             // the type of most matrices
    uint32_t file_type;     // llama.cpp's llama_ftype, for general.file_type
    std::string_view mix;   // what gets more bits, for --help
};

// Every preset we write, in llama-quantize --help order.
std::span<const QuantPreset> quant_presets();

// The preset named `name` (case-insensitive; Q3_K, Q4_K, Q5_K are Q3_K_M, Q4_K_M, Q5_K_M as in
// llama.cpp), or nullopt.
std::optional<QuantPreset> find_quant_preset(std::string_view name);

// What the mix needs to know of one 2-D weight tensor.
struct MixTensor {
    std::string_view name;  // GGUF name: token_embd.weight, blk.N.attn_v.weight, output.weight ...
    int64_t cols = 0;       // values per row
    int64_t n_layers = 0;   // of the model
    int64_t n_gqa = 1;      // query heads per key/value head
    bool tied_embeddings = false;  // no output.weight: token_embd is also the output matrix
};

// The type llama.cpp's llama-quantize gives `tensor` under `preset` (a quantized preset other
// than Q8_0/Q4_0, whose rules stay those of gguf_convert.cpp), after the fallback for rows that are
// not whole blocks.
DType preset_tensor_type(const QuantPreset& preset, const MixTensor& tensor);

}  // namespace llama
