#include "llama/kv_cache.h"

#include <algorithm>
#include <cassert>

#include "kernels/kernels.h"

namespace llama {

KVCache::KVCache(CacheType type, int64_t n_layers, int64_t n_seqs, int64_t n_ctx, int64_t kv_size)
    : type_(type), n_layers_(n_layers), n_seqs_(n_seqs), n_ctx_(n_ctx), kv_size_(kv_size) {
    // Left uninitialised on purpose: only rows [0, n_past) are ever read, and untouched pages of a
    // large cache then cost no memory.
    const size_t total = static_cast<size_t>(n_layers * n_seqs * n_ctx * kv_size) * element_bytes();
    keys_.reset(new std::byte[total]);
    values_.reset(new std::byte[total]);
}

void KVCache::store(int64_t layer, int64_t seq, int64_t position, std::span<const float> key,
                    std::span<const float> value) {
    assert(0 <= layer && layer < n_layers_ && 0 <= seq && seq < n_seqs_);
    assert(0 <= position && position < n_ctx_);
    assert(static_cast<int64_t>(key.size()) == kv_size_ && key.size() == value.size());
    const size_t at = offset(layer, seq, position);
    if (type_ == CacheType::F16) {
        const auto row = [&](std::byte* base) {
            return std::span(reinterpret_cast<uint16_t*>(base) + at, key.size());
        };
        kernels::f32_to_f16(key, row(keys_.get()));
        kernels::f32_to_f16(value, row(values_.get()));
    } else {
        std::ranges::copy(key, reinterpret_cast<float*>(keys_.get()) + at);
        std::ranges::copy(value, reinterpret_cast<float*>(values_.get()) + at);
    }
}

}  // namespace llama
