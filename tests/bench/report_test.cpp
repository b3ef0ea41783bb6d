// llama-bench report formats: JSON and CSV parse back to the same numbers, markdown and the SVG
// heatmap show what they should.

#include "tools/llama-bench/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/bench/fake_workload.h"
#include "tools/llama-bench/heatmap.h"

namespace llama::bench {
namespace {

using testing::ab_plan;
using testing::FakeSource;
using testing::FakeTiming;
using testing::pp_grid;

// A report from the fake timer: per-forward 5% slower, two kinds, one configuration interrupted.
Report sample_report() {
    FakeTiming timing;
    timing.per_forward_factor = 1.05;
    FakeSource source(timing);
    testing::StopAfter never(1 << 30);
    RunPlan plan = ab_plan(pp_grid({1, 2}, {64, 128}), 6);
    plan.configs.push_back({TestKind::TokenGeneration, 1, 64, 8});
    RunOutput out = run_plan(plan, source, never, 1e-3);
    out.samples.back().complete = false;
    Report report;
    report.configs = analyze(out.samples, {500, 0.05, 3});
    report.summary = summarize_grid(report.configs, 0.05);
    Metadata& m = report.meta;
    m.cpu = "Test CPU, \"quoted\"";
    m.hardware_threads = 2;
    m.threads = 2;
    m.model = "synthetic llama-7b";
    m.model_description = "synthetic random weights (f16, seed 42)";
    m.layers = 1;
    m.dtype = "f16";
    m.hidden_size = 4096;
    m.n_heads = 32;
    m.n_kv_heads = 32;
    m.head_dim = 128;
    m.ffn_size = 11008;
    m.vocab_size = 32000;
    m.split_mode = "ab";
    m.reps = 6;
    m.warmup = 1;
    m.ubatch = 512;
    m.decode_bytes = 2'000'000'000;
    m.seed = 42;
    m.bootstrap_resamples = 500;
    m.alpha = 0.05;
    m.commit = "0123456789ab";
    m.date = "2026-01-01T00:00:00Z";
    m.command_line = "llama-bench --config llama-7b";
    m.wall_seconds = 12.5;
    m.skipped = {"pp b=64 s=4096: needs about 40.0 GiB"};
    return report;
}

void expect_same_summary(const SampleSummary& a, const SampleSummary& b) {
    EXPECT_EQ(a.n, b.n);
    EXPECT_EQ(a.mean, b.mean);
    EXPECT_EQ(a.median, b.median);
    EXPECT_EQ(a.stddev, b.stddev);
    EXPECT_EQ(a.min, b.min);
    EXPECT_EQ(a.p95, b.p95);
}

void expect_same_comparison(const std::optional<Comparison>& a,
                            const std::optional<Comparison>& b) {
    ASSERT_EQ(a.has_value(), b.has_value());
    if (!a) return;
    EXPECT_EQ(a->latency_improvement_pct, b->latency_improvement_pct);
    EXPECT_EQ(a->latency_ci_pct.low, b->latency_ci_pct.low);
    EXPECT_EQ(a->latency_ci_pct.high, b->latency_ci_pct.high);
    EXPECT_EQ(a->throughput_improvement_pct, b->throughput_improvement_pct);
    EXPECT_EQ(a->throughput_ci_pct.low, b->throughput_ci_pct.low);
    EXPECT_EQ(a->throughput_ci_pct.high, b->throughput_ci_pct.high);
    EXPECT_EQ(a->welch.t, b->welch.t);
    EXPECT_EQ(a->welch.df, b->welch.df);
    EXPECT_EQ(a->welch.p, b->welch.p);
    EXPECT_EQ(a->p_adjusted, b->p_adjusted);
    EXPECT_EQ(a->significant, b->significant);
}

void expect_same_configs(const std::vector<ConfigResult>& a, const std::vector<ConfigResult>& b,
                         bool with_samples) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        SCOPED_TRACE(a[i].key.label());
        EXPECT_EQ(a[i].key, b[i].key);
        EXPECT_EQ(a[i].complete, b[i].complete);
        ASSERT_EQ(a[i].arms.size(), b[i].arms.size());
        for (size_t j = 0; j < a[i].arms.size(); ++j) {
            EXPECT_EQ(a[i].arms[j].arm, b[i].arms[j].arm);
            expect_same_summary(a[i].arms[j].latency_ms, b[i].arms[j].latency_ms);
            EXPECT_EQ(a[i].arms[j].tokens_per_s, b[i].arms[j].tokens_per_s);
            if (with_samples) {
                EXPECT_EQ(a[i].arms[j].samples_ms, b[i].arms[j].samples_ms);
            }
        }
        expect_same_comparison(a[i].caching, b[i].caching);
        expect_same_comparison(a[i].control, b[i].control);
        EXPECT_EQ(a[i].verdict, b[i].verdict);
    }
}

TEST(BenchReport, JsonRoundTrip) {
    const Report report = sample_report();
    const std::string text = to_json(report);
    const Report back = parse_json(text);
    expect_same_configs(report.configs, back.configs, true);
    EXPECT_EQ(back.meta.cpu, report.meta.cpu);
    EXPECT_EQ(back.meta.commit, report.meta.commit);
    EXPECT_EQ(back.meta.date, report.meta.date);
    EXPECT_EQ(back.meta.threads, report.meta.threads);
    EXPECT_EQ(back.meta.wall_seconds, report.meta.wall_seconds);
    EXPECT_EQ(back.meta.skipped, report.meta.skipped);
    EXPECT_EQ(back.meta.decode_bytes, report.meta.decode_bytes);
    ASSERT_TRUE(back.summary);
    EXPECT_EQ(back.summary->mean_latency_improvement_pct,
              report.summary->mean_latency_improvement_pct);
    EXPECT_EQ(back.summary->n_significant, report.summary->n_significant);
    EXPECT_EQ(back.summary->best_latency_config, report.summary->best_latency_config);
    EXPECT_EQ(back.summary->conclusion, report.summary->conclusion);
    EXPECT_EQ(back.summary->pooled.improvement_pct, report.summary->pooled.improvement_pct);
    EXPECT_EQ(back.summary->pooled.ci_pct.high, report.summary->pooled.ci_pct.high);
    EXPECT_EQ(back.summary->control_pooled.p, report.summary->control_pooled.p);
    // Serialising what was parsed gives the same document.
    EXPECT_EQ(to_json(back), text);
}

TEST(BenchReport, JsonIsPlainJsonWithTheRecordedFields) {
    const nlohmann::json j = nlohmann::json::parse(to_json(sample_report()));
    EXPECT_EQ(j.at("metadata").at("threads"), 2);
    EXPECT_EQ(j.at("configs").size(), 5u);
    EXPECT_EQ(j.at("configs").at(0).at("arms").size(), 3u);
    EXPECT_EQ(j.at("configs").at(0).at("arms").at(1).at("arm"), "per-forward");
    EXPECT_EQ(j.at("configs").at(0).at("arms").at(1).at("samples_ms").size(), 6u);
    EXPECT_TRUE(j.at("summary").contains("n_significant"));
}

TEST(BenchReport, CsvRoundTrip) {
    const Report report = sample_report();
    const std::string text = to_csv(report);
    expect_same_configs(report.configs, parse_csv(text), false);
}

TEST(BenchReport, CsvOfASingleArmRun) {
    Report report = sample_report();
    for (ConfigResult& r : report.configs) {
        r.arms.resize(1);
        r.caching.reset();
        r.control.reset();
        r.verdict.reset();
    }
    const std::string text = to_csv(report);
    EXPECT_EQ(text.find("per-forward_mean_ms"), std::string::npos);
    EXPECT_EQ(text.find("p_holm"), std::string::npos);
    expect_same_configs(report.configs, parse_csv(text), false);
}

TEST(BenchReport, CsvHeaderAndRowsLineUp) {
    const std::string text = to_csv(sample_report());
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] != '#') lines.push_back(line);
    }
    ASSERT_EQ(lines.size(), 6u);  // header + 5 configurations
    const auto commas = [](const std::string& s) { return std::count(s.begin(), s.end(), ','); };
    for (const std::string& line : lines) EXPECT_EQ(commas(line), commas(lines[0]));
    EXPECT_EQ(lines[0].rfind("kind,batch,seq,n_gen,complete,cached_n,cached_mean_ms", 0), 0u);
}

TEST(BenchReport, BadCsvIsRejected) {
    EXPECT_THROW(parse_csv(""), Error);
    EXPECT_THROW(parse_csv("kind,batch\npp\n"), Error);
    EXPECT_THROW(parse_csv("kind,batch,seq,n_gen,complete\nxx,1,1,0,1\n"), Error);
    EXPECT_THROW(parse_csv("kind,batch,seq,n_gen,complete\npp,one,1,0,1\n"), Error);
    EXPECT_THROW(parse_json("{\"configs\": []}"), Error);
    EXPECT_THROW(parse_json("not json"), Error);
}

TEST(BenchReport, MarkdownShowsTablesSummaryAndVerdicts) {
    const Report report = sample_report();
    const std::string md = to_markdown(report);
    EXPECT_NE(md.find("| machine | Test CPU"), std::string::npos);
    EXPECT_NE(md.find("| commit | 0123456789ab |"), std::string::npos);
    EXPECT_NE(md.find("## Latency per configuration and arm"), std::string::npos);
    EXPECT_NE(md.find("## Caching vs per-forward"), std::string::npos);
    EXPECT_NE(md.find("Holm-Bonferroni"), std::string::npos);
    EXPECT_NE(md.find("(partial)"), std::string::npos);
    EXPECT_NE(md.find("## Skipped configurations"), std::string::npos);
    // One latency row per configuration and arm, one comparison row per configuration.
    const std::regex arm_row(
        R"(\n\| (pp|tg) \| \d+ \| \d+ \| \d+ \| (cached|per-forward|cached-control) \|)");
    EXPECT_EQ(
        std::distance(std::sregex_iterator(md.begin(), md.end(), arm_row), std::sregex_iterator()),
        15);
    for (const ConfigResult& r : report.configs) {
        EXPECT_NE(md.find(std::string(verdict_name(*r.verdict))), std::string::npos);
    }
    // The bytes a decode step reads, and for decode rows the weight bandwidth: steps/s (tokens/s of
    // a batch of 1 here) x 2 GB.
    EXPECT_NE(md.find("| decode reads | 2.000 GB of weights a step"), std::string::npos);
    for (const ConfigResult& r : report.configs) {
        if (r.key.kind != TestKind::TokenGeneration) continue;
        ASSERT_EQ(r.key.batch, 1);
        for (const ArmResult& a : r.arms) {
            char row_end[64];
            std::snprintf(row_end, sizeof row_end, "| %.1f | %.1f |\n", a.tokens_per_s,
                          a.tokens_per_s * 2.0);
            EXPECT_NE(md.find(row_end), std::string::npos) << row_end;
        }
    }
    // Prompt rows leave it blank.
    EXPECT_NE(md.find(" |  |\n"), std::string::npos);
    char best[32];
    std::snprintf(best, sizeof best, "%+.2f%%", report.summary->best_latency_improvement_pct);
    EXPECT_NE(md.find(std::string("best latency improvement: ") + best), std::string::npos);
}

TEST(BenchReport, HeatmapMarksIntervalsAndSignificance) {
    Report report = sample_report();
    // Make the two pp b=1 cells differ: one significant with an interval excluding zero, one not.
    ConfigResult& strong = report.configs[0];
    strong.caching->latency_ci_pct = {1.0, 3.0};
    strong.caching->latency_improvement_pct = 2.0;
    strong.caching->significant = true;
    ConfigResult& weak = report.configs[1];
    weak.caching->latency_ci_pct = {-1.0, 1.0};
    weak.caching->latency_improvement_pct = 0.1;
    weak.caching->significant = false;
    const std::string svg = heatmap_svg(report);
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_NE(svg.find("prompt processing (pp)"), std::string::npos);
    EXPECT_NE(svg.find("token generation (tg)"), std::string::npos);
    EXPECT_NE(svg.find(">+2.00*</text>"), std::string::npos);
    EXPECT_NE(svg.find(">+0.10</text>"), std::string::npos);
    EXPECT_NE(svg.find("95% bootstrap interval excludes 0"), std::string::npos);
    EXPECT_NE(svg.find("Test CPU, &quot;quoted&quot;"), std::string::npos);  // escaped
    // Every comparison is one titled cell; the tg panel has 3 unmeasured grid points.
    size_t titles = 0;
    for (size_t pos = 0; (pos = svg.find("<title>", pos)) != std::string::npos; ++pos) ++titles;
    EXPECT_EQ(titles, report.configs.size());
    size_t not_measured = 0;
    for (size_t pos = 0; (pos = svg.find(">n/a<", pos)) != std::string::npos; ++pos) ++not_measured;
    EXPECT_EQ(not_measured, 3u);
    // Bold borders: one per cell whose interval excludes zero, plus the legend's sample.
    size_t excluding = 1, borders = 0;
    for (const ConfigResult& r : report.configs)
        excluding += r.caching->latency_ci_pct.excludes_zero();
    for (size_t pos = 0; (pos = svg.find("stroke-width=\"3\"", pos)) != std::string::npos; ++pos) {
        ++borders;
    }
    EXPECT_EQ(borders, excluding);

    for (ConfigResult& r : report.configs) r.caching.reset();
    EXPECT_THROW(heatmap_svg(report), Error);
}

}  // namespace
}  // namespace llama::bench
