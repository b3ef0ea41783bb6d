#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "llama/sampler.h"

namespace llama::server {

enum class FinishReason { Stop, Length, Cancelled, Error };

// "stop" (EOS or a stop string), "length" (max_tokens or a full context); a cancelled request
// reports "stop" too, as far as it got.
const char* finish_reason_name(FinishReason reason);

// What a handler learns from Job::wait(): text generated since the last call, and the end.
struct JobUpdate {
    std::string text;
    bool done = false;
    FinishReason finish = FinishReason::Stop;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    std::string error;  // FinishReason::Error: what went wrong
};

// One generation request shared by the HTTP handler that waits for it and the scheduler that runs
// it. The scheduler appends text and finishes it; the handler takes the text and may cancel.
class Job {
  public:
    std::vector<int32_t> prompt;
    int64_t max_tokens = -1;  // < 0: until EOS or the context is full
    SamplerParams sampler;
    std::vector<std::string> stop;
    bool ignore_eos = false;        // EOS is never sampled
    bool text_after_prompt = true;  // the text continues the prompt's (completions), so a leading
                                    // space stays; chat answers start fresh and drop it

    // Handler side.
    // Waits up to `timeout` for new text or the end; returns what there is (maybe nothing).
    JobUpdate wait(std::chrono::milliseconds timeout);
    void cancel() { cancelled_ = true; }
    bool cancelled() const { return cancelled_; }

    // Scheduler side.
    void append(const std::string& text);
    void finish(FinishReason reason, int64_t prompt_tokens, int64_t completion_tokens,
                std::string error = {});

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::string text_;  // appended, not yet taken
    std::optional<JobUpdate> end_;
    std::atomic<bool> cancelled_{false};
};

}  // namespace llama::server
