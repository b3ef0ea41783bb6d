#include "model/gguf_convert.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "llama/error.h"
#include "model/gguf.h"
#include "model/gguf_loader.h"
#include "model/gguf_vocab.h"
#include "model/hf_loader.h"
#include "model/quant_mix.h"
#include "model/safetensors.h"

namespace llama {

namespace {

// The preset of options (its name, or the type's name): throws for types we cannot write.
QuantPreset preset_of(const GgufConvertOptions& options) {
    const std::string_view name =
        options.preset.empty() ? dtype_name(options.type) : std::string_view(options.preset);
    const auto preset = find_quant_preset(name);
    if (!preset) throw Error("cannot write GGUF files of type " + std::string(name));
    if (preset->base != options.type) {
        throw Error("preset " + std::string(preset->name) + " has base type " +
                    std::string(dtype_name(preset->base)) + ", not " +
                    std::string(dtype_name(options.type)));
    }
    return *preset;
}

// The presets whose matrices all take one type (the rules below); the others follow
// preset_tensor_type.
bool is_uniform(const QuantPreset& preset) {
    return preset.base == DType::F32 || preset.base == DType::F16 || preset.base == DType::BF16 ||
           preset.base == DType::Q8_0 || preset.base == DType::Q4_0;
}

// How each tensor's type is chosen: the preset and what its mix needs of the model.
struct TypeChoice {
    QuantPreset preset;
    int64_t n_layers = 0;
    int64_t n_gqa = 1;
    bool tied_embeddings = false;
};

TypeChoice type_choice(const GgufConvertOptions& options, const LlamaConfig& c, bool tied) {
    return {preset_of(options), c.n_layers, c.n_heads / std::max<int64_t>(1, c.n_kv_heads), tied};
}

// One tensor to write: where its values come from and how they are laid out.
struct SourceTensor {
    std::string name;            // GGUF name
    DType dtype;                 // stored type of the source
    std::vector<int64_t> shape;  // row-major: [rows, cols] or [n]
    const std::byte* data;
    // Hugging Face q/k: permute rows from rotate-half to interleaved pairs across this many heads.
    int64_t permute_heads = 0;
};

// Source row of output row r for llama.cpp's permute(): within each head, output rows (2i, 2i+1)
// take input rows (i, i + head_dim/2).
int64_t permuted_row(int64_t r, int64_t head_dim) {
    const int64_t head = r / head_dim;
    const int64_t within = r % head_dim;
    return head * head_dim + (within % 2) * (head_dim / 2) + within / 2;
}

DType target_type(const SourceTensor& tensor, const TypeChoice& choice) {
    if (tensor.shape.size() != 2) return DType::F32;  // norms and other vectors
    if (!is_uniform(choice.preset)) {
        return preset_tensor_type(choice.preset, {tensor.name, tensor.shape[1], choice.n_layers,
                                                  choice.n_gqa, choice.tied_embeddings});
    }
    const DType requested = choice.preset.base;
    DType target = requested;
    if (tensor.name == "output.weight" && requested == DType::Q4_0) target = DType::Q8_0;
    if ((target == DType::Q4_0 || target == DType::Q8_0) &&
        tensor.shape[1] % kernels::kQ8_0BlockSize != 0) {
        target = DType::F16;
    }
    return target;
}

void encode_row(const float* values, int64_t cols, DType target, std::byte* out) {
    const auto n = static_cast<size_t>(cols);
    switch (target) {
        case DType::F32:
            std::memcpy(out, values, n * sizeof(float));
            break;
        case DType::F16:
            kernels::f32_to_f16({values, n}, {reinterpret_cast<uint16_t*>(out), n});
            break;
        case DType::BF16:
            kernels::f32_to_bf16({values, n}, {reinterpret_cast<uint16_t*>(out), n});
            break;
        default:
            kernels::quantize_rows(target, values, 1, cols, out);
            break;
    }
}

void decode_row(DType type, const std::byte* row, int64_t cols, float* out) {
    if (is_plain_float(type)) {
        kernels::dequantize_rows(type, row, 1, cols, {out, static_cast<size_t>(cols)});
    } else {
        kernels::dequantize_rows_quant(type, row, 1, cols, out);
    }
}

void fill(const SourceTensor& tensor, DType target, std::span<std::byte> out) {
    const int64_t rows = tensor.shape.size() == 2 ? tensor.shape[0] : 1;
    const int64_t cols = tensor.shape.back();
    const int64_t in_stride = row_bytes(tensor.dtype, cols);
    const int64_t out_stride = row_bytes(target, cols);
    const int64_t head_dim = tensor.permute_heads > 0 ? rows / tensor.permute_heads : 0;
    if (target == tensor.dtype && head_dim == 0) {
        std::memcpy(out.data(), tensor.data, out.size());
        return;
    }
    std::vector<float> values(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        const std::byte* in =
            tensor.data + (head_dim > 0 ? permuted_row(r, head_dim) : r) * in_stride;
        std::byte* dst = out.data() + r * out_stride;
        if (target == tensor.dtype) {
            std::memcpy(dst, in, static_cast<size_t>(out_stride));
        } else {
            decode_row(tensor.dtype, in, cols, values.data());
            encode_row(values.data(), cols, target, dst);
        }
    }
}

// The tensor names of a LLaMA model in the order we write them: q/k/v and gate/up adjacent.
std::vector<std::string> canonical_order(int64_t n_layers) {
    std::vector<std::string> names = {"token_embd.weight"};
    for (int64_t i = 0; i < n_layers; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        for (const char* suffix : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                   "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"}) {
            names.push_back(p + suffix + ".weight");
        }
    }
    names.push_back("output_norm.weight");
    names.push_back("output.weight");
    return names;
}

// Row-major shapes of the tensors a LLaMA model needs (output.weight is optional: tied).
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_shapes(const LlamaConfig& c) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"token_embd.weight", {c.vocab_size, c.hidden_size}}};
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        shapes.push_back({p + "attn_norm.weight", {c.hidden_size}});
        shapes.push_back({p + "attn_q.weight", {c.q_size(), c.hidden_size}});
        shapes.push_back({p + "attn_k.weight", {c.kv_size(), c.hidden_size}});
        shapes.push_back({p + "attn_v.weight", {c.kv_size(), c.hidden_size}});
        shapes.push_back({p + "attn_output.weight", {c.hidden_size, c.q_size()}});
        shapes.push_back({p + "ffn_norm.weight", {c.hidden_size}});
        shapes.push_back({p + "ffn_gate.weight", {c.ffn_size, c.hidden_size}});
        shapes.push_back({p + "ffn_up.weight", {c.ffn_size, c.hidden_size}});
        shapes.push_back({p + "ffn_down.weight", {c.hidden_size, c.ffn_size}});
    }
    shapes.push_back({"output_norm.weight", {c.hidden_size}});
    return shapes;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string text;
    for (int64_t d : shape) text += (text.empty() ? "" : ", ") + std::to_string(d);
    return "[" + text + "]";
}

void add_tensor(GgufWriter& writer, const SourceTensor& tensor, const TypeChoice& choice,
                int& requantized) {
    const DType target = target_type(tensor, choice);
    if (!is_plain_float(tensor.dtype) && target != tensor.dtype) ++requantized;
    writer.add_tensor(tensor.name, {tensor.shape.rbegin(), tensor.shape.rend()},
                      ggml_from_dtype(target),
                      [tensor, target](std::span<std::byte> out) { fill(tensor, target, out); });
}

void set_llama_metadata(GgufWriter& writer, const LlamaConfig& c) {
    writer.set("general.architecture", "llama");
    writer.set("llama.context_length", static_cast<uint32_t>(c.max_context));
    writer.set("llama.embedding_length", static_cast<uint32_t>(c.hidden_size));
    writer.set("llama.block_count", static_cast<uint32_t>(c.n_layers));
    writer.set("llama.feed_forward_length", static_cast<uint32_t>(c.ffn_size));
    writer.set("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
    writer.set("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
    writer.set("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    writer.set("llama.attention.layer_norm_rms_epsilon", c.rms_norm_eps);
    writer.set("llama.rope.freq_base", c.rope_theta);
    if (c.head_dim * c.n_heads != c.hidden_size) {
        writer.set("llama.attention.key_length", static_cast<uint32_t>(c.head_dim));
        writer.set("llama.attention.value_length", static_cast<uint32_t>(c.head_dim));
    }
}

void set_file_type(GgufWriter& writer, const QuantPreset& preset) {
    writer.set("general.file_type", preset.file_type);
    if (is_plain_float(preset.base)) {
        writer.remove("general.quantization_version");
    } else {
        writer.set("general.quantization_version", uint32_t{2});  // ggml's current block layouts
    }
}

// ---- GGUF input ---------------------------------------------------------------------------------

void from_gguf(const GgufFile& in, GgufWriter& writer, const GgufConvertOptions& options,
               int& requantized) {
    const LlamaConfig config = read_gguf_config(in);  // fails early on files we could not load
    const TypeChoice choice =
        type_choice(options, config, in.find_tensor("output.weight") == nullptr);
    // Refuse what the loader would refuse, rather than write a file that cannot be used.
    auto check = [&](const std::string& name, const std::vector<int64_t>& shape) {
        const GgufTensorInfo* info = in.find_tensor(name);
        if (info == nullptr) throw Error(in.path().string() + ": missing tensor '" + name + "'");
        if (info->shape() != shape) {
            throw Error(in.path().string() + ": tensor '" + name + "' has shape " +
                        shape_text(info->shape()) + " but the model config needs " +
                        shape_text(shape));
        }
        if (!dtype_from_ggml(info->type)) {
            throw Error(in.path().string() + ": tensor '" + name + "' has type " +
                        ggml_type_name(info->type) + ", which this engine does not support");
        }
    };
    for (const auto& [name, shape] : expected_shapes(config)) check(name, shape);
    if (in.find_tensor("output.weight") != nullptr) {
        check("output.weight", {config.vocab_size, config.hidden_size});
    }
    for (const GgufKeyValue& entry : in.metadata()) {
        if (entry.key == "general.alignment") continue;
        writer.set(entry.key, entry.value);
    }
    set_file_type(writer, choice.preset);

    std::set<std::string> written;
    auto add = [&](const GgufTensorInfo& info) {
        written.insert(info.name);
        const auto dtype = dtype_from_ggml(info.type);
        const bool matrix_or_vector = info.ne.size() == 1 || info.ne.size() == 2;
        if (!dtype || !matrix_or_vector) {
            // Not a weight we convert: copy it through unchanged.
            writer.add_tensor(info.name, info.ne, info.type, info.bytes());
            return;
        }
        add_tensor(writer, {info.name, *dtype, info.shape(), info.data, 0}, choice, requantized);
    };
    for (const std::string& name : canonical_order(config.n_layers)) {
        if (const GgufTensorInfo* info = in.find_tensor(name)) add(*info);
    }
    for (const GgufTensorInfo& info : in.tensors()) {
        if (!written.contains(info.name)) add(info);
    }
}

// ---- Hugging Face input -------------------------------------------------------------------------

std::string read_file(const std::filesystem::path& path) {
    if (!std::filesystem::is_regular_file(path)) {
        throw Error(path.string() +
                    (std::filesystem::exists(path) ? ": not a regular file" : ": no such file"));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path.string());
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

// tokenizer.ggml.* from a tokenizer.model, for either input; errors name the file.
void add_tokenizer_file(GgufWriter& writer, const std::filesystem::path& path, int64_t vocab_size) {
    const std::string bytes = read_file(path);
    try {
        add_gguf_tokenizer_metadata(writer, bytes, vocab_size);
    } catch (const Error& e) {
        throw Error(path.string() + ": " + e.what());
    }
}

void from_hf(const std::filesystem::path& dir, const SafetensorsCheckpoint& checkpoint,
             GgufWriter& writer, const GgufConvertOptions& options, int& requantized) {
    const LlamaConfig c = read_hf_config(dir / "config.json");
    const TypeChoice choice = type_choice(options, c, checkpoint.find("lm_head.weight") == nullptr);
    std::string name = std::filesystem::absolute(dir).lexically_normal().filename().string();
    if (name.empty())
        name = std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();
    writer.set("general.name", name);
    set_llama_metadata(writer, c);
    set_file_type(writer, choice.preset);

    const std::filesystem::path tokenizer = dir / "tokenizer.model";
    if (std::filesystem::exists(tokenizer)) {
        add_tokenizer_file(writer, tokenizer, c.vocab_size);
        writer.set("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_token_id));
        writer.set("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_token_id));
    } else {
        spdlog::warn("{} has no tokenizer.model: the GGUF file will have no tokenizer",
                     dir.string());
    }

    auto source = [&](const std::string& hf_name, const std::string& gguf_name,
                      std::vector<int64_t> shape, int64_t permute_heads = 0) {
        const SafetensorsTensor& tensor = checkpoint.get(hf_name);
        if (tensor.shape != shape) {
            throw Error("tensor '" + hf_name + "' has shape " + shape_text(tensor.shape) +
                        " but config.json needs " + shape_text(shape));
        }
        add_tensor(writer,
                   {gguf_name, tensor.dtype, std::move(shape), tensor.data.data(), permute_heads},
                   choice, requantized);
    };
    source("model.embed_tokens.weight", "token_embd.weight", {c.vocab_size, c.hidden_size});
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::string hf = "model.layers." + std::to_string(i) + ".";
        const std::string gg = "blk." + std::to_string(i) + ".";
        source(hf + "input_layernorm.weight", gg + "attn_norm.weight", {c.hidden_size});
        source(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", {c.q_size(), c.hidden_size},
               c.n_heads);
        source(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", {c.kv_size(), c.hidden_size},
               c.n_kv_heads);
        source(hf + "self_attn.v_proj.weight", gg + "attn_v.weight", {c.kv_size(), c.hidden_size});
        source(hf + "self_attn.o_proj.weight", gg + "attn_output.weight",
               {c.hidden_size, c.q_size()});
        source(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", {c.hidden_size});
        source(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", {c.ffn_size, c.hidden_size});
        source(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", {c.ffn_size, c.hidden_size});
        source(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", {c.hidden_size, c.ffn_size});
    }
    source("model.norm.weight", "output_norm.weight", {c.hidden_size});
    if (checkpoint.find("lm_head.weight") != nullptr) {
        source("lm_head.weight", "output.weight", {c.vocab_size, c.hidden_size});
    }
}

}  // namespace

int64_t tokenizer_model_pieces(const std::filesystem::path& path) {
    const std::string bytes = read_file(path);
    try {
        return sentencepiece_piece_count(bytes);
    } catch (const Error& e) {
        throw Error(path.string() + ": " + e.what());
    }
}

DType parse_gguf_output_type(std::string_view name) {
    if (const auto preset = find_quant_preset(name)) return preset->base;
    std::string known;
    for (const QuantPreset& preset : quant_presets()) {
        known += (known.empty() ? "" : ", ") + std::string(preset.name);
    }
    throw Error("unknown output type '" + std::string(name) + "' (supported: " + known + ")");
}

void convert_to_gguf(const std::filesystem::path& input, const std::filesystem::path& output,
                     const GgufConvertOptions& options) {
    preset_of(options);  // rejects types we cannot write before any work
    if (!std::filesystem::exists(input)) {
        throw Error(input.string() + ": no such file or directory");
    }
    if (std::filesystem::exists(output) &&
        std::filesystem::equivalent(std::filesystem::absolute(input),
                                    std::filesystem::absolute(output))) {
        throw Error("the output " + output.string() + " is the input file");
    }
    GgufWriter writer;
    int requantized = 0;
    // The sources stay mapped until the writer has pulled every tensor from them.
    std::unique_ptr<GgufFile> gguf;
    std::unique_ptr<SafetensorsCheckpoint> checkpoint;
    if (std::filesystem::is_directory(input)) {
        checkpoint =
            std::make_unique<SafetensorsCheckpoint>(SafetensorsCheckpoint::open_directory(input));
        from_hf(input, *checkpoint, writer, options, requantized);
    } else {
        gguf = std::make_unique<GgufFile>(GgufFile::open(input));
        from_gguf(*gguf, writer, options, requantized);
    }
    if (requantized > 0) {
        spdlog::warn(
            "{} quantized tensors were requantized to another type: expect the errors of "
            "both quantizations",
            requantized);
    }
    writer.write(output, options.progress);
}

void write_model_gguf(const LlamaModel& model, const std::filesystem::path& output,
                      const GgufConvertOptions& options, const std::string& name) {
    const LlamaConfig& c = model.config;
    c.validate();
    const bool tied = model.lm_head.data == model.token_embedding.data;
    const TypeChoice choice = type_choice(options, c, tied);
    if (static_cast<int64_t>(model.layers.size()) != c.n_layers) {
        throw Error("model has " + std::to_string(model.layers.size()) +
                    " layers but its config says " + std::to_string(c.n_layers));
    }
    GgufWriter writer;
    writer.set("general.name", name);
    if (!model.description.empty()) writer.set("general.description", model.description);
    set_llama_metadata(writer, c);
    set_file_type(writer, choice.preset);
    if (!options.tokenizer.empty()) add_tokenizer_file(writer, options.tokenizer, c.vocab_size);

    const bool rotate_half = c.rope_layout == RopeLayout::RotateHalf;
    int requantized = 0;
    auto matrix = [&](const std::string& gguf_name, const Matrix& m, int64_t permute_heads = 0) {
        add_tensor(writer, {gguf_name, m.dtype, {m.rows, m.cols}, m.data, permute_heads}, choice,
                   requantized);
    };
    auto vector = [&](const std::string& gguf_name, const std::vector<float>& values) {
        if (static_cast<int64_t>(values.size()) != c.hidden_size) {
            throw Error("model norm '" + gguf_name + "' has " + std::to_string(values.size()) +
                        " values, hidden size is " + std::to_string(c.hidden_size));
        }
        add_tensor(writer,
                   {gguf_name,
                    DType::F32,
                    {c.hidden_size},
                    reinterpret_cast<const std::byte*>(values.data()),
                    0},
                   choice, requantized);
    };
    matrix("token_embd.weight", model.token_embedding);
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const DecoderLayer& layer = model.layers[static_cast<size_t>(i)];
        const std::string p = "blk." + std::to_string(i) + ".";
        const auto qkv_parts = layer.attention.qkv_parts();
        const Matrix& qkv = qkv_parts[0];
        const bool fused = qkv_parts.size() == 1;
        const Matrix q = fused ? qkv.slice_rows(0, c.q_size()) : qkv_parts[0];
        const Matrix k = fused ? qkv.slice_rows(c.q_size(), c.kv_size()) : qkv_parts[1];
        const Matrix v =
            fused ? qkv.slice_rows(c.q_size() + c.kv_size(), c.kv_size()) : qkv_parts[2];
        const Matrix& gate_up = layer.mlp.gate_up_weight();
        vector(p + "attn_norm.weight", layer.attn_norm);
        matrix(p + "attn_q.weight", q, rotate_half ? c.n_heads : 0);
        matrix(p + "attn_k.weight", k, rotate_half ? c.n_kv_heads : 0);
        matrix(p + "attn_v.weight", v);
        matrix(p + "attn_output.weight", layer.attention.o_weight());
        vector(p + "ffn_norm.weight", layer.ffn_norm);
        matrix(p + "ffn_gate.weight", gate_up.slice_rows(0, c.ffn_size));
        matrix(p + "ffn_up.weight", gate_up.slice_rows(c.ffn_size, c.ffn_size));
        matrix(p + "ffn_down.weight", layer.mlp.down_weight());
    }
    vector("output_norm.weight", model.final_norm);
    // A tied lm_head is the embedding itself; the loader ties a file without output.weight.
    if (!tied) matrix("output.weight", model.lm_head);
    if (requantized > 0) {
        spdlog::warn("{} quantized tensors were requantized to another type", requantized);
    }
    writer.write(output, options.progress);
}

}  // namespace llama
