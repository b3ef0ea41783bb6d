#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace llama {

// Keys and values of every layer for n_seqs sequences of up to n_ctx tokens each, fp32.
// Layout per layer and sequence: [n_ctx, kv_size] rows, so one head's keys are a strided column
// block that BLAS reads directly. All sequences advance together (same n_past).
class KVCache {
public:
    KVCache(int64_t n_layers, int64_t n_seqs, int64_t n_ctx, int64_t kv_size);

    std::span<float> keys(int64_t layer, int64_t seq);
    std::span<float> values(int64_t layer, int64_t seq);
    int64_t n_past() const { return n_past_; }
    void advance(int64_t n_tokens) { n_past_ += n_tokens; }
    void clear() { n_past_ = 0; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t kv_size() const { return kv_size_; }

private:
    int64_t n_layers_, n_seqs_, n_ctx_, kv_size_;
    int64_t n_past_ = 0;
    std::unique_ptr<float[]> keys_;
    std::unique_ptr<float[]> values_;
};

}  // namespace llama
