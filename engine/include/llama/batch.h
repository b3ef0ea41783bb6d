#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace llama {

// One token of a batch: which sequence it extends, at which position, and whether the caller
// wants the logits that follow it.
struct BatchToken {
    int32_t token;
    int64_t seq;  // sequence id, 0 <= seq < the context's n_seqs
    int64_t pos;  // position in that sequence: the next one, i.e. what the sequence holds so far
    bool logits;  // compute the logits of this token
};

// The tokens one InferenceContext::decode() runs in one forward, as llama.cpp's llama_batch:
// tokens of any sequences in any mix, e.g. a prompt chunk of one sequence beside the single next
// tokens of others. The tokens of a sequence must come in order of position, each following what
// the sequence already holds (decode() rejects a gap or an overlap); tokens of one sequence that
// sit next to each other in the batch attend together, so list a sequence's tokens side by side.
class Batch {
  public:
    Batch() = default;

    // Appends one token; returns *this so calls chain.
    Batch& add(int32_t token, int64_t seq, int64_t pos, bool logits = false) {
        tokens_.push_back({token, seq, pos, logits});
        return *this;
    }
    // Appends tokens at positions pos0, pos0 + 1, ... of sequence `seq`, asking for the logits of
    // the last one only (the usual prompt prefill), or of every one with logits_all.
    Batch& add_sequence(std::span<const int32_t> tokens, int64_t seq, int64_t pos0,
                        bool logits_all = false) {
        for (size_t i = 0; i < tokens.size(); ++i) {
            add(tokens[i], seq, pos0 + static_cast<int64_t>(i),
                logits_all || i + 1 == tokens.size());
        }
        return *this;
    }
    void clear() { tokens_.clear(); }

    size_t size() const { return tokens_.size(); }
    bool empty() const { return tokens_.empty(); }
    const BatchToken& operator[](size_t i) const { return tokens_[i]; }
    std::span<const BatchToken> tokens() const { return tokens_; }

  private:
    std::vector<BatchToken> tokens_;
};

}  // namespace llama
