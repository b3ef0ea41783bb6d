#include "job.h"

namespace llama::server {

const char* finish_reason_name(FinishReason reason) {
    return reason == FinishReason::Length ? "length" : "stop";
}

JobUpdate Job::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return !text_.empty() || end_.has_value(); });
    JobUpdate update;
    if (end_) update = *end_;
    update.text = std::move(text_);
    text_.clear();
    return update;
}

void Job::append(const std::string& text) {
    if (text.empty()) return;
    {
        std::lock_guard lock(mutex_);
        text_ += text;
    }
    changed_.notify_all();
}

void Job::finish(FinishReason reason, int64_t prompt_tokens, int64_t completion_tokens,
                 std::string error) {
    {
        std::lock_guard lock(mutex_);
        if (end_) return;
        JobUpdate end;
        end.done = true;
        end.finish = reason;
        end.prompt_tokens = prompt_tokens;
        end.completion_tokens = completion_tokens;
        end.error = std::move(error);
        end_ = std::move(end);
    }
    changed_.notify_all();
}

}  // namespace llama::server
