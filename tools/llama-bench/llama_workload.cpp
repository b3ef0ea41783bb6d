#include "tools/llama-bench/llama_workload.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "llama/context.h"
#include "llama/error.h"
#include "tools/llama-bench/stats.h"

namespace llama::bench {

namespace {

// Nominal machine for the cost unit (seconds on it); calibration rescales to the real one.
constexpr double kNominalFlops = 100e9;
constexpr double kNominalBytesPerSecond = 20e9;

class LlamaWorkload : public Workload {
  public:
    LlamaWorkload(const LlamaModel& model, const ContextParams& params, const ConfigKey& key,
                  uint64_t seed)
        : key_(key), context_(model, params) {
        SplitMix64 rng(seed ^ 0x70C0E5ull ^ (static_cast<uint64_t>(key.batch) << 32) ^
                       static_cast<uint64_t>(key.seq));
        const auto vocab = static_cast<uint64_t>(model.config.vocab_size);
        prompt_.resize(static_cast<size_t>(key.batch * key.seq));
        for (int32_t& t : prompt_) t = static_cast<int32_t>(rng.below(vocab));
        steps_.resize(static_cast<size_t>(key.batch * key.n_gen));
        for (int32_t& t : steps_) t = static_cast<int32_t>(rng.below(vocab));
    }

    double measure(SplitMode mode) override {
        using Clock = std::chrono::steady_clock;
        context_.set_split_mode(mode);
        context_.reset();
        std::span<const float> logits;
        Clock::time_point start;
        if (key_.kind == TestKind::PromptProcessing) {
            start = Clock::now();
            logits = context_.forward(prompt_, key_.seq, LogitsMode::Last);
        } else {
            context_.forward(prompt_, key_.seq, LogitsMode::Last);
            start = Clock::now();
            for (int64_t i = 0; i < key_.n_gen; ++i) {
                logits = context_.forward(
                    std::span<const int32_t>(steps_).subspan(i * key_.batch, key_.batch), 1,
                    LogitsMode::Last);
            }
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!checked_) {
            // Random weights must still give finite activations, or the timings mean little
            // (denormals and NaNs take different paths).
            checked_ = true;
            if (!std::all_of(logits.begin(), logits.end(),
                             [](float v) { return std::isfinite(v); })) {
                spdlog::warn("{}: logits are not finite", key_.label());
            }
        }
        return ms;
    }

  private:
    ConfigKey key_;
    InferenceContext context_;
    std::vector<int32_t> prompt_;  // [batch, seq]
    std::vector<int32_t> steps_;   // [n_gen, batch]
    bool checked_ = false;
};

std::string gib(int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ll << 30));
    return buf;
}

}  // namespace

LlamaWorkloadSource::LlamaWorkloadSource(const LlamaModel& model, const ContextParams& base,
                                         uint64_t seed, int64_t max_bytes)
    : model_(model), base_(base), seed_(seed), max_bytes_(max_bytes) {}

std::unique_ptr<Workload> LlamaWorkloadSource::open(const ConfigKey& key) {
    const int64_t n_ctx = key.seq + key.n_gen;
    if (n_ctx > model_.config.max_context) {
        throw Error("needs a context of " + std::to_string(n_ctx) + " tokens, the model has " +
                    std::to_string(model_.config.max_context));
    }
    const int64_t bytes = context_bytes(key);
    if (max_bytes_ > 0 && bytes > max_bytes_) {
        throw Error("needs about " + gib(bytes) + " for KV cache and buffers, limit " +
                    gib(max_bytes_) + " (--max-memory)");
    }
    ContextParams params = base_;
    params.n_ctx = n_ctx;
    params.n_seqs = key.batch;
    params.split_mode = SplitMode::Cached;
    return std::make_unique<LlamaWorkload>(model_, params, key, seed_);
}

int64_t LlamaWorkloadSource::context_bytes(const ConfigKey& key) const {
    const LlamaConfig& c = model_.config;
    const int64_t n_ctx = key.seq + key.n_gen;
    const int64_t kv = 2 * c.n_layers * key.batch * n_ctx * c.kv_size();
    const int64_t chunk = std::max<int64_t>(1, base_.n_batch / key.batch);
    const int64_t n_tokens = key.batch * std::min(chunk, std::max<int64_t>(key.seq, 1));
    const int64_t activations =
        n_tokens * (2 * c.hidden_size + c.q_size() + 2 * c.kv_size() + c.q_size() + 3 * c.ffn_size);
    const int64_t attention_scratch = base_.n_threads * std::min(chunk, key.seq) * n_ctx;
    const int64_t logits = key.batch * c.vocab_size;
    return 4 * (kv + activations + attention_scratch + logits);
}

double LlamaWorkloadSource::cost(const ConfigKey& key) const {
    const LlamaConfig& c = model_.config;
    const double layers = static_cast<double>(c.n_layers);
    const double linear_flops_per_token =
        2.0 * layers *
        static_cast<double>(c.hidden_size * (2 * c.q_size() + 2 * c.kv_size()) +
                            3 * c.hidden_size * c.ffn_size);
    const double weight_bytes = static_cast<double>(model_.weight_bytes());
    const double b = static_cast<double>(key.batch);
    const double logits_flops = 2.0 * static_cast<double>(c.vocab_size * c.hidden_size) * b;

    // Seconds on the nominal machine of one forward of n tokens per sequence after `past`.
    auto forward = [&](int64_t n, int64_t past) {
        const int64_t chunk = std::max<int64_t>(1, base_.n_batch / key.batch);
        double seconds = 0;
        for (int64_t done = 0; done < n; done += chunk) {
            const double m = static_cast<double>(std::min(chunk, n - done));
            const double p = static_cast<double>(past + done);
            // Query i attends to p + i + 1 keys: 4 * q_size flops per key and layer.
            const double attention =
                4.0 * static_cast<double>(c.q_size()) * layers * b * (m * p + m * (m + 1) / 2);
            const double flops = linear_flops_per_token * b * m + attention;
            const double kv_bytes = 8.0 * layers * b * (p + m) * static_cast<double>(c.kv_size());
            seconds +=
                std::max(flops / kNominalFlops, (weight_bytes + kv_bytes) / kNominalBytesPerSecond);
        }
        return seconds + logits_flops / kNominalFlops;
    };
    if (key.kind == TestKind::PromptProcessing) return forward(key.seq, 0);
    double seconds = forward(key.seq, 0);
    for (int64_t i = 0; i < key.n_gen; ++i) seconds += forward(1, key.seq + i);
    return seconds;
}

}  // namespace llama::bench
