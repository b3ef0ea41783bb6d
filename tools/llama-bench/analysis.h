#pragma once

// Turns raw latency samples into what the report shows: per-arm summaries, the caching comparison
// with its interval, p-value and verdict, the A/A control, and the grid-wide summary.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/llama-bench/config_key.h"
#include "tools/llama-bench/stats.h"

namespace llama::bench {

// Raw measurements of one configuration, as the runner produces them.
struct ConfigSamples {
    ConfigKey key;
    std::vector<Arm> arms;                        // arms measured, in report order
    std::vector<std::vector<double>> latency_ms;  // latency_ms[i] belongs to arms[i]
    bool complete = true;                         // false when interrupted mid-configuration
};

struct ArmResult {
    Arm arm = Arm::Cached;
    SampleSummary latency_ms;
    double tokens_per_s = 0;  // timed tokens / mean latency
    std::vector<double> samples_ms;
};

// Effect of `treatment` relative to `baseline`, signed so that positive = treatment faster.
//   latency improvement    = 100 * (1 - mean_treatment / mean_baseline)
//   throughput improvement = 100 * (mean_baseline / mean_treatment - 1)
// For the caching comparison treatment = cached, baseline = per-forward; for the A/A control
// treatment = cached-control, baseline = cached.
struct Comparison {
    double latency_improvement_pct = 0;
    Interval latency_ci_pct;  // bootstrap percentile interval of the ratio of means, mapped
    double throughput_improvement_pct = 0;
    Interval throughput_ci_pct;
    WelchResult welch;         // t > 0 when the treatment's mean latency is lower
    double p_adjusted = 1;     // Holm-Bonferroni over all configurations of the same comparison
    bool significant = false;  // p_adjusted < alpha
};

enum class Verdict { CachedFaster, CachedSlower, NoDetectableDifference };
std::string_view verdict_name(Verdict verdict);  // "cached faster" / ...
std::optional<Verdict> parse_verdict(std::string_view name);

struct ConfigResult {
    ConfigKey key;
    bool complete = true;
    std::vector<ArmResult> arms;
    std::optional<Comparison> caching;  // cached vs per-forward (ab only)
    std::optional<Comparison> control;  // cached-control vs cached (ab only)
    std::optional<Verdict> verdict;     // from `caching` (ab only)

    const ArmResult* find_arm(Arm arm) const;
};

// Fixed-effect (inverse-variance weighted) pooling of log(mean_treatment / mean_baseline) over
// configurations, each log ratio's variance by the delta method (sd^2 / (n mean^2) per arm). It
// tests the global null "no effect in any configuration" and estimates a common effect, which is
// what a claim like "mean latency -1.83%" is about. Normal approximation for the interval and p.
struct PooledEffect {
    int64_t n_configs = 0;       // configurations with non-zero variance in both arms
    double improvement_pct = 0;  // 100 * (1 - exp(pooled log ratio)); positive = treatment faster
    Interval ci_pct;
    double p = 1;
};
PooledEffect pool_log_ratios(const std::vector<ConfigResult>& results, Arm treatment, Arm baseline,
                             double level = 0.95);

struct Summary {
    int64_t n_configs = 0;  // configurations with a caching comparison
    double alpha = 0.05;
    std::string correction = "holm-bonferroni";

    // The published report's own metrics over configurations (improvement: positive = caching
    // faster).
    double mean_latency_improvement_pct = 0;
    double best_latency_improvement_pct = 0;
    std::string best_latency_config;
    double worst_latency_improvement_pct = 0;  // the largest regression when negative
    std::string worst_latency_config;
    double stddev_latency_improvement_pct = 0;
    double mean_throughput_improvement_pct = 0;
    double best_throughput_improvement_pct = 0;
    std::string best_throughput_config;

    // What the measurement supports.
    int64_t n_ci_excludes_zero = 0;  // uncorrected 95% intervals
    int64_t n_significant = 0;       // after Holm-Bonferroni
    int64_t n_cached_faster = 0;
    int64_t n_cached_slower = 0;

    // A/A noise floor: the same statistics for cached-control vs cached.
    double control_mean_abs_change_pct = 0;
    double control_stddev_change_pct = 0;
    double control_max_abs_change_pct = 0;
    int64_t control_n_ci_excludes_zero = 0;
    int64_t control_n_significant = 0;

    PooledEffect pooled;          // cached vs per-forward over all configurations
    PooledEffect control_pooled;  // cached-control vs cached

    std::string conclusion;
};

struct AnalysisOptions {
    int bootstrap_resamples = 2000;
    double alpha = 0.05;
    uint64_t seed = 42;
};

// Comparison of two samples without correction (p_adjusted = p).
Comparison compare(std::span<const double> baseline_ms, std::span<const double> treatment_ms,
                   const AnalysisOptions& options, uint64_t seed);

// Summaries for every configuration; comparisons, Holm correction and verdicts where the
// configuration has cached and per-forward arms (and the control where it has one). Arms with
// fewer than two samples get summaries but no comparison.
std::vector<ConfigResult> analyze(const std::vector<ConfigSamples>& samples,
                                  const AnalysisOptions& options);

// Grid-wide summary; nullopt when no configuration has a caching comparison.
std::optional<Summary> summarize_grid(const std::vector<ConfigResult>& results, double alpha);

}  // namespace llama::bench
