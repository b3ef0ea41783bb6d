#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "llama/context.h"
#include "llama/model.h"

namespace llama::server {

// One token of a decode step: appended to slot `slot`'s sequence, with its logits wanted or not.
struct SlotToken {
    int32_t token;
    int slot;
    bool logits;
};

// What the scheduler needs from the engine: n_slots independent sequences, each with its own KV
// cache of n_ctx tokens, advanced together by one forward over a mix of their tokens.
class SlotModel {
  public:
    virtual ~SlotModel() = default;

    virtual int n_slots() const = 0;
    virtual int64_t n_ctx() const = 0;
    // Tokens slot `slot` holds in its KV cache.
    virtual int64_t length(int slot) const = 0;
    // Keeps the first n_tokens of the slot's cache (the prompt-cache prefix); returns how many it
    // kept.
    virtual int64_t truncate(int slot, int64_t n_tokens) = 0;
    // Runs `tokens` (a slot's tokens in order) in one forward; returns the logits rows of the
    // tokens that asked for them, in order. Valid until the next call.
    virtual std::vector<std::span<const float>> decode(std::span<const SlotToken> tokens) = 0;
};

// The slot model over the engine: one InferenceContext holding n_slots sequences of n_ctx tokens.
std::unique_ptr<SlotModel> make_slot_model(const LlamaModel& model, const ContextParams& params,
                                           int n_slots);

}  // namespace llama::server
