// The per-tensor type mix of llama.cpp's quantization presets, for LLaMA models (llama.cpp's
// src/llama-quant.cpp, llama_tensor_get_type_impl and tensor_type_fallback: the rules for the
// presets below, without importance matrices, non-LLaMA architectures or experts).

#include "model/quant_mix.h"

#include <array>
#include <cctype>
#include <cstdio>

namespace llama {

namespace {

constexpr std::array<QuantPreset, 19> kPresets = {{
    {"F32", DType::F32, 0, "all matrices F32"},
    {"F16", DType::F16, 1, "all matrices F16"},
    {"BF16", DType::BF16, 32, "all matrices BF16"},
    {"Q8_0", DType::Q8_0, 7, "all matrices Q8_0"},
    {"Q4_0", DType::Q4_0, 2, "Q4_0, output Q8_0"},
    {"Q4_1", DType::Q4_1, 3, "Q4_1, output Q6_K"},
    {"Q5_0", DType::Q5_0, 8, "Q5_0, output Q6_K"},
    {"Q5_1", DType::Q5_1, 9, "Q5_1, output Q6_K"},
    {"Q2_K", DType::Q2_K, 10, "Q2_K; attn_v Q3_K (Q4_K if GQA >= 4), attn_output/ffn_down Q3_K"},
    {"Q3_K_S", DType::Q3_K, 11, "Q3_K"},
    {"Q3_K_M", DType::Q3_K, 12,
     "Q3_K; attn_v Q5_K in layers 0-1 else Q4_K, attn_output Q4_K, ffn_down Q5_K in the first "
     "1/16 of layers else Q4_K"},
    {"Q3_K_L", DType::Q3_K, 13, "Q3_K; attn_v, attn_output, ffn_down Q5_K"},
    {"Q4_K_S", DType::Q4_K, 14, "Q4_K; attn_v in layers 0-3 and ffn_down in the first 1/8 Q5_K"},
    {"Q4_K_M", DType::Q4_K, 15,
     "Q4_K; attn_v and ffn_down Q6_K in the first and last 1/8 of layers and every third between"},
    {"Q5_K_S", DType::Q5_K, 16, "Q5_K"},
    {"Q5_K_M", DType::Q5_K, 17, "Q5_K; attn_v and ffn_down Q6_K as in Q4_K_M"},
    {"Q6_K", DType::Q6_K, 18, "Q6_K"},
    {"IQ4_NL", DType::IQ4_NL, 25,
     "IQ4_NL; ffn_down Q5_K in the first 1/8 of layers, attn_v Q5_K if GQA >= 4"},
    {"IQ4_XS", DType::IQ4_XS, 30, "IQ4_XS; as IQ4_NL"},
}};

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The layer of "blk.N.<...>", or -1.
int layer_of(std::string_view name) {
    int layer = -1;
    if (std::sscanf(std::string(name).c_str(), "blk.%d.", &layer) != 1) return -1;
    return layer;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int layer, int64_t n_layers) {
    const auto n = static_cast<int>(n_layers);
    return layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
}

// The type before the fallback for rows that are not whole blocks.
DType mix_type(const QuantPreset& preset, const MixTensor& t) {
    const std::string_view p = preset.name;
    const DType base = preset.base;
    const bool is_output =
        t.name == "output.weight" || (t.tied_embeddings && t.name == "token_embd.weight");
    if (is_output) {
        // The output matrix gets 6 bits unless its rows are not whole blocks of the base type.
        return t.cols % dtype_traits(base).block_elements != 0 ? DType::Q8_0 : DType::Q6_K;
    }
    if (t.name == "token_embd.weight") return base;
    const int layer = layer_of(t.name);
    const int64_t n = t.n_layers;
    if (ends_with(t.name, ".attn_v.weight")) {
        if (p == "Q2_K") return t.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
        if (p == "Q3_K_M") return layer < 2 ? DType::Q5_K : DType::Q4_K;
        if (p == "Q3_K_L") return DType::Q5_K;
        if ((p == "IQ4_NL" || p == "IQ4_XS") && t.n_gqa >= 4) return DType::Q5_K;
        if ((p == "Q4_K_M" || p == "Q5_K_M") && use_more_bits(layer, n)) return DType::Q6_K;
        if (p == "Q4_K_S" && layer < 4) return DType::Q5_K;
        return base;
    }
    if (ends_with(t.name, ".ffn_down.weight")) {
        if (p == "Q2_K") return DType::Q3_K;
        if (p == "Q3_K_M") return layer < n / 16 ? DType::Q5_K : DType::Q4_K;
        if (p == "Q3_K_L") return DType::Q5_K;
        if (p == "Q4_K_M") return use_more_bits(layer, n) ? DType::Q6_K : base;
        if ((p == "IQ4_NL" || p == "IQ4_XS") && layer < n / 8) return DType::Q5_K;
        if (p == "Q5_K_M" && use_more_bits(layer, n)) return DType::Q6_K;
        if (p == "Q4_K_S" && layer < n / 8) return DType::Q5_K;
        return base;
    }
    if (ends_with(t.name, ".attn_output.weight")) {
        if (p == "Q2_K") return DType::Q3_K;
        if (p == "Q3_K_M") return DType::Q4_K;
        if (p == "Q3_K_L") return DType::Q5_K;
        return base;
    }
    return base;
}

// llama.cpp's tensor_type_fallback.
DType fallback(DType type, int64_t cols) {
    if (cols % dtype_traits(type).block_elements == 0) return type;
    DType smaller = DType::F16;
    switch (type) {
        case DType::IQ4_XS:
            smaller = DType::IQ4_NL;
            break;
        case DType::Q2_K:
        case DType::Q3_K:
            smaller = DType::Q4_0;
            break;
        case DType::Q4_K:
            smaller = DType::Q5_0;
            break;
        case DType::Q5_K:
            smaller = DType::Q5_1;
            break;
        case DType::Q6_K:
            smaller = DType::Q8_0;
            break;
        default:
            break;
    }
    return cols % dtype_traits(smaller).block_elements == 0 ? smaller : DType::F16;
}

}  // namespace

std::span<const QuantPreset> quant_presets() { return kPresets; }

std::optional<QuantPreset> find_quant_preset(std::string_view name) {
    std::string wanted = upper(name);
    if (wanted == "Q3_K" || wanted == "Q4_K" || wanted == "Q5_K") wanted += "_M";
    for (const QuantPreset& preset : kPresets) {
        if (preset.name == wanted) return preset;
    }
    return std::nullopt;
}

DType preset_tensor_type(const QuantPreset& preset, const MixTensor& tensor) {
    return fallback(mix_type(preset, tensor), tensor.cols);
}

}  // namespace llama
