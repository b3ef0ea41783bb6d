#include "slot_model.h"

#include <map>

#include "llama/error.h"

namespace llama::server {

namespace {

// TEMPORARY until the library's batch API lands: one single-sequence context per slot, run one
// after the other. Truncation can only keep everything or nothing.
class PerSlotContexts final : public SlotModel {
  public:
    PerSlotContexts(const LlamaModel& model, ContextParams params, int n_slots) {
        params.n_seqs = 1;
        for (int i = 0; i < n_slots; ++i) {
            contexts_.push_back(std::make_unique<InferenceContext>(model, params));
        }
        n_ctx_ = params.n_ctx;
    }
    int n_slots() const override { return static_cast<int>(contexts_.size()); }
    int64_t n_ctx() const override { return n_ctx_; }
    int64_t length(int slot) const override { return contexts_[slot]->n_past(); }
    int64_t truncate(int slot, int64_t n_tokens) override {
        if (n_tokens < contexts_[slot]->n_past()) contexts_[slot]->reset();
        return contexts_[slot]->n_past();
    }
    std::vector<std::span<const float>> decode(std::span<const SlotToken> tokens) override {
        std::map<int, std::vector<int32_t>> by_slot;
        std::map<int, bool> wants;
        for (const SlotToken& t : tokens) {
            by_slot[t.slot].push_back(t.token);
            wants[t.slot] = t.logits;  // only a slot's last token may ask (the scheduler's use)
        }
        rows_.clear();
        std::vector<std::pair<int, size_t>> order;
        for (auto& [slot, ids] : by_slot) {
            auto logits = contexts_[slot]->forward(ids, static_cast<int64_t>(ids.size()));
            if (wants[slot]) {
                order.push_back({slot, rows_.size()});
                rows_.emplace_back(logits.begin(), logits.end());
            }
        }
        std::vector<std::span<const float>> out;
        for (const SlotToken& t : tokens) {
            if (!t.logits) continue;
            for (auto& [slot, index] : order) {
                if (slot == t.slot) out.push_back(rows_[index]);
            }
        }
        return out;
    }

  private:
    std::vector<std::unique_ptr<InferenceContext>> contexts_;
    std::vector<std::vector<float>> rows_;
    int64_t n_ctx_ = 0;
};

}  // namespace

std::unique_ptr<SlotModel> make_slot_model(const LlamaModel& model, const ContextParams& params,
                                           int n_slots) {
    if (n_slots < 1) throw Error("a server needs at least one slot");
    return std::make_unique<PerSlotContexts>(model, params, n_slots);
}

}  // namespace llama::server
