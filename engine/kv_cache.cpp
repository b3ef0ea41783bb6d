#include "llama/kv_cache.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

#include "kernels/kernels.h"
#include "llama/error.h"

namespace llama {

KVCache::KVCache(CacheType type, int64_t n_layers, int64_t n_seqs, int64_t n_ctx, int64_t kv_size)
    : type_(type),
      n_layers_(n_layers),
      n_seqs_(n_seqs),
      n_ctx_(n_ctx),
      kv_size_(kv_size),
      lengths_(static_cast<size_t>(n_seqs), 0) {
    // Left uninitialised on purpose: only rows [0, length) are ever read, and untouched pages of a
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

void KVCache::check_seq(int64_t seq) const {
    if (seq < 0 || seq >= n_seqs_) {
        throw Error("sequence id " + std::to_string(seq) + " is out of range: the context has " +
                    std::to_string(n_seqs_) + " sequence" + (n_seqs_ == 1 ? "" : "s") +
                    " (ids 0.." + std::to_string(n_seqs_ - 1) + ")");
    }
}

int64_t KVCache::length(int64_t seq) const {
    check_seq(seq);
    return lengths_[static_cast<size_t>(seq)];
}

void KVCache::extend(int64_t seq, int64_t n_tokens) {
    check_seq(seq);
    int64_t& length = lengths_[static_cast<size_t>(seq)];
    assert(n_tokens >= 0 && length + n_tokens <= n_ctx_);
    length += n_tokens;
}

void KVCache::clear() { std::ranges::fill(lengths_, 0); }

void KVCache::clear(int64_t seq) { truncate(seq, 0); }

void KVCache::truncate(int64_t seq, int64_t n_tokens) {
    const int64_t held = length(seq);
    if (n_tokens < 0 || n_tokens > held) {
        throw Error("cannot truncate sequence " + std::to_string(seq) + " to " +
                    std::to_string(n_tokens) + " tokens: it holds " + std::to_string(held));
    }
    // The rows past the new length stay in memory and are overwritten when positions are reused.
    lengths_[static_cast<size_t>(seq)] = n_tokens;
}

void KVCache::copy(int64_t src, int64_t dst) {
    const int64_t n = length(src);
    check_seq(dst);
    if (src == dst) return;
    const size_t bytes = static_cast<size_t>(n * kv_size_) * element_bytes();
    for (int64_t layer = 0; layer < n_layers_; ++layer) {
        const size_t from = offset(layer, src, 0) * element_bytes();
        const size_t to = offset(layer, dst, 0) * element_bytes();
        std::memcpy(keys_.get() + to, keys_.get() + from, bytes);
        std::memcpy(values_.get() + to, values_.get() + from, bytes);
    }
    lengths_[static_cast<size_t>(dst)] = n;
}

}  // namespace llama
