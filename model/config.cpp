#include "llama/config.h"

#include <string>

#include "llama/error.h"

namespace llama {

void LlamaConfig::validate() const {
    auto require_positive = [](int64_t value, const char* name) {
        if (value <= 0) {
            throw Error(std::string("config: ") + name + " must be positive, got " +
                        std::to_string(value));
        }
    };
    require_positive(hidden_size, "hidden_size");
    require_positive(n_layers, "n_layers");
    require_positive(n_heads, "n_heads");
    require_positive(n_kv_heads, "n_kv_heads");
    require_positive(head_dim, "head_dim");
    require_positive(ffn_size, "ffn_size");
    require_positive(vocab_size, "vocab_size");
    require_positive(max_context, "max_context");
    // Far above any real model (vocabularies ~256k, hidden sizes ~16k, contexts ~10M), and low
    // enough that a product of two sizes times an element size cannot overflow 64 bits: a
    // crafted config must not reach the loader's size arithmetic with wrapped values.
    constexpr int64_t kMaxSize = int64_t{1} << 24;
    auto require_at_most = [&](int64_t value, const char* name) {
        if (value > kMaxSize) {
            throw Error(std::string("config: ") + name + " " + std::to_string(value) +
                        " is implausibly large (at most " + std::to_string(kMaxSize) + ")");
        }
    };
    require_at_most(hidden_size, "hidden_size");
    require_at_most(n_layers, "n_layers");
    require_at_most(n_heads, "n_heads");
    require_at_most(n_kv_heads, "n_kv_heads");
    require_at_most(head_dim, "head_dim");
    require_at_most(ffn_size, "ffn_size");
    require_at_most(vocab_size, "vocab_size");
    require_at_most(max_context, "max_context");
    if (n_heads % n_kv_heads != 0) {
        throw Error("config: n_heads (" + std::to_string(n_heads) +
                    ") is not a multiple of n_kv_heads (" + std::to_string(n_kv_heads) + ")");
    }
    if (head_dim % 2 != 0) {
        throw Error("config: head_dim must be even for rotary embeddings, got " +
                    std::to_string(head_dim));
    }
    if (!(rms_norm_eps > 0.0f)) throw Error("config: rms_norm_eps must be positive");
    if (!(rope_theta > 0.0f)) throw Error("config: rope_theta must be positive");
}

std::string LlamaConfig::describe() const {
    return "hidden " + std::to_string(hidden_size) + ", layers " + std::to_string(n_layers) +
           ", heads " + std::to_string(n_heads) + " (kv " + std::to_string(n_kv_heads) +
           ", head_dim " + std::to_string(head_dim) + "), ffn " + std::to_string(ffn_size) +
           ", vocab " + std::to_string(vocab_size) + ", context " + std::to_string(max_context) +
           ", rope theta " + std::to_string(rope_theta) +
           (rope_layout == RopeLayout::RotateHalf ? " (rotate-half)" : " (interleaved)");
}

}  // namespace llama
