#include "tools/llama-bench/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace llama::bench {

namespace {

// Each comparison gets its own bootstrap stream so that adding a configuration to the grid does
// not change the intervals of the others.
uint64_t comparison_seed(uint64_t seed, const ConfigKey& key, int which) {
    SplitMix64 mix(seed ^ (static_cast<uint64_t>(key.kind) << 56) ^
                   (static_cast<uint64_t>(key.batch) << 40) ^
                   (static_cast<uint64_t>(key.seq) << 16) ^ static_cast<uint64_t>(key.n_gen) ^
                   (static_cast<uint64_t>(which) << 60));
    return mix.next();
}

void holm_correct(std::vector<Comparison*>& comparisons, double alpha) {
    std::vector<double> p;
    for (const Comparison* c : comparisons) p.push_back(c->welch.p);
    const std::vector<double> adjusted = holm_adjust(p);
    for (size_t i = 0; i < comparisons.size(); ++i) {
        comparisons[i]->p_adjusted = adjusted[i];
        comparisons[i]->significant = adjusted[i] < alpha;
    }
}

std::string format_pct(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.2f%%", v);
    return buf;
}

std::string format_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string format_p(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", p);
    return buf;
}

}  // namespace

std::string_view verdict_name(Verdict verdict) {
    switch (verdict) {
        case Verdict::CachedFaster:
            return "cached faster";
        case Verdict::CachedSlower:
            return "cached slower";
        case Verdict::NoDetectableDifference:
            return "no detectable difference";
    }
    return "?";
}

std::optional<Verdict> parse_verdict(std::string_view name) {
    for (Verdict v :
         {Verdict::CachedFaster, Verdict::CachedSlower, Verdict::NoDetectableDifference}) {
        if (verdict_name(v) == name) return v;
    }
    return std::nullopt;
}

const ArmResult* ConfigResult::find_arm(Arm arm) const {
    for (const ArmResult& a : arms) {
        if (a.arm == arm) return &a;
    }
    return nullptr;
}

Comparison compare(std::span<const double> baseline_ms, std::span<const double> treatment_ms,
                   const AnalysisOptions& options, uint64_t seed) {
    Comparison c;
    const double ratio = mean(treatment_ms) / mean(baseline_ms);
    c.latency_improvement_pct = 100.0 * (1.0 - ratio);
    c.throughput_improvement_pct = 100.0 * (1.0 / ratio - 1.0);
    const Interval r =
        bootstrap_ratio_of_means(baseline_ms, treatment_ms, options.bootstrap_resamples, seed);
    // Both improvements decrease as the ratio grows, so the interval ends swap.
    c.latency_ci_pct = {100.0 * (1.0 - r.high), 100.0 * (1.0 - r.low)};
    c.throughput_ci_pct = {100.0 * (1.0 / r.high - 1.0), 100.0 * (1.0 / r.low - 1.0)};
    // welch_test(a, b) reports mean(b) - mean(a); baseline - treatment is positive when the
    // treatment is faster, matching the improvement sign.
    c.welch = welch_test(treatment_ms, baseline_ms);
    c.p_adjusted = c.welch.p;
    c.significant = c.welch.p < options.alpha;
    return c;
}

std::vector<ConfigResult> analyze(const std::vector<ConfigSamples>& samples,
                                  const AnalysisOptions& options) {
    std::vector<ConfigResult> results;
    for (const ConfigSamples& config : samples) {
        ConfigResult result;
        result.key = config.key;
        result.complete = config.complete;
        for (size_t i = 0; i < config.arms.size(); ++i) {
            const std::vector<double>& x = config.latency_ms[i];
            if (x.empty()) continue;
            ArmResult arm;
            arm.arm = config.arms[i];
            arm.latency_ms = summarize(x);
            arm.tokens_per_s =
                static_cast<double>(config.key.timed_tokens()) / (arm.latency_ms.mean / 1000.0);
            arm.samples_ms = x;
            result.arms.push_back(std::move(arm));
        }
        auto comparable = [](const ArmResult* a) { return a && a->samples_ms.size() >= 2; };
        const ArmResult* cached = result.find_arm(Arm::Cached);
        const ArmResult* per_forward = result.find_arm(Arm::PerForward);
        const ArmResult* control = result.find_arm(Arm::CachedControl);
        if (comparable(cached) && comparable(per_forward)) {
            result.caching = compare(per_forward->samples_ms, cached->samples_ms, options,
                                     comparison_seed(options.seed, config.key, 0));
        }
        if (comparable(cached) && comparable(control)) {
            result.control = compare(cached->samples_ms, control->samples_ms, options,
                                     comparison_seed(options.seed, config.key, 1));
        }
        results.push_back(std::move(result));
    }

    std::vector<Comparison*> caching, control;
    for (ConfigResult& r : results) {
        if (r.caching) caching.push_back(&*r.caching);
        if (r.control) control.push_back(&*r.control);
    }
    holm_correct(caching, options.alpha);
    holm_correct(control, options.alpha);
    for (ConfigResult& r : results) {
        if (!r.caching) continue;
        if (!r.caching->significant) {
            r.verdict = Verdict::NoDetectableDifference;
        } else {
            r.verdict = r.caching->latency_improvement_pct > 0 ? Verdict::CachedFaster
                                                               : Verdict::CachedSlower;
        }
    }
    return results;
}

PooledEffect pool_log_ratios(const std::vector<ConfigResult>& results, Arm treatment, Arm baseline,
                             double level) {
    double weight_sum = 0, weighted_sum = 0;
    PooledEffect pooled;
    for (const ConfigResult& r : results) {
        const ArmResult* t = r.find_arm(treatment);
        const ArmResult* b = r.find_arm(baseline);
        if (!t || !b || t->latency_ms.n < 2 || b->latency_ms.n < 2) continue;
        auto log_mean_variance = [](const SampleSummary& s) {
            return s.stddev * s.stddev / (static_cast<double>(s.n) * s.mean * s.mean);
        };
        const double variance = log_mean_variance(t->latency_ms) + log_mean_variance(b->latency_ms);
        if (!(variance > 0)) continue;
        const double log_ratio = std::log(t->latency_ms.mean / b->latency_ms.mean);
        weight_sum += 1.0 / variance;
        weighted_sum += log_ratio / variance;
        ++pooled.n_configs;
    }
    if (pooled.n_configs == 0) return pooled;
    const double estimate = weighted_sum / weight_sum;
    const double se = 1.0 / std::sqrt(weight_sum);
    const double z = normal_quantile(0.5 + level / 2.0);
    pooled.improvement_pct = 100.0 * (1.0 - std::exp(estimate));
    pooled.ci_pct = {100.0 * (1.0 - std::exp(estimate + z * se)),
                     100.0 * (1.0 - std::exp(estimate - z * se))};
    pooled.p = std::erfc(std::abs(estimate / se) / std::sqrt(2.0));
    return pooled;
}

std::optional<Summary> summarize_grid(const std::vector<ConfigResult>& results, double alpha) {
    Summary s;
    s.alpha = alpha;
    std::vector<double> latency, throughput, control;
    for (const ConfigResult& r : results) {
        if (!r.caching) continue;
        const Comparison& c = *r.caching;
        const std::string label = r.key.label();
        if (latency.empty() || c.latency_improvement_pct > s.best_latency_improvement_pct) {
            s.best_latency_improvement_pct = c.latency_improvement_pct;
            s.best_latency_config = label;
        }
        if (latency.empty() || c.latency_improvement_pct < s.worst_latency_improvement_pct) {
            s.worst_latency_improvement_pct = c.latency_improvement_pct;
            s.worst_latency_config = label;
        }
        if (throughput.empty() ||
            c.throughput_improvement_pct > s.best_throughput_improvement_pct) {
            s.best_throughput_improvement_pct = c.throughput_improvement_pct;
            s.best_throughput_config = label;
        }
        latency.push_back(c.latency_improvement_pct);
        throughput.push_back(c.throughput_improvement_pct);
        s.n_ci_excludes_zero += c.latency_ci_pct.excludes_zero();
        s.n_significant += c.significant;
        s.n_cached_faster += r.verdict == Verdict::CachedFaster;
        s.n_cached_slower += r.verdict == Verdict::CachedSlower;
        if (r.control) {
            const double change = r.control->latency_improvement_pct;
            control.push_back(change);
            s.control_max_abs_change_pct = std::max(s.control_max_abs_change_pct, std::abs(change));
            s.control_n_ci_excludes_zero += r.control->latency_ci_pct.excludes_zero();
            s.control_n_significant += r.control->significant;
        }
    }
    if (latency.empty()) return std::nullopt;
    s.n_configs = static_cast<int64_t>(latency.size());
    s.mean_latency_improvement_pct = mean(latency);
    s.stddev_latency_improvement_pct = stddev(latency);
    s.mean_throughput_improvement_pct = mean(throughput);
    if (!control.empty()) {
        double abs_sum = 0;
        for (double c : control) abs_sum += std::abs(c);
        s.control_mean_abs_change_pct = abs_sum / static_cast<double>(control.size());
        s.control_stddev_change_pct = stddev(control);
    }

    std::string text = std::to_string(s.n_significant) + " of " + std::to_string(s.n_configs) +
                       " configurations differ significantly after Holm-Bonferroni correction " +
                       "(alpha " + format_number(alpha) + ")";
    if (s.n_significant > 0) {
        text += ": cached faster in " + std::to_string(s.n_cached_faster) + ", slower in " +
                std::to_string(s.n_cached_slower);
    }
    text += ". Mean latency improvement from caching " +
            format_pct(s.mean_latency_improvement_pct) + " (spread across configurations " +
            format_pct(s.stddev_latency_improvement_pct).substr(1) + " sd)";
    if (!control.empty()) {
        text += "; the A/A control (cached vs cached) moves by " +
                format_pct(s.control_mean_abs_change_pct).substr(1) + " on average (sd " +
                format_pct(s.control_stddev_change_pct).substr(1) + ", max " +
                format_pct(s.control_max_abs_change_pct).substr(1) + "), with " +
                std::to_string(s.control_n_significant) + " significant after correction";
    }
    text += ".";
    s.pooled = pool_log_ratios(results, Arm::Cached, Arm::PerForward);
    s.control_pooled = pool_log_ratios(results, Arm::CachedControl, Arm::Cached);
    if (s.pooled.n_configs > 0) {
        text += " Pooled over configurations, caching changes latency by " +
                format_pct(s.pooled.improvement_pct) + " [" + format_pct(s.pooled.ci_pct.low) +
                ", " + format_pct(s.pooled.ci_pct.high) + "] (p " + format_p(s.pooled.p) + ")";
        if (s.control_pooled.n_configs > 0) {
            text += "; A/A pooled " + format_pct(s.control_pooled.improvement_pct) + " [" +
                    format_pct(s.control_pooled.ci_pct.low) + ", " +
                    format_pct(s.control_pooled.ci_pct.high) + "]";
        }
        text += ".";
    }
    s.conclusion = text;
    return s;
}

}  // namespace llama::bench
