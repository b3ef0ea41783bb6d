#include <cstdio>
#include <sstream>

#include "tools/llama-bench/report.h"

namespace llama::bench {

namespace {

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string pct(double v) { return fmt("%+.2f", v); }

std::string p_value(double p) { return p < 1e-4 ? "<1e-4" : fmt("%.4f", p); }

std::string with_interval(double v, const Interval& i) {
    return pct(v) + " [" + pct(i.low) + ", " + pct(i.high) + "]";
}

// Decode rows: the weights read per second, decode steps (tokens / sequences) times the bytes a
// step reads, to set beside the machine's read bandwidth (kernels_bench MemoryRead). Blank for
// prompts, whose time is arithmetic, and for reports without the byte count.
std::string weights_gb_per_s(const Metadata& m, const ConfigKey& key, double tokens_per_s) {
    if (key.kind != TestKind::TokenGeneration || m.decode_bytes <= 0 || key.batch <= 0) return "";
    return fmt("%.1f", tokens_per_s / static_cast<double>(key.batch) *
                           static_cast<double>(m.decode_bytes) / 1e9);
}

}  // namespace

std::string to_markdown(const Report& report) {
    std::ostringstream out;
    const Metadata& m = report.meta;
    out << "# llama-bench\n\n"
        << "| | |\n|---|---|\n"
        << "| machine | " << m.cpu << ", " << m.hardware_threads << " hardware threads |\n"
        << "| threads | " << m.threads << " |\n"
        << "| model | " << m.model << " (" << m.layers << " layers, " << m.dtype << ", hidden "
        << m.hidden_size << ", heads " << m.n_heads << "/" << m.n_kv_heads << ", ffn " << m.ffn_size
        << ", vocab " << m.vocab_size << ") |\n"
        << "| split mode | " << m.split_mode << " |\n"
        << "| repetitions | " << m.reps << " per arm (after " << m.warmup
        << " warm-up), arms interleaved in seeded random order (seed " << m.seed << ") |\n"
        << "| ubatch | " << m.ubatch << " tokens per forward chunk |\n"
        << "| precision | " << m.precision << " (many-token projections) |\n"
        << "| ISA level | " << m.isa << " |\n";
    if (m.decode_bytes > 0) {
        out << "| decode reads | " << fmt("%.3f", static_cast<double>(m.decode_bytes) / 1e9)
            << " GB of weights a step (all but the token embedding table) |\n";
    }
    out << "| commit | " << m.commit << " |\n"
        << "| date | " << m.date << " |\n"
        << "| wall time | " << fmt("%.0f", m.wall_seconds) << " s"
        << (m.interrupted ? " (interrupted: partial results)" : "") << " |\n"
        << "| command | `" << m.command_line << "` |\n\n";

    out << "## Latency per configuration and arm\n\n"
        << "| kind | batch | seq | n_gen | arm | n | mean ms | median ms | sd ms | min ms | p95 ms "
           "| tokens/s | weights GB/s |\n"
        << "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    for (const ConfigResult& r : report.configs) {
        for (const ArmResult& a : r.arms) {
            const SampleSummary& s = a.latency_ms;
            out << "| " << test_kind_name(r.key.kind) << " | " << r.key.batch << " | " << r.key.seq
                << " | " << r.key.n_gen << " | " << arm_name(a.arm) << " | " << s.n << " | "
                << fmt("%.3f", s.mean) << " | " << fmt("%.3f", s.median) << " | "
                << fmt("%.3f", s.stddev) << " | " << fmt("%.3f", s.min) << " | "
                << fmt("%.3f", s.p95) << " | " << fmt("%.1f", a.tokens_per_s) << " | "
                << weights_gb_per_s(m, r.key, a.tokens_per_s) << " |\n";
        }
    }

    bool any_caching = false;
    for (const ConfigResult& r : report.configs) any_caching |= r.caching.has_value();
    if (any_caching) {
        out << "\n## Caching vs per-forward\n\n"
            << "Improvement = effect of caching the split sizes, relative to rebuilding them every "
               "forward; positive = cached faster. Latency: 100 * (1 - mean_cached / "
               "mean_per_forward); throughput: 100 * (mean_per_forward / mean_cached - 1). "
               "Intervals: 95% percentile bootstrap of the ratio of means ("
            << m.bootstrap_resamples
            << " resamples). p: Welch's t-test; p (Holm): Holm-Bonferroni adjusted over all "
               "configurations. Verdict at alpha "
            << fmt("%g", m.alpha)
            << " after correction. A/A: the same comparison of cached-control vs cached, "
               "measured interleaved the same way -- the noise floor.\n\n"
            << "| kind | batch | seq | latency improvement % [95% CI] | throughput improvement % "
               "[95% CI] | p | p (Holm) | verdict | A/A latency change % [95% CI] | A/A p |\n"
            << "|---|--:|--:|--:|--:|--:|--:|---|--:|--:|\n";
        for (const ConfigResult& r : report.configs) {
            if (!r.caching) continue;
            const Comparison& c = *r.caching;
            out << "| " << test_kind_name(r.key.kind) << " | " << r.key.batch << " | " << r.key.seq
                << " | " << with_interval(c.latency_improvement_pct, c.latency_ci_pct) << " | "
                << with_interval(c.throughput_improvement_pct, c.throughput_ci_pct) << " | "
                << p_value(c.welch.p) << " | " << p_value(c.p_adjusted) << " | "
                << (r.verdict ? verdict_name(*r.verdict) : "") << (r.complete ? "" : " (partial)")
                << " | ";
            if (r.control) {
                out << with_interval(r.control->latency_improvement_pct, r.control->latency_ci_pct)
                    << " | " << p_value(r.control->welch.p);
            } else {
                out << " | ";
            }
            out << " |\n";
        }
    }

    if (report.summary) {
        const Summary& s = *report.summary;
        out << "\n## Summary\n\n"
            << "The published report's metrics, over " << s.n_configs << " configurations:\n\n"
            << "- mean latency improvement: " << pct(s.mean_latency_improvement_pct) << "%\n"
            << "- best latency improvement: " << pct(s.best_latency_improvement_pct) << "% ("
            << s.best_latency_config << ")\n"
            << "- worst (largest regression): " << pct(s.worst_latency_improvement_pct) << "% ("
            << s.worst_latency_config << ")\n"
            << "- standard deviation of the latency improvements: "
            << fmt("%.2f", s.stddev_latency_improvement_pct) << "%\n"
            << "- mean throughput improvement: " << pct(s.mean_throughput_improvement_pct) << "%\n"
            << "- best throughput improvement: " << pct(s.best_throughput_improvement_pct) << "% ("
            << s.best_throughput_config << ")\n\n"
            << "What the measurement supports:\n\n"
            << "- 95% interval excludes zero (uncorrected): " << s.n_ci_excludes_zero << " of "
            << s.n_configs << "\n"
            << "- significant after Holm-Bonferroni correction (alpha " << fmt("%g", s.alpha)
            << "): " << s.n_significant << " of " << s.n_configs << " (cached faster "
            << s.n_cached_faster << ", cached slower " << s.n_cached_slower << ")\n"
            << "- A/A noise floor (cached-control vs cached): mean |change| "
            << fmt("%.2f", s.control_mean_abs_change_pct) << "%, sd "
            << fmt("%.2f", s.control_stddev_change_pct) << "%, max |change| "
            << fmt("%.2f", s.control_max_abs_change_pct) << "%; interval excludes zero in "
            << s.control_n_ci_excludes_zero << ", significant after correction in "
            << s.control_n_significant << "\n";
        if (s.pooled.n_configs > 0) {
            out << "- pooled over " << s.pooled.n_configs
                << " configurations (fixed-effect, inverse-variance weighted log ratio of means): "
                << "latency improvement (%) "
                << with_interval(s.pooled.improvement_pct, s.pooled.ci_pct) << ", p "
                << p_value(s.pooled.p);
            if (s.control_pooled.n_configs > 0) {
                out << "; A/A pooled (%) "
                    << with_interval(s.control_pooled.improvement_pct, s.control_pooled.ci_pct)
                    << ", p " << p_value(s.control_pooled.p);
            }
            out << "\n";
        }
        out << "\n**Conclusion:** " << s.conclusion << "\n";
    }
    if (!m.skipped.empty()) {
        out << "\n## Skipped configurations\n\n";
        for (const std::string& s : m.skipped) out << "- " << s << "\n";
    }
    return out.str();
}

}  // namespace llama::bench
