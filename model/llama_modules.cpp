#include <string>
#include <vector>

#include "llama/error.h"
#include "llama/model.h"

namespace llama {

namespace {
void require_shape(const Matrix& m, int64_t rows, int64_t cols, const char* what) {
    if (m.rows != rows || m.cols != cols) {
        throw Error(std::string(what) + " has shape [" + std::to_string(m.rows) + ", " +
                    std::to_string(m.cols) + "], expected [" + std::to_string(rows) + ", " +
                    std::to_string(cols) + "]");
    }
}
}  // namespace

LlamaAttention::LlamaAttention(const LlamaConfig& config, Matrix qkv, Matrix o)
    : qkv_{qkv},
      n_qkv_parts_(1),
      o_(o),
      split_sizes_{config.q_size(), config.kv_size(), config.kv_size()} {
    require_shape(qkv, config.q_size() + 2 * config.kv_size(), config.hidden_size,
                  "fused qkv weight");
    require_shape(o_, config.hidden_size, config.q_size(), "attention output weight");
}

LlamaAttention::LlamaAttention(const LlamaConfig& config, Matrix q, Matrix k, Matrix v, Matrix o)
    : qkv_{q, k, v},
      n_qkv_parts_(3),
      o_(o),
      split_sizes_{config.q_size(), config.kv_size(), config.kv_size()} {
    require_shape(q, config.q_size(), config.hidden_size, "q weight");
    require_shape(k, config.kv_size(), config.hidden_size, "k weight");
    require_shape(v, config.kv_size(), config.hidden_size, "v weight");
    require_shape(o_, config.hidden_size, config.q_size(), "attention output weight");
}

QkvSplit LlamaAttention::split(SplitMode mode) const {
    if (mode == SplitMode::Cached) {
        return {0, split_sizes_[0], split_sizes_[0], split_sizes_[1],
                split_sizes_[0] + split_sizes_[1]};
    }
    // The per-forward path of the original code: derive the sizes from the weight shape and
    // build a fresh list every call.
    int64_t qkv_rows = 0;
    for (const Matrix& part : qkv_parts()) qkv_rows += part.rows;
    const int64_t kv_size = (qkv_rows - o_.cols) / 2;
    const std::vector<int64_t> sizes{o_.cols, kv_size, kv_size};
    // Keep the allocation observable so the optimiser cannot elide it: it is what is measured.
    asm volatile("" : : "g"(sizes.data()) : "memory");
    return {0, sizes[0], sizes[0], sizes[1], sizes[0] + sizes[1]};
}

LlamaMLP::LlamaMLP(const LlamaConfig& config, Matrix gate_up, Matrix down)
    : gate_up_(gate_up), down_(down), ffn_size_(config.ffn_size) {
    require_shape(gate_up_, 2 * config.ffn_size, config.hidden_size, "fused gate_up weight");
    require_shape(down_, config.hidden_size, config.ffn_size, "mlp down weight");
}

int64_t LlamaModel::decode_bytes() const {
    int64_t total = lm_head.bytes().size();
    for (const DecoderLayer& layer : layers) {
        for (const Matrix& part : layer.attention.qkv_parts()) total += part.bytes().size();
        total += layer.attention.o_weight().bytes().size() +
                 layer.mlp.gate_up_weight().bytes().size() + layer.mlp.down_weight().bytes().size();
    }
    return total;
}

int64_t LlamaModel::weight_bytes() const {
    const bool tied = lm_head.data == token_embedding.data;
    return decode_bytes() + (tied ? 0 : static_cast<int64_t>(token_embedding.bytes().size()));
}

}  // namespace llama
