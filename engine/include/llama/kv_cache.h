#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace llama {

// Element type of the KV cache. F16 (IEEE half, as llama.cpp stores it by default) halves the
// cache's memory and the bytes decode attention reads, at a relative rounding error of at most
// 2^-11 per cached value; F32 keeps the projections exactly.
enum class CacheType { F32, F16 };

// Keys and values of every layer for n_seqs sequences of up to n_ctx tokens each.
// Layout per layer and sequence: [n_ctx, kv_size] rows of the cache type, so one head's keys are a
// strided column block that BLAS reads directly (after widening, for F16). Each sequence has its
// own length: it holds positions [0, length), which the sequence operations below clear, truncate
// or copy; they throw llama::Error for a sequence id outside [0, n_seqs) or a length it does not
// have.
class KVCache {
  public:
    KVCache(CacheType type, int64_t n_layers, int64_t n_seqs, int64_t n_ctx, int64_t kv_size);

    // Stores one position's key and value rows (kv_size floats each), rounding them to the cache
    // type.
    void store(int64_t layer, int64_t seq, int64_t position, std::span<const float> key,
               std::span<const float> value);

    // Calls f(keys, values) with the [n_ctx, kv_size] rows of one layer and sequence as
    // std::span<const float> (F32) or std::span<const uint16_t> (F16 bits).
    template <class F>
    decltype(auto) visit(int64_t layer, int64_t seq, F&& f) const {
        if (type_ == CacheType::F16) {
            return f(rows<uint16_t>(keys_.get(), layer, seq),
                     rows<uint16_t>(values_.get(), layer, seq));
        }
        return f(rows<float>(keys_.get(), layer, seq), rows<float>(values_.get(), layer, seq));
    }

    CacheType type() const { return type_; }
    int64_t n_seqs() const { return n_seqs_; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t kv_size() const { return kv_size_; }

    // Positions sequence `seq` holds.
    int64_t length(int64_t seq) const;
    // Marks n_tokens more positions of `seq` as held, once their rows are stored.
    void extend(int64_t seq, int64_t n_tokens);
    void clear();                                  // every sequence
    void clear(int64_t seq);                       // one sequence
    void truncate(int64_t seq, int64_t n_tokens);  // keeps positions [0, n_tokens)
    // Makes dst hold a copy of what src holds (its rows in every layer, and its length).
    void copy(int64_t src, int64_t dst);

    // Throws llama::Error unless 0 <= seq < n_seqs.
    void check_seq(int64_t seq) const;

  private:
    size_t element_bytes() const { return type_ == CacheType::F16 ? 2 : 4; }
    size_t offset(int64_t layer, int64_t seq, int64_t position) const {
        return static_cast<size_t>(((layer * n_seqs_ + seq) * n_ctx_ + position) * kv_size_);
    }
    template <class T>
    std::span<const T> rows(const std::byte* base, int64_t layer, int64_t seq) const {
        return {reinterpret_cast<const T*>(base) + offset(layer, seq, 0),
                static_cast<size_t>(n_ctx_ * kv_size_)};
    }

    CacheType type_;
    int64_t n_layers_, n_seqs_, n_ctx_, kv_size_;
    std::vector<int64_t> lengths_;  // per sequence
    std::unique_ptr<std::byte[]> keys_;
    std::unique_ptr<std::byte[]> values_;
};

}  // namespace llama
