#pragma once

// A deterministic fake timer for llama-bench's runner: latencies are base * (1 + noise), with an
// optional planted slowdown of the per-forward path and an optional slow drift over time (as a
// warming machine would show), so statistics can be tested without timing anything.

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "llama/error.h"
#include "tools/llama-bench/runner.h"
#include "tools/llama-bench/stats.h"

namespace llama::bench::testing {

struct FakeTiming {
    double base_ms = 100.0;
    double noise = 0.03;               // relative standard deviation
    double per_forward_factor = 1.0;   // 1.10 plants a 10% slowdown of per-forward
    double drift_per_measurement = 0;  // relative increase per measurement, shared by all arms
    uint64_t seed = 7;
};

class FakeWorkload : public Workload {
  public:
    FakeWorkload(const FakeTiming& timing, const ConfigKey& key, SplitMix64& rng, int64_t& counter,
                 std::vector<SplitMode>& log)
        : timing_(timing), key_(key), rng_(rng), counter_(counter), log_(log) {}

    double measure(SplitMode mode) override {
        log_.push_back(mode);
        const double size = static_cast<double>(key_.timed_tokens()) / 128.0;
        double ms = timing_.base_ms * size * (1.0 + timing_.noise * rng_.normal());
        ms *= 1.0 + timing_.drift_per_measurement * static_cast<double>(counter_++);
        if (mode == SplitMode::PerForward) ms *= timing_.per_forward_factor;
        return ms;
    }

  private:
    FakeTiming timing_;
    ConfigKey key_;
    SplitMix64& rng_;
    int64_t& counter_;
    std::vector<SplitMode>& log_;
};

class FakeSource : public WorkloadSource {
  public:
    explicit FakeSource(FakeTiming timing) : timing_(timing), rng_(timing.seed) {}

    std::unique_ptr<Workload> open(const ConfigKey& key) override {
        if (refused_.count(key.label())) throw Error("refused by the test");
        return std::make_unique<FakeWorkload>(timing_, key, rng_, counter_, log_);
    }
    double cost(const ConfigKey& key) const override {
        return static_cast<double>(key.timed_tokens());
    }

    void refuse(const ConfigKey& key) { refused_.insert(key.label()); }
    const std::vector<SplitMode>& log() const { return log_; }

  private:
    FakeTiming timing_;
    SplitMix64 rng_;
    int64_t counter_ = 0;
    std::vector<SplitMode> log_;
    std::set<std::string> refused_;
};

class StopAfter : public RunObserver {
  public:
    explicit StopAfter(int64_t n) : n_(n) {}
    void on_progress(const RunProgress& p) override { done_ = p.measurements_done; }
    bool stop_requested() override { return done_ >= n_; }

  private:
    int64_t n_;
    int64_t done_ = 0;
};

inline RunPlan ab_plan(std::vector<ConfigKey> configs, int reps, int warmup = 1) {
    RunPlan plan;
    plan.configs = std::move(configs);
    plan.arms = {Arm::Cached, Arm::PerForward, Arm::CachedControl};
    plan.reps = reps;
    plan.warmup = warmup;
    plan.seed = 11;
    return plan;
}

inline std::vector<ConfigKey> pp_grid(std::vector<int64_t> batches, std::vector<int64_t> seqs) {
    std::vector<ConfigKey> keys;
    for (int64_t b : batches) {
        for (int64_t s : seqs) keys.push_back({TestKind::PromptProcessing, b, s, 0});
    }
    return keys;
}

}  // namespace llama::bench::testing
