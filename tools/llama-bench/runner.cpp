#include "tools/llama-bench/runner.h"

#include <algorithm>
#include <chrono>

#include "llama/error.h"
#include "tools/llama-bench/stats.h"

namespace llama::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

std::vector<Arm> arm_order(const std::vector<Arm>& arms, uint64_t seed, const ConfigKey& key,
                           int rep) {
    SplitMix64 rng(seed ^ (static_cast<uint64_t>(key.kind) << 62) ^
                   (static_cast<uint64_t>(key.batch) << 44) ^
                   (static_cast<uint64_t>(key.seq) << 20) ^ static_cast<uint64_t>(key.n_gen) ^
                   (static_cast<uint64_t>(static_cast<uint32_t>(rep)) * 0x9E3779B97F4A7C15ull));
    std::vector<Arm> order = arms;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    return order;
}

double calibrate(WorkloadSource& source, const ConfigKey& key) {
    std::unique_ptr<Workload> workload = source.open(key);
    workload->measure(SplitMode::Cached);  // first touch of buffers and caches
    const Clock::time_point start = Clock::now();
    workload->measure(SplitMode::Cached);
    return seconds_since(start) / source.cost(key);
}

double estimate_seconds(const RunPlan& plan, const WorkloadSource& source,
                        double seconds_per_cost) {
    const double per_config_runs =
        static_cast<double>(plan.arms.size()) * (plan.warmup + plan.reps);
    double cost = 0;
    for (const ConfigKey& key : plan.configs) cost += per_config_runs * source.cost(key);
    return cost * seconds_per_cost;
}

RunOutput run_plan(const RunPlan& plan, WorkloadSource& source, RunObserver& observer,
                   double seconds_per_cost) {
    if (plan.arms.empty()) throw Error("run plan has no arms");
    if (plan.reps < 1) throw Error("run plan needs at least one repetition");
    const double runs_per_config =
        static_cast<double>(plan.arms.size()) * (plan.warmup + plan.reps);
    double cost_total = 0;
    for (const ConfigKey& key : plan.configs) cost_total += runs_per_config * source.cost(key);

    RunOutput out;
    RunProgress progress;
    progress.n_configs = plan.configs.size();
    progress.measurements_total =
        static_cast<int64_t>(plan.configs.size()) * static_cast<int64_t>(runs_per_config);
    const Clock::time_point start = Clock::now();
    double cost_done = 0;

    auto report = [&](const ConfigKey& key) {
        progress.key = key;
        progress.elapsed_s = seconds_since(start);
        // Measured rate once there is some work behind us; the calibration before that.
        const double rate = cost_done > 0 ? progress.elapsed_s / cost_done : seconds_per_cost;
        progress.eta_s = (cost_total - cost_done) * rate;
        observer.on_progress(progress);
    };

    for (size_t c = 0; c < plan.configs.size() && !out.interrupted; ++c) {
        const ConfigKey& key = plan.configs[c];
        progress.config_index = c;
        progress.config_finished = false;
        progress.finished = nullptr;
        const double run_cost = source.cost(key);
        std::unique_ptr<Workload> workload;
        try {
            workload = source.open(key);
        } catch (const std::exception& e) {
            out.skipped.push_back(key.label() + ": " + e.what());
            cost_total -= runs_per_config * run_cost;
            progress.measurements_total -= static_cast<int64_t>(runs_per_config);
            continue;
        }
        report(key);

        ConfigSamples samples;
        samples.key = key;
        samples.arms = plan.arms;
        samples.latency_ms.resize(plan.arms.size());
        auto run_round = [&](int rep) {
            for (Arm arm : arm_order(plan.arms, plan.seed, key, rep)) {
                if (observer.stop_requested()) {
                    out.interrupted = true;
                    return;
                }
                const double ms = workload->measure(arm_split_mode(arm));
                if (rep >= 0) {
                    const size_t index = static_cast<size_t>(
                        std::find(plan.arms.begin(), plan.arms.end(), arm) - plan.arms.begin());
                    samples.latency_ms[index].push_back(ms);
                }
                cost_done += run_cost;
                ++progress.measurements_done;
                report(key);
            }
        };
        for (int w = 0; w < plan.warmup && !out.interrupted; ++w) run_round(-1 - w);
        for (int r = 0; r < plan.reps && !out.interrupted; ++r) run_round(r);

        samples.complete = !out.interrupted;
        const bool any = std::any_of(samples.latency_ms.begin(), samples.latency_ms.end(),
                                     [](const auto& x) { return !x.empty(); });
        if (any) {
            out.samples.push_back(std::move(samples));
            progress.config_finished = true;
            progress.finished = &out.samples.back();
            report(key);
            progress.finished = nullptr;
        }
    }
    return out;
}

}  // namespace llama::bench
