#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "job.h"
#include "llama/sampler.h"
#include "llama/tokenizer.h"
#include "metrics.h"
#include "slot_model.h"
#include "stop_matcher.h"

namespace llama::server {

struct SchedulerOptions {
    int64_t max_queue = 64;     // requests waiting for a slot; more are refused (503)
    int64_t n_batch = 512;      // most tokens in one decode step (generation tokens + prefill)
    int64_t step_delay_ms = 0;  // a pause after every step: a slow model, for tests
    // Reproducible results (the slot model runs decode steps on the one-token kernels): prompts
    // are read in chunks aligned to multiples of n_batch positions, and a slot's cache is reused
    // only up to the end of the last full chunk of its previous prompt, so every prompt position
    // is computed by the same arithmetic as in a fresh run. false: any common prefix is reused.
    bool reproducible = true;
    // The slot model runs forwards of up to this many tokens on its one-token kernels
    // (ContextParams::exact_batch_tokens). In the reproducible mode prefill chunks join the
    // step's generation tokens in one forward only while all of them fit (every token's
    // arithmetic is then its own); the first prompt's chunk, if it does not fit, runs in a
    // forward of its own. 0: never together.
    int64_t exact_batch_tokens = 0;
};

// Continuous batching over the slots of a SlotModel. A thread runs steps: each step decodes the
// next token of every generating slot together with prefill chunks of prompts still being read
// (in one forward as far as SchedulerOptions allow, else one chunk after it); requests take a
// free slot and leave it between steps. A slot keeps its KV cache after a request, and the next
// request placed on it reuses the longest common prefix (see SchedulerOptions::reproducible; the
// request goes to the free slot with the longest one). Each request samples with its own Sampler
// (its own seed and history), so what else is in the batch does not change its random draws.
class Scheduler {
  public:
    Scheduler(SlotModel& model, const Tokenizer& tokenizer, const SchedulerOptions& options,
              Metrics& metrics);
    ~Scheduler();  // stop()

    // Queues a job (its prompt must fit the context with room for one token); false when the
    // queue is full.
    bool submit(std::shared_ptr<Job> job);
    // Wakes the loop (a job was cancelled).
    void notify();
    // Finishes every running and queued job as cancelled and ends the loop.
    void stop();

    int64_t n_ctx() const { return model_.n_ctx(); }

  private:
    struct Slot {
        std::shared_ptr<Job> job;
        std::vector<int32_t> cached;  // the tokens the slot's KV cache holds
        size_t reusable = 0;          // leading cached tokens the next prompt may reuse
        size_t prompt_done = 0;       // prompt tokens run through the model (or reused)
        std::optional<Sampler> sampler;
        std::optional<StreamingDecoder> decoder;
        std::optional<StopMatcher> stop;
        int32_t next_token = -1;  // sampled, not yet run through the model
        int64_t generated = 0;
        bool prefilling() const { return job && prompt_done < job->prompt.size(); }
    };

    void run();
    void step();
    // Decodes `batch` and samples for the tokens that asked for logits; false if it failed.
    bool run(const std::vector<SlotToken>& batch);
    bool take_queued_jobs();  // under mutex_
    void start(Slot& slot, int index, std::shared_ptr<Job> job);
    // Samples the slot's next token from `logits` and streams its text; ends the job when done.
    void sample(Slot& slot, std::span<const float> logits);
    void finish(Slot& slot, FinishReason reason, std::string error = {});
    void publish_gauges();
    int64_t chunk_tokens() const;  // prompt tokens per prefill chunk

    SlotModel& model_;
    const Tokenizer& tokenizer_;
    SchedulerOptions options_;
    Metrics& metrics_;
    std::vector<Slot> slots_;
    std::vector<float> row_;  // a logits row with EOS masked (ignore_eos)

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace llama::server
