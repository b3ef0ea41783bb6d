#include "llama/random_model.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <new>

#include "kernels/kernels.h"
#include "llama/error.h"
#include "llama/thread_pool.h"

namespace llama {

namespace {

struct Preset {
    std::string_view name;
    int64_t hidden, layers, heads, kv_heads, head_dim, ffn, vocab;
};

constexpr Preset kPresets[] = {
    {"llama-7b", 4096, 32, 32, 32, 128, 11008, 32000},
    {"llama-13b", 5120, 40, 40, 40, 128, 13824, 32000},
    {"small", 1024, 8, 16, 4, 64, 2816, 32000},
    {"tiny", 256, 4, 8, 4, 32, 688, 1024},
};

uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// 64-byte aligned, uninitialised (filling writes every byte), freed with the model.
std::shared_ptr<std::byte> allocate(int64_t bytes) {
    constexpr std::align_val_t kAlignment{64};
    auto* p = static_cast<std::byte*>(::operator new[](static_cast<size_t>(bytes), kAlignment));
    return std::shared_ptr<std::byte>(
        p, [kAlignment](std::byte* q) { ::operator delete[](q, kAlignment); });
}

class WeightFiller {
  public:
    WeightFiller(DType dtype, uint64_t seed, float weight_std, int n_threads)
        : dtype_(dtype),
          seed_(seed),
          pool_(n_threads),
          // Uniform on [-a, a] has standard deviation a / sqrt(3).
          half_width_(weight_std * std::sqrt(3.0f)) {}

    // A [rows, cols] matrix whose element (r, c) depends only on (seed, tensor_id, r, c).
    Matrix matrix(int64_t rows, int64_t cols, uint64_t tensor_id,
                  std::vector<std::shared_ptr<const void>>& storage) {
        const int64_t stride = row_bytes(dtype_, cols);
        std::shared_ptr<std::byte> buffer = allocate(rows * stride);
        std::byte* data = buffer.get();
        const uint64_t stream = mix64(seed_ ^ mix64(tensor_id + 1));
        pool_.parallel_for(rows, 16, [&](int64_t begin, int64_t end, int) {
            std::vector<float> values(static_cast<size_t>(cols));
            for (int64_t r = begin; r < end; ++r) {
                fill_row(stream, r, values);
                store_row(values, data + r * stride);
            }
        });
        storage.push_back(std::move(buffer));
        return {dtype_, rows, cols, data};
    }

  private:
    // Four 16-bit uniforms per hash: the fill runs at memory speed even for 7B.
    void fill_row(uint64_t stream, int64_t row, std::vector<float>& values) const {
        const int64_t cols = static_cast<int64_t>(values.size());
        const float scale = half_width_ / 32768.0f;
        for (int64_t c = 0; c < cols; c += 4) {
            const uint64_t h = mix64(stream + static_cast<uint64_t>(row * cols + c));
            for (int64_t k = 0; k < 4 && c + k < cols; ++k) {
                const auto bits = static_cast<uint16_t>(h >> (16 * k));
                values[c + k] = (static_cast<float>(bits) - 32767.5f) * scale;
            }
        }
    }

    void store_row(const std::vector<float>& values, std::byte* out) const {
        const size_t n = values.size();
        switch (dtype_) {
            case DType::F32:
                std::memcpy(out, values.data(), n * sizeof(float));
                break;
            case DType::F16:
                kernels::f32_to_f16(values, {reinterpret_cast<uint16_t*>(out), n});
                break;
            case DType::BF16:
                kernels::f32_to_bf16(values, {reinterpret_cast<uint16_t*>(out), n});
                break;
            default:
                throw Error("unreachable dtype in random model");
        }
    }

    DType dtype_;
    uint64_t seed_;
    ThreadPool pool_;
    float half_width_;
};

}  // namespace

std::optional<LlamaConfig> preset_config(std::string_view name) {
    for (const Preset& p : kPresets) {
        if (p.name != name) continue;
        LlamaConfig c;
        c.hidden_size = p.hidden;
        c.n_layers = p.layers;
        c.n_heads = p.heads;
        c.n_kv_heads = p.kv_heads;
        c.head_dim = p.head_dim;
        c.ffn_size = p.ffn;
        c.vocab_size = p.vocab;
        c.max_context = 4096;
        c.rms_norm_eps = 1e-5f;
        c.rope_theta = 10000.0f;
        c.rope_layout = RopeLayout::RotateHalf;
        return c;
    }
    return std::nullopt;
}

std::vector<std::string> preset_names() {
    std::vector<std::string> names;
    for (const Preset& p : kPresets) names.emplace_back(p.name);
    return names;
}

LlamaModel make_random_model(const RandomModelParams& params) {
    const LlamaConfig& c = params.config;
    c.validate();
    if (params.dtype != DType::F32 && params.dtype != DType::F16 && params.dtype != DType::BF16) {
        throw Error("random model: dtype " + std::string(dtype_name(params.dtype)) +
                    " is not supported (use f32, f16 or bf16)");
    }
    if (!(params.weight_std > 0.0f)) throw Error("random model: weight_std must be positive");

    LlamaModel model;
    model.config = c;
    WeightFiller filler(params.dtype, params.seed, params.weight_std, params.n_threads);
    // Tensor ids: 0 embedding, 1 lm_head, then four per layer.
    model.token_embedding = filler.matrix(c.vocab_size, c.hidden_size, 0, model.storage);
    model.lm_head = filler.matrix(c.vocab_size, c.hidden_size, 1, model.storage);
    model.final_norm.assign(c.hidden_size, 1.0f);
    model.layers.reserve(c.n_layers);
    for (int64_t l = 0; l < c.n_layers; ++l) {
        const uint64_t id = 2 + 4 * static_cast<uint64_t>(l);
        Matrix qkv = filler.matrix(c.q_size() + 2 * c.kv_size(), c.hidden_size, id, model.storage);
        Matrix o = filler.matrix(c.hidden_size, c.q_size(), id + 1, model.storage);
        Matrix gate_up = filler.matrix(2 * c.ffn_size, c.hidden_size, id + 2, model.storage);
        Matrix down = filler.matrix(c.hidden_size, c.ffn_size, id + 3, model.storage);
        model.layers.push_back(
            DecoderLayer{std::vector<float>(c.hidden_size, 1.0f), LlamaAttention(c, qkv, o),
                         std::vector<float>(c.hidden_size, 1.0f), LlamaMLP(c, gate_up, down)});
    }
    model.description = "synthetic random weights (" + std::string(dtype_name(params.dtype)) +
                        ", seed " + std::to_string(params.seed) + ", std " +
                        std::to_string(params.weight_std).substr(0, 5) + ")";
    spdlog::info("built random model: {} layers, {:.2f} GiB of {} weights", c.n_layers,
                 static_cast<double>(model.weight_bytes()) / (1 << 30), dtype_name(params.dtype));
    return model;
}

}  // namespace llama
