#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace llama::server {

// The server's counters and gauges, rendered as Prometheus text for GET /metrics. Thread-safe.
class Metrics {
  public:
    void count_request(const std::string& endpoint, int status);
    void add_prompt_tokens(int64_t n) { prompt_tokens_ += n; }
    void add_reused_prompt_tokens(int64_t n) { reused_prompt_tokens_ += n; }
    // A prefill chunk run in the same forward as a step's generation tokens.
    void count_joined_chunk() { ++joined_chunks_; }
    // Tokens sampled by one decode step that took `seconds`.
    void add_generation(int64_t tokens, double seconds);
    void set_queue_depth(int64_t n) { queue_depth_ = n; }
    void set_busy_slots(int64_t n) { busy_slots_ = n; }
    void set_total_slots(int64_t n) { total_slots_ = n; }

    int64_t busy_slots() const { return busy_slots_; }
    int64_t queue_depth() const { return queue_depth_; }

    std::string prometheus_text() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status) -> count
    int64_t generated_tokens_ = 0;
    double generation_seconds_ = 0.0;
    std::atomic<int64_t> prompt_tokens_{0};
    std::atomic<int64_t> reused_prompt_tokens_{0};
    std::atomic<int64_t> joined_chunks_{0};
    std::atomic<int64_t> queue_depth_{0};
    std::atomic<int64_t> busy_slots_{0};
    std::atomic<int64_t> total_slots_{0};
};

}  // namespace llama::server
