#include "model/hf_loader.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "kernels/kernels.h"
#include "llama/error.h"
#include "model/safetensors.h"
#include "model/weight_buffer.h"

namespace llama {

namespace {

using json = nlohmann::json;

// Reads a field of config.json, checking its JSON type and range first: nlohmann's get<> casts
// out-of-range numbers (a 1e300 integer field, a 5e9 token id) with undefined behaviour.
template <typename T>
T field(const json& config, const char* name, const std::string& where) {
    if (!config.contains(name) || config[name].is_null()) {
        throw Error(where + ": missing \"" + name + "\"");
    }
    const json& value = config[name];
    if constexpr (std::is_same_v<T, std::string>) {
        if (!value.is_string()) throw Error(where + ": \"" + name + "\" has the wrong type");
        return value.get<std::string>();
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!value.is_number()) throw Error(where + ": \"" + name + "\" has the wrong type");
        const double v = value.get<double>();
        if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<T>::max()) {
            throw Error(where + ": \"" + name + "\" is out of range: " + value.dump());
        }
        return static_cast<T>(v);
    } else {
        static_assert(std::is_integral_v<T> && std::is_signed_v<T>);
        if (!value.is_number_integer()) {
            throw Error(where + ": \"" + name + "\" has the wrong type (expected an integer)");
        }
        const bool fits =
            value.is_number_unsigned()
                ? value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                : value.get<int64_t>() >= std::numeric_limits<T>::min() &&
                      value.get<int64_t>() <= std::numeric_limits<T>::max();
        if (!fits) throw Error(where + ": \"" + name + "\" is out of range: " + value.dump());
        return static_cast<T>(value.get<int64_t>());
    }
}

template <typename T>
T field_or(const json& config, const char* name, T fallback, const std::string& where) {
    if (!config.contains(name) || config[name].is_null()) return fallback;
    return field<T>(config, name, where);
}

std::string layer_name(int64_t layer, const char* suffix) {
    return "model.layers." + std::to_string(layer) + "." + suffix;
}

Matrix matrix_view(const SafetensorsTensor& tensor, int64_t rows, int64_t cols) {
    if (tensor.shape.size() != 2 || tensor.shape[0] != rows || tensor.shape[1] != cols) {
        std::string shape;
        for (int64_t dim : tensor.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(dim);
        throw Error("tensor '" + tensor.name + "' has shape [" + shape + "], expected [" +
                    std::to_string(rows) + ", " + std::to_string(cols) + "]");
    }
    return {tensor.dtype, rows, cols, tensor.data.data()};
}

std::vector<float> vector_f32(const SafetensorsTensor& tensor, int64_t size) {
    if (tensor.shape.size() != 1 || tensor.shape[0] != size) {
        throw Error("tensor '" + tensor.name + "' should be a vector of " + std::to_string(size));
    }
    std::vector<float> out(size);
    kernels::dequantize_rows(tensor.dtype, tensor.data.data(), 1, size, out);
    return out;
}

// Concatenates the rows of several same-typed matrices into one owned buffer, then lets the
// kernel drop the mapped source pages so weights are resident once.
Matrix fuse_rows(const std::vector<Matrix>& parts, const std::vector<const SafetensorsTensor*>& src,
                 std::vector<std::shared_ptr<const void>>& storage) {
    int64_t rows = 0;
    for (const Matrix& part : parts) {
        if (part.dtype != parts[0].dtype) {
            throw Error("cannot fuse '" + src[0]->name + "' and '" +
                        src[&part - parts.data()]->name + "': they are stored in different dtypes");
        }
        rows += part.rows;
    }
    Matrix fused{parts[0].dtype, rows, parts[0].cols, nullptr};
    auto buffer = allocate_weight_buffer(fused.bytes().size());
    std::byte* out = buffer.get();
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto bytes = parts[i].bytes();
        std::memcpy(out, bytes.data(), bytes.size());
        out += bytes.size();
        const auto& file = *src[i]->file;
        file.advise_dontneed(bytes.data() - file.bytes().data(), bytes.size());
    }
    fused.data = buffer.get();
    storage.push_back(std::move(buffer));
    return fused;
}

}  // namespace

LlamaConfig parse_hf_config(std::string_view text, const std::string& path) {
    json config;
    try {
        config = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(path + ": not valid JSON: " + e.what());
    }
    if (!config.is_object()) throw Error(path + ": not a JSON object");
    const auto model_type = field_or<std::string>(config, "model_type", "llama", path);
    if (model_type != "llama") {
        throw Error(path + ": model_type \"" + model_type + "\" is not supported (only \"llama\")");
    }
    if (config.contains("rope_scaling") && !config["rope_scaling"].is_null()) {
        throw Error(path + ": rope_scaling is not supported");
    }

    LlamaConfig c;
    c.hidden_size = field<int64_t>(config, "hidden_size", path);
    c.n_layers = field<int64_t>(config, "num_hidden_layers", path);
    c.n_heads = field<int64_t>(config, "num_attention_heads", path);
    c.n_kv_heads = field_or<int64_t>(config, "num_key_value_heads", c.n_heads, path);
    c.head_dim =
        field_or<int64_t>(config, "head_dim", c.n_heads > 0 ? c.hidden_size / c.n_heads : 0, path);
    c.ffn_size = field<int64_t>(config, "intermediate_size", path);
    c.vocab_size = field<int64_t>(config, "vocab_size", path);
    c.max_context = field_or<int64_t>(config, "max_position_embeddings", 2048, path);
    c.rms_norm_eps = field_or<float>(config, "rms_norm_eps", 1e-6f, path);
    c.rope_theta = field_or<float>(config, "rope_theta", 10000.0f, path);
    c.bos_token_id = field_or<int32_t>(config, "bos_token_id", 1, path);
    c.eos_token_id = field_or<int32_t>(config, "eos_token_id", 2, path);
    c.rope_layout = RopeLayout::RotateHalf;
    c.validate();
    return c;
}

LlamaConfig read_hf_config(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return parse_hf_config(text, path.string());
}

LlamaModel load_hf_model(const std::filesystem::path& dir, ProgressReporter* progress) {
    if (!std::filesystem::is_directory(dir)) {
        throw Error(dir.string() + ": not a directory (expected a Hugging Face model directory)");
    }
    LlamaModel model;
    model.config = read_hf_config(dir / "config.json");
    const LlamaConfig& c = model.config;
    const auto checkpoint = SafetensorsCheckpoint::open_directory(dir);
    for (const auto& file : checkpoint.files()) model.storage.push_back(file);

    model.token_embedding =
        matrix_view(checkpoint.get("model.embed_tokens.weight"), c.vocab_size, c.hidden_size);
    model.final_norm = vector_f32(checkpoint.get("model.norm.weight"), c.hidden_size);
    if (const SafetensorsTensor* head = checkpoint.find("lm_head.weight")) {
        model.lm_head = matrix_view(*head, c.vocab_size, c.hidden_size);
    } else {
        model.lm_head = model.token_embedding;  // tie_word_embeddings
    }

    for (int64_t i = 0; i < c.n_layers; ++i) {
        auto tensor = [&](const char* suffix) { return &checkpoint.get(layer_name(i, suffix)); };
        const std::vector<const SafetensorsTensor*> qkv_src{tensor("self_attn.q_proj.weight"),
                                                            tensor("self_attn.k_proj.weight"),
                                                            tensor("self_attn.v_proj.weight")};
        const std::vector<const SafetensorsTensor*> gate_up_src{tensor("mlp.gate_proj.weight"),
                                                                tensor("mlp.up_proj.weight")};
        const Matrix qkv = fuse_rows({matrix_view(*qkv_src[0], c.q_size(), c.hidden_size),
                                      matrix_view(*qkv_src[1], c.kv_size(), c.hidden_size),
                                      matrix_view(*qkv_src[2], c.kv_size(), c.hidden_size)},
                                     qkv_src, model.storage);
        const Matrix gate_up = fuse_rows({matrix_view(*gate_up_src[0], c.ffn_size, c.hidden_size),
                                          matrix_view(*gate_up_src[1], c.ffn_size, c.hidden_size)},
                                         gate_up_src, model.storage);
        model.layers.push_back(DecoderLayer{
            vector_f32(*tensor("input_layernorm.weight"), c.hidden_size),
            LlamaAttention(
                c, qkv, matrix_view(*tensor("self_attn.o_proj.weight"), c.hidden_size, c.q_size())),
            vector_f32(*tensor("post_attention_layernorm.weight"), c.hidden_size),
            LlamaMLP(c, gate_up,
                     matrix_view(*tensor("mlp.down_proj.weight"), c.hidden_size, c.ffn_size)),
        });
        if (progress) progress->report(0.99f * static_cast<float>(i + 1) / c.n_layers);
    }
    model.description = "Hugging Face safetensors (" +
                        std::string(dtype_name(model.layers[0].attention.qkv_weight().dtype)) +
                        "), " + c.describe();
    spdlog::info("loaded {}: {}", dir.string(), model.description);
    return model;
}

}  // namespace llama
