#include "metrics.h"

#include <sstream>

namespace llama::server {

void Metrics::count_request(const std::string& endpoint, int status) {
    std::lock_guard lock(mutex_);
    ++requests_[{endpoint, status}];
}

void Metrics::add_generation(int64_t tokens, double seconds) {
    std::lock_guard lock(mutex_);
    generated_tokens_ += tokens;
    generation_seconds_ += seconds;
}

std::string Metrics::prometheus_text() const {
    std::ostringstream out;
    auto metric = [&](const char* name, const char* type, const char* help) {
        out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    };
    std::lock_guard lock(mutex_);
    metric("llama_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
    for (const auto& [key, count] : requests_) {
        out << "llama_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second
            << "\"} " << count << '\n';
    }
    metric("llama_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.");
    out << "llama_prompt_tokens_total " << prompt_tokens_ << '\n';
    metric("llama_prompt_tokens_reused_total", "counter",
           "Prompt tokens taken from a slot's cache (prompt cache) instead of being computed.");
    out << "llama_prompt_tokens_reused_total " << reused_prompt_tokens_ << '\n';
    metric("llama_prefill_chunks_joined_total", "counter",
           "Prompt chunks computed in the same forward as the generation tokens of a step.");
    out << "llama_prefill_chunks_joined_total " << joined_chunks_ << '\n';
    metric("llama_generated_tokens_total", "counter", "Tokens generated.");
    out << "llama_generated_tokens_total " << generated_tokens_ << '\n';
    metric("llama_generation_seconds_total", "counter",
           "Seconds spent in decode steps that generated tokens.");
    out << "llama_generation_seconds_total " << generation_seconds_ << '\n';
    metric("llama_generation_tokens_per_second", "gauge",
           "Generated tokens per second of decode time since start, over all slots.");
    out << "llama_generation_tokens_per_second "
        << (generation_seconds_ > 0 ? static_cast<double>(generated_tokens_) / generation_seconds_
                                    : 0.0)
        << '\n';
    metric("llama_queue_depth", "gauge", "Requests waiting for a slot.");
    out << "llama_queue_depth " << queue_depth_ << '\n';
    metric("llama_slots_busy", "gauge", "Slots running a request.");
    out << "llama_slots_busy " << busy_slots_ << '\n';
    metric("llama_slots_total", "gauge", "Slots (--parallel).");
    out << "llama_slots_total " << total_slots_ << '\n';
    return out.str();
}

}  // namespace llama::server
