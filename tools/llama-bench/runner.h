#pragma once

// The measurement loop: for every configuration, warm-up then repetitions in which every arm runs
// once, in a seeded random order that changes from repetition to repetition. It knows nothing of
// models: a Workload does the timed work, so tests can plant effects with a fake one.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/llama-bench/analysis.h"
#include "tools/llama-bench/config_key.h"

namespace llama::bench {

// One configuration, ready to be measured repeatedly with either split path.
class Workload {
  public:
    virtual ~Workload() = default;
    // One measurement: untimed preparation (cache reset, prefill), then the timed part.
    // Returns the timed part's latency in milliseconds.
    virtual double measure(SplitMode mode) = 0;
};

class WorkloadSource {
  public:
    virtual ~WorkloadSource() = default;
    // Throws llama::Error when the configuration cannot run (too little memory, bad shape).
    virtual std::unique_ptr<Workload> open(const ConfigKey& key) = 0;
    // Relative cost of one measurement including its untimed part, in any unit (for the ETA).
    virtual double cost(const ConfigKey& key) const = 0;
};

struct RunPlan {
    std::vector<ConfigKey> configs;
    std::vector<Arm> arms;
    int reps = 5;
    int warmup = 1;
    uint64_t seed = 42;
};

struct RunProgress {
    size_t config_index = 0;  // the configuration being measured
    size_t n_configs = 0;
    ConfigKey key;
    int64_t measurements_done = 0;
    int64_t measurements_total = 0;
    double elapsed_s = 0;
    double eta_s = 0;              // remaining, from the calibration until measurements refine it
    bool config_finished = false;  // set once per configuration, after its last measurement
    const ConfigSamples* finished = nullptr;  // that configuration's samples
};

class RunObserver {
  public:
    virtual ~RunObserver() = default;
    virtual void on_progress(const RunProgress&) {}
    // Checked before every measurement; true ends the run after the current one.
    virtual bool stop_requested() { return false; }
};

struct RunOutput {
    std::vector<ConfigSamples> samples;
    std::vector<std::string> skipped;  // "<label>: <reason>"
    bool interrupted = false;
};

// The order arms run in for one repetition (rep >= 0) or warm-up round (rep < 0): a permutation
// of `arms` drawn from (seed, key, rep).
std::vector<Arm> arm_order(const std::vector<Arm>& arms, uint64_t seed, const ConfigKey& key,
                           int rep);

// Seconds per cost unit from one untimed and one timed measurement of `key` (the cheapest
// configuration is a good choice).
double calibrate(WorkloadSource& source, const ConfigKey& key);

// seconds_per_cost: from calibrate(); the ETA before the first measurement completes.
RunOutput run_plan(const RunPlan& plan, WorkloadSource& source, RunObserver& observer,
                   double seconds_per_cost);

// Estimated seconds for the whole plan at the calibrated rate.
double estimate_seconds(const RunPlan& plan, const WorkloadSource& source, double seconds_per_cost);

}  // namespace llama::bench
