#include "llama/kv_cache.h"

namespace llama {

KVCache::KVCache(int64_t n_layers, int64_t n_seqs, int64_t n_ctx, int64_t kv_size)
    : n_layers_(n_layers), n_seqs_(n_seqs), n_ctx_(n_ctx), kv_size_(kv_size) {
    // Left uninitialised on purpose: only rows [0, n_past) are ever read, and untouched pages of a
    // large cache then cost no memory.
    const size_t total = static_cast<size_t>(n_layers * n_seqs * n_ctx * kv_size);
    keys_.reset(new float[total]);
    values_.reset(new float[total]);
}

std::span<float> KVCache::keys(int64_t layer, int64_t seq) {
    return {keys_.get() + ((layer * n_seqs_ + seq) * n_ctx_) * kv_size_,
            static_cast<size_t>(n_ctx_ * kv_size_)};
}

std::span<float> KVCache::values(int64_t layer, int64_t seq) {
    return {values_.get() + ((layer * n_seqs_ + seq) * n_ctx_) * kv_size_,
            static_cast<size_t>(n_ctx_ * kv_size_)};
}

}  // namespace llama
