// llama-server's scheduler over a recording slot model: which tokens go into which forward.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "llama/tokenizer.h"
#include "metrics.h"
#include "scheduler.h"
#include "slot_model.h"

namespace {

using llama::server::Job;
using llama::server::Metrics;
using llama::server::Scheduler;
using llama::server::SchedulerOptions;
using llama::server::SlotModel;
using llama::server::SlotToken;

// Records every forward as the slot of each of its tokens. Every logits row prefers one token
// (not EOS); the first forward waits until open() so that the test can queue several requests
// behind it.
class RecordingSlotModel final : public SlotModel {
  public:
    RecordingSlotModel(int n_slots, int64_t n_vocab, int32_t favourite)
        : n_slots_(n_slots), lengths_(static_cast<size_t>(n_slots), 0) {
        row_.assign(static_cast<size_t>(n_vocab), 0.0F);
        row_[static_cast<size_t>(favourite)] = 10.0F;
    }

    int n_slots() const override { return n_slots_; }
    int64_t n_ctx() const override { return 256; }
    int64_t length(int slot) const override { return lengths_[static_cast<size_t>(slot)]; }
    int64_t truncate(int slot, int64_t n_tokens) override {
        auto& length = lengths_[static_cast<size_t>(slot)];
        length = std::min(length, n_tokens);
        return length;
    }
    std::vector<std::span<const float>> decode(std::span<const SlotToken> tokens) override {
        {
            std::unique_lock lock(mutex_);
            ++entered_;
            gate_.notify_all();
            gate_.wait(lock, [&] { return open_; });
            std::vector<int> slots;
            for (const SlotToken& t : tokens) slots.push_back(t.slot);
            forwards_.push_back(slots);
        }
        std::vector<std::span<const float>> rows;
        for (const SlotToken& t : tokens) {
            ++lengths_[static_cast<size_t>(t.slot)];
            if (t.logits) rows.emplace_back(row_);
        }
        return rows;
    }

    // Waits until the first forward has started (it waits for open()).
    void wait_entered() {
        std::unique_lock lock(mutex_);
        gate_.wait(lock, [&] { return entered_ > 0; });
    }
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        gate_.notify_all();
    }
    std::vector<std::vector<int>> forwards() {
        std::lock_guard lock(mutex_);
        return forwards_;
    }

  private:
    int n_slots_;
    std::vector<int64_t> lengths_;
    std::vector<float> row_;
    std::mutex mutex_;
    std::condition_variable gate_;
    bool open_ = false;
    int entered_ = 0;
    std::vector<std::vector<int>> forwards_;
};

std::shared_ptr<Job> make_job(std::vector<int32_t> prompt, int64_t max_tokens) {
    auto job = std::make_shared<Job>();
    job->prompt = std::move(prompt);
    job->max_tokens = max_tokens;
    job->sampler.temperature = 0;
    return job;
}

// Waits for the job's end; true if it finished with max_tokens tokens.
bool finishes_with(Job& job, int64_t tokens) {
    for (int i = 0; i < 500; ++i) {
        const auto update = job.wait(std::chrono::milliseconds(10));
        if (update.done) return update.completion_tokens == tokens;
    }
    return false;
}

// n_tokens copies of `slot`.
std::vector<int> tokens_of(int slot, int n_tokens) { return std::vector<int>(n_tokens, slot); }
std::vector<int> concat(std::initializer_list<std::vector<int>> parts) {
    std::vector<int> all;
    for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
}

class SchedulerForwards : public ::testing::Test {
  protected:
    // 16-token prompt chunks; the reproducible mode with forwards of up to `exact` tokens on the
    // one-token kernels, or (exact < 0) the fast mode.
    static SchedulerOptions options(int64_t exact) {
        SchedulerOptions options;
        options.n_batch = 16;
        options.reproducible = exact >= 0;
        options.exact_batch_tokens = std::max<int64_t>(exact, 0);
        return options;
    }
    // Queues `prompts` (max_tokens each to generate): the first one alone, the others while its
    // forward waits, then lets the model run and checks that each one ends with max_tokens.
    static void run_jobs(Scheduler& scheduler, RecordingSlotModel& model,
                         const std::vector<std::vector<int32_t>>& prompts, int64_t max_tokens) {
        std::vector<std::shared_ptr<Job>> jobs;
        for (const auto& prompt : prompts) {
            jobs.push_back(make_job(prompt, max_tokens));
            ASSERT_TRUE(scheduler.submit(jobs.back()));
            if (jobs.size() == 1) model.wait_entered();
        }
        model.open();
        for (auto& job : jobs) EXPECT_TRUE(finishes_with(*job, max_tokens));
    }

    const llama::Tokenizer tokenizer_ =
        llama::Tokenizer::load(std::filesystem::path(LLAMA_SOURCE_DIR) / "model" / "kjv-tiny");
    Metrics metrics_;
};

// Reproducible mode, 4 slots, forwards of up to 8 tokens on the one-token kernels, 3-token
// prompts: requests queued while the first prompt is read join the next forwards together, as
// many prompts as fit beside the generation tokens; the rest waits for the next step.
TEST_F(SchedulerForwards, PromptsArrivingTogetherShareForwardsWithinTheExactLimit) {
    RecordingSlotModel model(4, tokenizer_.vocab_size(), 100);
    Scheduler scheduler(model, tokenizer_, options(8), metrics_);
    run_jobs(scheduler, model, {{1, 10, 20}, {1, 11, 21}, {1, 12, 22}, {1, 13, 23}}, 4);
    const auto forwards = model.forwards();
    ASSERT_GE(forwards.size(), 4U);
    EXPECT_EQ(forwards[0], tokens_of(0, 3));
    // Slot 0's first generated token with two prompts (7 tokens); a third would make 10.
    EXPECT_EQ(forwards[1], concat({{0}, tokens_of(1, 3), tokens_of(2, 3)}));
    EXPECT_EQ(forwards[2], concat({{0, 1, 2}, tokens_of(3, 3)}));
    EXPECT_EQ(forwards[3], (std::vector<int>{0, 1, 2, 3}));
    for (const auto& forward : forwards) EXPECT_LE(forward.size(), 8U);
    EXPECT_NE(metrics_.prometheus_text().find("llama_prefill_chunks_joined_total 3\n"),
              std::string::npos);
}

// A prompt chunk larger than the exact limit runs in a forward of its own, after the step's
// generation forward; smaller chunks behind it still join.
TEST_F(SchedulerForwards, ChunkAboveTheExactLimitRunsAlone) {
    RecordingSlotModel model(3, tokenizer_.vocab_size(), 100);
    Scheduler scheduler(model, tokenizer_, options(4), metrics_);
    run_jobs(scheduler, model, {{1, 10}, {1, 11, 12, 13, 14, 15}, {1, 16}}, 2);
    const auto forwards = model.forwards();
    ASSERT_GE(forwards.size(), 3U);
    EXPECT_EQ(forwards[0], tokens_of(0, 2));
    EXPECT_EQ(forwards[1], concat({{0}, tokens_of(2, 2)}));  // slot 2's prompt joins
    EXPECT_EQ(forwards[2], tokens_of(1, 6));                 // slot 1's runs alone
}

// The fast mode: prompts join within n_batch (16) tokens, whatever the one-token-kernel limit.
TEST_F(SchedulerForwards, FastModeJoinsPromptsWithinTheBatch) {
    RecordingSlotModel model(4, tokenizer_.vocab_size(), 100);
    Scheduler scheduler(model, tokenizer_, options(-1), metrics_);
    run_jobs(scheduler, model, {{1, 10, 20}, {1, 11, 21}, {1, 12, 22}, {1, 13, 23, 33, 43}}, 3);
    const auto forwards = model.forwards();
    ASSERT_GE(forwards.size(), 3U);
    EXPECT_EQ(forwards[0], tokens_of(0, 3));
    EXPECT_EQ(forwards[1], concat({{0}, tokens_of(1, 3), tokens_of(2, 3), tokens_of(3, 5)}));
    EXPECT_EQ(forwards[2], (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
