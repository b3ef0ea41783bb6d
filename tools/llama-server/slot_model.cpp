#include "slot_model.h"

#include "llama/batch.h"
#include "llama/error.h"

namespace llama::server {

namespace {

// The slots are the sequences of one InferenceContext; a step is one decode() of a llama::Batch.
class BatchSlots final : public SlotModel {
  public:
    BatchSlots(const LlamaModel& model, ContextParams params, int n_slots)
        : context_(model, with_seqs(params, n_slots)) {}

    int n_slots() const override { return static_cast<int>(context_.n_seqs()); }
    int64_t n_ctx() const override { return context_.n_ctx(); }
    int64_t length(int slot) const override { return context_.seq_length(slot); }
    int64_t truncate(int slot, int64_t n_tokens) override {
        if (n_tokens < context_.seq_length(slot)) context_.seq_truncate(slot, n_tokens);
        return context_.seq_length(slot);
    }
    std::vector<std::span<const float>> decode(std::span<const SlotToken> tokens) override {
        batch_.clear();
        // Positions follow what each slot holds, then the slot's earlier tokens in this batch.
        next_pos_.assign(static_cast<size_t>(n_slots()), -1);
        for (const SlotToken& t : tokens) {
            int64_t& pos = next_pos_[static_cast<size_t>(t.slot)];
            if (pos < 0) pos = context_.seq_length(t.slot);
            batch_.add(t.token, t.slot, pos++, t.logits);
        }
        context_.decode(batch_);
        std::vector<std::span<const float>> rows;
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (tokens[i].logits) rows.push_back(context_.logits(i));
        }
        return rows;
    }

  private:
    static ContextParams with_seqs(ContextParams params, int n_slots) {
        params.n_seqs = n_slots;
        return params;
    }

    InferenceContext context_;
    Batch batch_;
    std::vector<int64_t> next_pos_;
};

}  // namespace

std::unique_ptr<SlotModel> make_slot_model(const LlamaModel& model, const ContextParams& params,
                                           int n_slots) {
    if (n_slots < 1) throw Error("a server needs at least one slot");
    return std::make_unique<BatchSlots>(model, params, n_slots);
}

}  // namespace llama::server
