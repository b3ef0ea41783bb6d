#include <nlohmann/json.hpp>

#include "llama/error.h"
#include "tools/llama-bench/report.h"

namespace llama::bench {

using nlohmann::json;

namespace {

json interval_json(const Interval& i) { return json::array({i.low, i.high}); }

Interval interval_from(const json& j) { return {j.at(0).get<double>(), j.at(1).get<double>()}; }

json comparison_json(const Comparison& c) {
    return {{"latency_improvement_pct", c.latency_improvement_pct},
            {"latency_ci_pct", interval_json(c.latency_ci_pct)},
            {"throughput_improvement_pct", c.throughput_improvement_pct},
            {"throughput_ci_pct", interval_json(c.throughput_ci_pct)},
            {"welch_t", c.welch.t},
            {"welch_df", c.welch.df},
            {"p_value", c.welch.p},
            {"p_adjusted", c.p_adjusted},
            {"significant", c.significant}};
}

Comparison comparison_from(const json& j) {
    Comparison c;
    c.latency_improvement_pct = j.at("latency_improvement_pct").get<double>();
    c.latency_ci_pct = interval_from(j.at("latency_ci_pct"));
    c.throughput_improvement_pct = j.at("throughput_improvement_pct").get<double>();
    c.throughput_ci_pct = interval_from(j.at("throughput_ci_pct"));
    c.welch.t = j.at("welch_t").get<double>();
    c.welch.df = j.at("welch_df").get<double>();
    c.welch.p = j.at("p_value").get<double>();
    c.p_adjusted = j.at("p_adjusted").get<double>();
    c.significant = j.at("significant").get<bool>();
    return c;
}

json config_json(const ConfigResult& r) {
    json arms = json::array();
    for (const ArmResult& a : r.arms) {
        arms.push_back({{"arm", arm_name(a.arm)},
                        {"n", a.latency_ms.n},
                        {"mean_ms", a.latency_ms.mean},
                        {"median_ms", a.latency_ms.median},
                        {"stddev_ms", a.latency_ms.stddev},
                        {"min_ms", a.latency_ms.min},
                        {"p95_ms", a.latency_ms.p95},
                        {"tokens_per_s", a.tokens_per_s},
                        {"samples_ms", a.samples_ms}});
    }
    json j = {{"kind", test_kind_name(r.key.kind)},
              {"batch", r.key.batch},
              {"seq", r.key.seq},
              {"n_gen", r.key.n_gen},
              {"timed_tokens", r.key.timed_tokens()},
              {"complete", r.complete},
              {"arms", arms}};
    if (r.caching) j["caching"] = comparison_json(*r.caching);
    if (r.control) j["control"] = comparison_json(*r.control);
    if (r.verdict) j["verdict"] = verdict_name(*r.verdict);
    return j;
}

ConfigResult config_from(const json& j) {
    ConfigResult r;
    const auto kind = parse_test_kind(j.at("kind").get<std::string>());
    if (!kind) throw Error("unknown test kind " + j.at("kind").dump());
    r.key = {*kind, j.at("batch").get<int64_t>(), j.at("seq").get<int64_t>(),
             j.at("n_gen").get<int64_t>()};
    r.complete = j.at("complete").get<bool>();
    for (const json& a : j.at("arms")) {
        ArmResult arm;
        const auto parsed = parse_arm(a.at("arm").get<std::string>());
        if (!parsed) throw Error("unknown arm " + a.at("arm").dump());
        arm.arm = *parsed;
        arm.latency_ms.n = a.at("n").get<int64_t>();
        arm.latency_ms.mean = a.at("mean_ms").get<double>();
        arm.latency_ms.median = a.at("median_ms").get<double>();
        arm.latency_ms.stddev = a.at("stddev_ms").get<double>();
        arm.latency_ms.min = a.at("min_ms").get<double>();
        arm.latency_ms.p95 = a.at("p95_ms").get<double>();
        arm.tokens_per_s = a.at("tokens_per_s").get<double>();
        arm.samples_ms = a.at("samples_ms").get<std::vector<double>>();
        r.arms.push_back(std::move(arm));
    }
    if (j.contains("caching")) r.caching = comparison_from(j.at("caching"));
    if (j.contains("control")) r.control = comparison_from(j.at("control"));
    if (j.contains("verdict")) {
        r.verdict = parse_verdict(j.at("verdict").get<std::string>());
        if (!r.verdict) throw Error("unknown verdict " + j.at("verdict").dump());
    }
    return r;
}

json metadata_json(const Metadata& m) {
    return {{"cpu", m.cpu},
            {"hardware_threads", m.hardware_threads},
            {"threads", m.threads},
            {"model", m.model},
            {"model_description", m.model_description},
            {"layers", m.layers},
            {"dtype", m.dtype},
            {"hidden_size", m.hidden_size},
            {"n_heads", m.n_heads},
            {"n_kv_heads", m.n_kv_heads},
            {"head_dim", m.head_dim},
            {"ffn_size", m.ffn_size},
            {"vocab_size", m.vocab_size},
            {"split_mode", m.split_mode},
            {"reps", m.reps},
            {"warmup", m.warmup},
            {"ubatch", m.ubatch},
            {"precision", m.precision},
            {"isa", m.isa},
            {"decode_bytes", m.decode_bytes},
            {"seed", m.seed},
            {"bootstrap_resamples", m.bootstrap_resamples},
            {"alpha", m.alpha},
            {"commit", m.commit},
            {"date", m.date},
            {"command_line", m.command_line},
            {"wall_seconds", m.wall_seconds},
            {"interrupted", m.interrupted},
            {"skipped", m.skipped}};
}

Metadata metadata_from(const json& j) {
    Metadata m;
    m.cpu = j.at("cpu").get<std::string>();
    m.hardware_threads = j.at("hardware_threads").get<int64_t>();
    m.threads = j.at("threads").get<int>();
    m.model = j.at("model").get<std::string>();
    m.model_description = j.at("model_description").get<std::string>();
    m.layers = j.at("layers").get<int64_t>();
    m.dtype = j.at("dtype").get<std::string>();
    m.hidden_size = j.at("hidden_size").get<int64_t>();
    m.n_heads = j.at("n_heads").get<int64_t>();
    m.n_kv_heads = j.at("n_kv_heads").get<int64_t>();
    m.head_dim = j.at("head_dim").get<int64_t>();
    m.ffn_size = j.at("ffn_size").get<int64_t>();
    m.vocab_size = j.at("vocab_size").get<int64_t>();
    m.split_mode = j.at("split_mode").get<std::string>();
    m.reps = j.at("reps").get<int>();
    m.warmup = j.at("warmup").get<int>();
    m.ubatch = j.at("ubatch").get<int64_t>();
    m.precision = j.value("precision", std::string("f32"));  // reports before the AMX path
    m.isa = j.value("isa", std::string("unknown"));          // reports before the ISA cap
    m.decode_bytes = j.value("decode_bytes", int64_t{0});    // reports before it was recorded
    m.seed = j.at("seed").get<uint64_t>();
    m.bootstrap_resamples = j.at("bootstrap_resamples").get<int>();
    m.alpha = j.at("alpha").get<double>();
    m.commit = j.at("commit").get<std::string>();
    m.date = j.at("date").get<std::string>();
    m.command_line = j.at("command_line").get<std::string>();
    m.wall_seconds = j.at("wall_seconds").get<double>();
    m.interrupted = j.at("interrupted").get<bool>();
    m.skipped = j.at("skipped").get<std::vector<std::string>>();
    return m;
}

json pooled_json(const PooledEffect& p) {
    return {{"n_configs", p.n_configs},
            {"improvement_pct", p.improvement_pct},
            {"ci_pct", interval_json(p.ci_pct)},
            {"p_value", p.p}};
}

PooledEffect pooled_from(const json& j) {
    PooledEffect p;
    p.n_configs = j.at("n_configs").get<int64_t>();
    p.improvement_pct = j.at("improvement_pct").get<double>();
    p.ci_pct = interval_from(j.at("ci_pct"));
    p.p = j.at("p_value").get<double>();
    return p;
}

json summary_json(const Summary& s) {
    return {{"n_configs", s.n_configs},
            {"alpha", s.alpha},
            {"correction", s.correction},
            {"mean_latency_improvement_pct", s.mean_latency_improvement_pct},
            {"best_latency_improvement_pct", s.best_latency_improvement_pct},
            {"best_latency_config", s.best_latency_config},
            {"worst_latency_improvement_pct", s.worst_latency_improvement_pct},
            {"worst_latency_config", s.worst_latency_config},
            {"stddev_latency_improvement_pct", s.stddev_latency_improvement_pct},
            {"mean_throughput_improvement_pct", s.mean_throughput_improvement_pct},
            {"best_throughput_improvement_pct", s.best_throughput_improvement_pct},
            {"best_throughput_config", s.best_throughput_config},
            {"n_ci_excludes_zero", s.n_ci_excludes_zero},
            {"n_significant", s.n_significant},
            {"n_cached_faster", s.n_cached_faster},
            {"n_cached_slower", s.n_cached_slower},
            {"control_mean_abs_change_pct", s.control_mean_abs_change_pct},
            {"control_stddev_change_pct", s.control_stddev_change_pct},
            {"control_max_abs_change_pct", s.control_max_abs_change_pct},
            {"control_n_ci_excludes_zero", s.control_n_ci_excludes_zero},
            {"control_n_significant", s.control_n_significant},
            {"pooled", pooled_json(s.pooled)},
            {"control_pooled", pooled_json(s.control_pooled)},
            {"conclusion", s.conclusion}};
}

Summary summary_from(const json& j) {
    Summary s;
    s.n_configs = j.at("n_configs").get<int64_t>();
    s.alpha = j.at("alpha").get<double>();
    s.correction = j.at("correction").get<std::string>();
    s.mean_latency_improvement_pct = j.at("mean_latency_improvement_pct").get<double>();
    s.best_latency_improvement_pct = j.at("best_latency_improvement_pct").get<double>();
    s.best_latency_config = j.at("best_latency_config").get<std::string>();
    s.worst_latency_improvement_pct = j.at("worst_latency_improvement_pct").get<double>();
    s.worst_latency_config = j.at("worst_latency_config").get<std::string>();
    s.stddev_latency_improvement_pct = j.at("stddev_latency_improvement_pct").get<double>();
    s.mean_throughput_improvement_pct = j.at("mean_throughput_improvement_pct").get<double>();
    s.best_throughput_improvement_pct = j.at("best_throughput_improvement_pct").get<double>();
    s.best_throughput_config = j.at("best_throughput_config").get<std::string>();
    s.n_ci_excludes_zero = j.at("n_ci_excludes_zero").get<int64_t>();
    s.n_significant = j.at("n_significant").get<int64_t>();
    s.n_cached_faster = j.at("n_cached_faster").get<int64_t>();
    s.n_cached_slower = j.at("n_cached_slower").get<int64_t>();
    s.control_mean_abs_change_pct = j.at("control_mean_abs_change_pct").get<double>();
    s.control_stddev_change_pct = j.at("control_stddev_change_pct").get<double>();
    s.control_max_abs_change_pct = j.at("control_max_abs_change_pct").get<double>();
    s.control_n_ci_excludes_zero = j.at("control_n_ci_excludes_zero").get<int64_t>();
    s.control_n_significant = j.at("control_n_significant").get<int64_t>();
    s.pooled = pooled_from(j.at("pooled"));
    s.control_pooled = pooled_from(j.at("control_pooled"));
    s.conclusion = j.at("conclusion").get<std::string>();
    return s;
}

}  // namespace

std::string to_json(const Report& report) {
    json configs = json::array();
    for (const ConfigResult& r : report.configs) configs.push_back(config_json(r));
    json j = {{"tool", "llama-bench"},
              {"sign_convention",
               "improvement = effect of caching relative to per-forward, positive = cached "
               "faster; latency: 100*(1 - mean_cached/mean_per_forward), throughput: "
               "100*(mean_per_forward/mean_cached - 1); control: cached-control relative to "
               "cached"},
              {"metadata", metadata_json(report.meta)},
              {"configs", configs}};
    if (report.summary) j["summary"] = summary_json(*report.summary);
    return j.dump(2) + "\n";
}

Report parse_json(const std::string& text) {
    try {
        const json j = json::parse(text);
        Report report;
        report.meta = metadata_from(j.at("metadata"));
        for (const json& c : j.at("configs")) report.configs.push_back(config_from(c));
        if (j.contains("summary")) report.summary = summary_from(j.at("summary"));
        return report;
    } catch (const json::exception& e) {
        throw Error(std::string("bad llama-bench JSON: ") + e.what());
    }
}

}  // namespace llama::bench
