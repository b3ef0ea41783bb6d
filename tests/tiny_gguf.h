#pragma once

// Writes tiny LLaMA-shaped GGUF files at test time (random weights of any supported type), and
// keeps the values each tensor decodes to so tests can check what the loader made of them.

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "model/gguf.h"

namespace llama::test {

struct TinyGgufSpec {
    int64_t hidden = 64;
    int64_t layers = 2;
    int64_t heads = 4;
    int64_t kv_heads = 2;
    int64_t ffn = 96;
    int64_t vocab = 40;
    int64_t context = 128;
    GgmlType matrix_type = GgmlType::F32;   // every 2-D weight unless overridden
    std::map<std::string, GgmlType> types;  // per-tensor overrides
    bool tied_output = false;               // no output.weight
    bool swap_q_and_k = false;              // write attn_k before attn_q (not adjacent)
    std::set<std::string> skip;             // tensors to leave out
    uint32_t seed = 7;
    // Last word on the metadata (change or remove keys to make a broken file).
    std::function<void(GgufWriter&)> edit;
};

// Name -> row-major values the tensor decodes to.
using TensorValues = std::map<std::string, std::vector<float>>;

inline std::vector<std::byte> encode(GgmlType type, const std::vector<float>& values,
                                     std::vector<float>& decoded) {
    const auto n = static_cast<int64_t>(values.size());
    std::vector<std::byte> bytes;
    decoded = values;
    switch (type) {
        case GgmlType::F32:
            bytes.resize(n * 4);
            std::memcpy(bytes.data(), values.data(), bytes.size());
            break;
        case GgmlType::F16:
        case GgmlType::BF16: {
            std::vector<uint16_t> half(n);
            for (int64_t i = 0; i < n; ++i) {
                half[i] = type == GgmlType::F16 ? kernels::f32_to_f16(values[i])
                                                : kernels::f32_to_bf16(values[i]);
                decoded[i] = type == GgmlType::F16 ? kernels::f16_to_f32(half[i])
                                                   : kernels::bf16_to_f32(half[i]);
            }
            bytes.resize(n * 2);
            std::memcpy(bytes.data(), half.data(), bytes.size());
            break;
        }
        default: {  // a quantized type the engine runs
            const auto dtype = dtype_from_ggml(type);
            if (!dtype)
                throw std::runtime_error("tiny_gguf: cannot encode " + ggml_type_name(type));
            bytes.resize(row_bytes(*dtype, n));
            kernels::quantize_rows(*dtype, values.data(), 1, n, bytes.data());
            kernels::dequantize_rows_quant(*dtype, bytes.data(), 1, n, decoded.data());
            break;
        }
    }
    return bytes;
}

inline GgufWriter tiny_gguf_writer(const TinyGgufSpec& spec, TensorValues& values) {
    GgufWriter writer;
    writer.set("general.architecture", "llama");
    writer.set("general.name", "tiny");
    writer.set("llama.context_length", static_cast<uint32_t>(spec.context));
    writer.set("llama.embedding_length", static_cast<uint32_t>(spec.hidden));
    writer.set("llama.block_count", static_cast<uint32_t>(spec.layers));
    writer.set("llama.feed_forward_length", static_cast<uint32_t>(spec.ffn));
    writer.set("llama.attention.head_count", static_cast<uint32_t>(spec.heads));
    writer.set("llama.attention.head_count_kv", static_cast<uint32_t>(spec.kv_heads));
    writer.set("llama.rope.freq_base", 500000.0f);
    writer.set("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    writer.set("llama.rope.dimension_count", static_cast<uint32_t>(spec.hidden / spec.heads));
    writer.set("tokenizer.ggml.bos_token_id", uint32_t{1});
    writer.set("tokenizer.ggml.eos_token_id", uint32_t{2});

    std::mt19937 rng(spec.seed);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    auto add = [&](const std::string& name, std::vector<int64_t> shape, bool is_matrix) {
        if (spec.skip.contains(name)) return;
        GgmlType type = is_matrix ? spec.matrix_type : GgmlType::F32;
        if (auto it = spec.types.find(name); it != spec.types.end()) type = it->second;
        int64_t count = 1;
        for (int64_t dim : shape) count *= dim;
        std::vector<float> raw(count);
        for (float& v : raw) v = is_matrix ? normal(rng) : 1.0f + 0.1f * normal(rng);
        const std::vector<int64_t> ne(shape.rbegin(), shape.rend());
        std::vector<float> decoded;
        std::vector<std::byte> bytes;
        if (type == GgmlType::Q8_1) {  // unsupported by the engine: any bytes of the right size
            bytes.resize(ggml_tensor_bytes(type, ne, name));
        } else {
            bytes = encode(type, raw, decoded);
        }
        values[name] = decoded;
        auto shared = std::make_shared<std::vector<std::byte>>(std::move(bytes));
        writer.add_tensor(name, ne, type, [shared](std::span<std::byte> out) {
            std::memcpy(out.data(), shared->data(), out.size());
        });
    };
    const int64_t head_dim = spec.hidden / spec.heads;
    add("token_embd.weight", {spec.vocab, spec.hidden}, true);
    for (int64_t i = 0; i < spec.layers; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        add(p + "attn_norm.weight", {spec.hidden}, false);
        if (spec.swap_q_and_k) {
            add(p + "attn_k.weight", {spec.kv_heads * head_dim, spec.hidden}, true);
            add(p + "attn_q.weight", {spec.heads * head_dim, spec.hidden}, true);
        } else {
            add(p + "attn_q.weight", {spec.heads * head_dim, spec.hidden}, true);
            add(p + "attn_k.weight", {spec.kv_heads * head_dim, spec.hidden}, true);
        }
        add(p + "attn_v.weight", {spec.kv_heads * head_dim, spec.hidden}, true);
        add(p + "attn_output.weight", {spec.hidden, spec.heads * head_dim}, true);
        add(p + "ffn_norm.weight", {spec.hidden}, false);
        add(p + "ffn_gate.weight", {spec.ffn, spec.hidden}, true);
        add(p + "ffn_up.weight", {spec.ffn, spec.hidden}, true);
        add(p + "ffn_down.weight", {spec.hidden, spec.ffn}, true);
    }
    add("output_norm.weight", {spec.hidden}, false);
    if (!spec.tied_output) add("output.weight", {spec.vocab, spec.hidden}, true);
    if (spec.edit) spec.edit(writer);
    return writer;
}

inline TensorValues write_tiny_gguf(const std::filesystem::path& path, const TinyGgufSpec& spec) {
    TensorValues values;
    tiny_gguf_writer(spec, values).write(path);
    return values;
}

}  // namespace llama::test
