// llama-bench statistics: summaries against textbook values, the t distribution against closed
// forms and numerical integration, Welch's test, the bootstrap, Holm's correction, and the whole
// measure-analyse chain on a fake timer with and without a planted slowdown.

#include "tools/llama-bench/stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tests/bench/fake_workload.h"
#include "tools/llama-bench/analysis.h"
#include "tools/llama-bench/runner.h"

namespace llama::bench {
namespace {

using testing::ab_plan;
using testing::FakeSource;
using testing::FakeTiming;
using testing::pp_grid;

// Reference two-sided p of Student's t: 1 - 2 * integral of the density over [0, |t|], by
// composite Simpson's rule (independent of the incomplete-beta route under test).
double reference_t_p(double t, double df) {
    const double log_c =
        std::lgamma((df + 1) / 2) - std::lgamma(df / 2) - 0.5 * std::log(df * M_PI);
    auto pdf = [&](double x) { return std::exp(log_c - (df + 1) / 2 * std::log1p(x * x / df)); };
    const int n = 200000;  // even
    const double h = std::abs(t) / n;
    double sum = pdf(0) + pdf(std::abs(t));
    for (int i = 1; i < n; ++i) sum += (i % 2 ? 4 : 2) * pdf(i * h);
    return 1.0 - 2.0 * sum * h / 3.0;
}

std::vector<double> normal_sample(uint64_t seed, int n, double mu, double sd) {
    SplitMix64 rng(seed);
    std::vector<double> x(n);
    for (double& v : x) v = mu + sd * rng.normal();
    return x;
}

TEST(BenchStats, SummariesOfATextbookSample) {
    const std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
    EXPECT_DOUBLE_EQ(mean(x), 5.0);
    EXPECT_DOUBLE_EQ(median(x), 4.5);
    EXPECT_NEAR(stddev(x), std::sqrt(32.0 / 7.0), 1e-12);  // squared deviations sum to 32
    EXPECT_DOUBLE_EQ(min_value(x), 2.0);
    // Type 7: position q * (n - 1) between order statistics.
    EXPECT_NEAR(percentile(x, 95), 7 + 0.65 * (9 - 7), 1e-12);
    EXPECT_NEAR(percentile(x, 25), 4.0, 1e-12);
    EXPECT_DOUBLE_EQ(percentile(x, 0), 2.0);
    EXPECT_DOUBLE_EQ(percentile(x, 100), 9.0);

    const std::vector<double> shuffled = {9, 4, 2, 5, 4, 7, 5, 4};
    const SampleSummary s = summarize(shuffled);
    EXPECT_EQ(s.n, 8);
    EXPECT_DOUBLE_EQ(s.mean, mean(x));
    EXPECT_DOUBLE_EQ(s.median, median(x));
    EXPECT_DOUBLE_EQ(s.stddev, stddev(x));
    EXPECT_DOUBLE_EQ(s.min, 2.0);
    EXPECT_DOUBLE_EQ(s.p95, percentile(x, 95));
}

TEST(BenchStats, OddMedianSingleValueAndEmptySample) {
    EXPECT_DOUBLE_EQ(median(std::vector<double>{3, 1, 2}), 2.0);
    EXPECT_DOUBLE_EQ(stddev(std::vector<double>{4.0}), 0.0);
    EXPECT_THROW(mean(std::vector<double>{}), Error);
    EXPECT_THROW(percentile(std::vector<double>{1.0}, 101), Error);
}

TEST(BenchStats, IncompleteBetaMatchesClosedForms) {
    for (double x : {0.01, 0.2, 0.5, 0.77, 0.99}) {
        EXPECT_NEAR(incomplete_beta(1, 1, x), x, 1e-12);
        EXPECT_NEAR(incomplete_beta(3.5, 1, x), std::pow(x, 3.5), 1e-12);
        EXPECT_NEAR(incomplete_beta(1, 2.5, x), 1 - std::pow(1 - x, 2.5), 1e-12);
        EXPECT_NEAR(incomplete_beta(2.3, 4.1, x), 1 - incomplete_beta(4.1, 2.3, 1 - x), 1e-12);
    }
    EXPECT_NEAR(incomplete_beta(7.5, 7.5, 0.5), 0.5, 1e-12);
    EXPECT_EQ(incomplete_beta(2, 3, 0.0), 0.0);
    EXPECT_EQ(incomplete_beta(2, 3, 1.0), 1.0);
}

TEST(BenchStats, StudentTTailMatchesClosedFormsAndIntegration) {
    for (double t : {0.0, 0.3, 1.0, 2.5, 10.0}) {
        // df = 1 is the Cauchy distribution, df = 2 has a closed form too.
        EXPECT_NEAR(student_t_two_sided_p(t, 1), 1 - 2 * std::atan(t) / M_PI, 1e-10);
        EXPECT_NEAR(student_t_two_sided_p(-t, 2), 1 - t / std::sqrt(2 + t * t), 1e-10);
        // Large df approaches the normal distribution.
        EXPECT_NEAR(student_t_two_sided_p(t, 1e7), std::erfc(t / std::sqrt(2.0)), 1e-6);
    }
    for (double df : {3.0, 7.3, 24.99, 150.0}) {
        for (double t : {0.5, 1.7, 2.46, 4.0}) {
            EXPECT_NEAR(student_t_two_sided_p(t, df), reference_t_p(t, df), 1e-8)
                << "t " << t << " df " << df;
        }
    }
}

TEST(BenchStats, WelchMatchesTheTextbookExample) {
    // Wikipedia "Welch's t-test", example 1: t = 2.46, df = 24.99, p = 0.021.
    const std::vector<double> a = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
                                   21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
    const std::vector<double> b = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
                                   24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
    const WelchResult r = welch_test(a, b);
    EXPECT_NEAR(r.t, 2.46, 0.005);
    EXPECT_NEAR(r.df, 24.99, 0.005);
    EXPECT_NEAR(r.p, 0.021, 0.0005);
    EXPECT_NEAR(welch_test(b, a).t, -r.t, 1e-12);
}

TEST(BenchStats, WelchAgainstAnIndependentComputation) {
    const std::vector<double> a = normal_sample(1, 9, 10.0, 1.0);
    const std::vector<double> b = normal_sample(2, 14, 11.0, 2.5);
    // Same formulas written out from sums of squares.
    auto moments = [](const std::vector<double>& x) {
        double s = 0, ss = 0;
        for (double v : x) s += v, ss += v * v;
        const double n = static_cast<double>(x.size());
        return std::pair{s / n, (ss - s * s / n) / (n - 1)};
    };
    const auto [ma, var_a] = moments(a);
    const auto [mb, var_b] = moments(b);
    const double sa = var_a / a.size(), sb = var_b / b.size();
    const double t = (mb - ma) / std::sqrt(sa + sb);
    const double df =
        (sa + sb) * (sa + sb) / (sa * sa / (a.size() - 1.0) + sb * sb / (b.size() - 1.0));
    const WelchResult r = welch_test(a, b);
    EXPECT_NEAR(r.t, t, 1e-9);
    EXPECT_NEAR(r.df, df, 1e-9);
    EXPECT_NEAR(r.p, reference_t_p(t, df), 1e-8);
}

TEST(BenchStats, WelchWithoutVariance) {
    const std::vector<double> same = {5, 5, 5};
    const std::vector<double> higher = {6, 6, 6};
    EXPECT_EQ(welch_test(same, same).p, 1.0);
    EXPECT_EQ(welch_test(same, higher).p, 0.0);
    EXPECT_THROW(welch_test(std::vector<double>{1.0}, same), Error);
}

TEST(BenchStats, BootstrapIntervalCoversTheTrueRatioAndIsReproducible) {
    const std::vector<double> a = normal_sample(3, 40, 100.0, 4.0);
    const std::vector<double> b = normal_sample(4, 40, 110.0, 4.0);
    const Interval ci = bootstrap_ratio_of_means(a, b, 2000, 99);
    EXPECT_TRUE(ci.contains(1.10)) << ci.low << " " << ci.high;
    EXPECT_TRUE(ci.contains(mean(b) / mean(a)));
    EXPECT_FALSE(ci.contains(1.0));
    EXPECT_LT(ci.high - ci.low, 0.05);  // 40 samples at 4% noise: a tight interval

    const Interval again = bootstrap_ratio_of_means(a, b, 2000, 99);
    EXPECT_EQ(again.low, ci.low);
    EXPECT_EQ(again.high, ci.high);
    const Interval other = bootstrap_ratio_of_means(a, b, 2000, 100);
    EXPECT_NE(other.low, ci.low);

    const Interval wider = bootstrap_ratio_of_means(a, b, 2000, 99, 0.99);
    EXPECT_LE(wider.low, ci.low);
    EXPECT_GE(wider.high, ci.high);
}

TEST(BenchStats, NormalQuantileInvertsTheCdf) {
    EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);  // the textbook 1.96
    EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
    for (double p : {1e-10, 0.001, 0.02, 0.3, 0.7, 0.99, 1 - 1e-9}) {
        const double x = normal_quantile(p);
        EXPECT_NEAR(0.5 * std::erfc(-x / std::sqrt(2.0)), p, 1e-12 * std::max(1.0, p / 1e-3));
        EXPECT_NEAR(normal_quantile(1 - p), -x, 1e-6);
    }
    EXPECT_THROW(normal_quantile(0.0), Error);
}

TEST(BenchStats, PooledLogRatioOfHandMadeArms) {
    // Two configurations; treatment 10% and 20% slower, equal log-ratio variances, so the pooled
    // log ratio is the plain mean of the two log ratios.
    auto config = [](double baseline, double treatment, double sd) {
        ConfigResult r;
        r.arms = {{Arm::Cached, {4, treatment, treatment, sd * treatment, 0, 0}, 0, {}},
                  {Arm::PerForward, {4, baseline, baseline, sd * baseline, 0, 0}, 0, {}}};
        return r;
    };
    const std::vector<ConfigResult> results = {config(100, 110, 0.02), config(50, 60, 0.02)};
    const PooledEffect p = pool_log_ratios(results, Arm::Cached, Arm::PerForward);
    EXPECT_EQ(p.n_configs, 2);
    const double log_ratio = (std::log(1.1) + std::log(1.2)) / 2;
    EXPECT_NEAR(p.improvement_pct, 100 * (1 - std::exp(log_ratio)), 1e-9);
    // Each log ratio has variance 2 * 0.02^2 / 4; the pooled one half of that.
    const double se = std::sqrt(2 * 0.0004 / 4 / 2);
    EXPECT_NEAR(p.ci_pct.low, 100 * (1 - std::exp(log_ratio + 1.959963984540054 * se)), 1e-9);
    EXPECT_NEAR(p.ci_pct.high, 100 * (1 - std::exp(log_ratio - 1.959963984540054 * se)), 1e-9);
    EXPECT_NEAR(p.p, std::erfc(log_ratio / se / std::sqrt(2.0)), 1e-15);
    EXPECT_EQ(pool_log_ratios(results, Arm::CachedControl, Arm::Cached).n_configs, 0);
}

TEST(BenchStats, HolmAdjustment) {
    // Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04).
    const std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
    const std::vector<double> adjusted = holm_adjust(p);
    const std::vector<double> expected = {0.03, 0.06, 0.06, 0.02};
    ASSERT_EQ(adjusted.size(), expected.size());
    for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(adjusted[i], expected[i], 1e-12);
    EXPECT_EQ(holm_adjust(std::vector<double>{0.6, 0.7})[1], 1.0);  // capped
    EXPECT_TRUE(holm_adjust(std::vector<double>{}).empty());
}

TEST(BenchStats, ArmOrderIsAReproduciblePermutationThatVaries) {
    const std::vector<Arm> arms = {Arm::Cached, Arm::PerForward, Arm::CachedControl};
    const ConfigKey key{TestKind::PromptProcessing, 4, 512, 0};
    std::set<std::vector<Arm>> seen;
    std::vector<int> per_forward_slot(3, 0);
    for (int rep = 0; rep < 60; ++rep) {
        std::vector<Arm> order = arm_order(arms, 5, key, rep);
        EXPECT_EQ(order, arm_order(arms, 5, key, rep));
        seen.insert(order);
        ++per_forward_slot[std::find(order.begin(), order.end(), Arm::PerForward) - order.begin()];
        std::sort(order.begin(), order.end());
        EXPECT_EQ(order, arms);
    }
    EXPECT_EQ(seen.size(), 6u);  // all 3! orders occur over 60 repetitions
    for (int count : per_forward_slot) EXPECT_GT(count, 5);
}

TEST(BenchStats, RunnerInterleavesArmsWithinEveryRepetition) {
    FakeSource source(FakeTiming{});
    testing::StopAfter never(1 << 30);
    const RunPlan plan = ab_plan(pp_grid({1}, {128}), 10, 2);
    const RunOutput out = run_plan(plan, source, never, 1e-3);
    const std::vector<SplitMode>& log = source.log();
    ASSERT_EQ(log.size(), 3u * 12u);
    int first_per_forward = -1, last_cached = -1;
    for (size_t round = 0; round < 12; ++round) {
        const auto begin = log.begin() + 3 * round;
        EXPECT_EQ(std::count(begin, begin + 3, SplitMode::PerForward), 1) << round;
        for (size_t i = 0; i < 3; ++i) {
            if (begin[i] == SplitMode::PerForward && first_per_forward < 0) {
                first_per_forward = 3 * round + i;
            }
            if (begin[i] == SplitMode::Cached) last_cached = 3 * round + i;
        }
    }
    EXPECT_LT(first_per_forward, last_cached);  // never all of A, then all of B
    ASSERT_EQ(out.samples.size(), 1u);
    for (const auto& x : out.samples[0].latency_ms) EXPECT_EQ(x.size(), 10u);
}

TEST(BenchStats, PlantedTenPercentSlowdownIsDetected) {
    FakeTiming timing;
    timing.per_forward_factor = 1.10;
    timing.noise = 0.03;
    FakeSource source(timing);
    testing::StopAfter never(1 << 30);
    const RunPlan plan = ab_plan(pp_grid({1, 4}, {128, 512}), 12);
    const RunOutput out = run_plan(plan, source, never, 1e-3);
    const std::vector<ConfigResult> results = analyze(out.samples, {2000, 0.05, 42});
    ASSERT_EQ(results.size(), 4u);
    const double expected = 100.0 * (1.0 - 1.0 / 1.10);  // cached cuts 9.09% of the latency
    for (const ConfigResult& r : results) {
        ASSERT_TRUE(r.caching && r.control && r.verdict);
        EXPECT_EQ(*r.verdict, Verdict::CachedFaster) << r.key.label();
        EXPECT_TRUE(r.caching->significant);
        EXPECT_LT(r.caching->p_adjusted, 0.05);
        EXPECT_TRUE(r.caching->latency_ci_pct.contains(expected))
            << r.key.label() << " [" << r.caching->latency_ci_pct.low << ", "
            << r.caching->latency_ci_pct.high << "]";
        EXPECT_TRUE(r.caching->throughput_ci_pct.contains(10.0));
        EXPECT_FALSE(r.control->significant);
    }
    const std::optional<Summary> s = summarize_grid(results, 0.05);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->n_configs, 4);
    EXPECT_EQ(s->n_significant, 4);
    EXPECT_EQ(s->n_cached_faster, 4);
    EXPECT_EQ(s->control_n_significant, 0);
    EXPECT_NEAR(s->mean_latency_improvement_pct, expected, 2.0);
    EXPECT_NEAR(s->mean_throughput_improvement_pct, 10.0, 2.5);
    EXPECT_EQ(s->pooled.n_configs, 4);
    EXPECT_TRUE(s->pooled.ci_pct.contains(expected));
    EXPECT_LT(s->pooled.p, 1e-6);
    EXPECT_TRUE(s->control_pooled.ci_pct.contains(0.0));
}

TEST(BenchStats, IdenticalDistributionsWithDriftAreNotSignificant) {
    FakeTiming timing;
    timing.noise = 0.03;
    timing.drift_per_measurement = 0.002;  // the machine slows by 0.2% per measurement
    FakeSource source(timing);
    testing::StopAfter never(1 << 30);
    const RunPlan plan = ab_plan(pp_grid({1, 2, 4}, {128, 256, 512}), 10);
    const RunOutput out = run_plan(plan, source, never, 1e-3);
    const std::vector<ConfigResult> results = analyze(out.samples, {2000, 0.05, 42});
    const std::optional<Summary> s = summarize_grid(results, 0.05);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->n_configs, 9);
    EXPECT_EQ(s->n_significant, 0);
    EXPECT_EQ(s->control_n_significant, 0);
    EXPECT_TRUE(s->pooled.ci_pct.contains(0.0));
    EXPECT_TRUE(s->control_pooled.ci_pct.contains(0.0));
    for (const ConfigResult& r : results) {
        EXPECT_EQ(*r.verdict, Verdict::NoDetectableDifference) << r.key.label();
    }
}

TEST(BenchStats, InterruptKeepsWhatWasMeasured) {
    FakeSource source(FakeTiming{});
    testing::StopAfter stop(3 * (1 + 5) + 3 * (1 + 2) + 1);  // first config, then 2 reps + 1
    const RunPlan plan = ab_plan(pp_grid({1, 2, 4}, {128}), 5);
    const RunOutput out = run_plan(plan, source, stop, 1e-3);
    EXPECT_TRUE(out.interrupted);
    ASSERT_EQ(out.samples.size(), 2u);
    EXPECT_TRUE(out.samples[0].complete);
    EXPECT_FALSE(out.samples[1].complete);
    size_t total = 0;
    for (const auto& x : out.samples[1].latency_ms) total += x.size();
    EXPECT_EQ(total, 7u);
    const std::vector<ConfigResult> results = analyze(out.samples, {500, 0.05, 1});
    EXPECT_TRUE(results[1].caching.has_value());  // two or more samples per arm
    EXPECT_FALSE(results[1].complete);
}

TEST(BenchStats, RefusedConfigurationIsSkippedWithItsReason) {
    FakeSource source(FakeTiming{});
    source.refuse({TestKind::PromptProcessing, 2, 128, 0});
    testing::StopAfter never(1 << 30);
    const RunOutput out = run_plan(ab_plan(pp_grid({1, 2}, {128}), 3), source, never, 1e-3);
    ASSERT_EQ(out.samples.size(), 1u);
    ASSERT_EQ(out.skipped.size(), 1u);
    EXPECT_NE(out.skipped[0].find("pp b=2 s=128"), std::string::npos);
    EXPECT_NE(out.skipped[0].find("refused by the test"), std::string::npos);
}

TEST(BenchStats, GridSummaryOfKnownComparisons) {
    std::vector<ConfigResult> results(3);
    const double improvements[] = {-2.0, 4.0, 1.0};
    for (int i = 0; i < 3; ++i) {
        results[i].key = {TestKind::PromptProcessing, 1 << i, 128, 0};
        Comparison c;
        c.latency_improvement_pct = improvements[i];
        c.throughput_improvement_pct = 100.0 / (1.0 - improvements[i] / 100.0) - 100.0;
        c.latency_ci_pct = {improvements[i] - 1.5, improvements[i] + 1.5};
        c.significant = i == 1;
        results[i].caching = c;
        results[i].verdict = i == 1 ? Verdict::CachedFaster : Verdict::NoDetectableDifference;
        Comparison control;
        control.latency_improvement_pct = i - 1.0;  // -1, 0, 1
        control.latency_ci_pct = {-3, 3};
        results[i].control = control;
    }
    const Summary s = *summarize_grid(results, 0.05);
    EXPECT_EQ(s.n_configs, 3);
    EXPECT_DOUBLE_EQ(s.mean_latency_improvement_pct, 1.0);
    EXPECT_DOUBLE_EQ(s.best_latency_improvement_pct, 4.0);
    EXPECT_EQ(s.best_latency_config, "pp b=2 s=128");
    EXPECT_DOUBLE_EQ(s.worst_latency_improvement_pct, -2.0);
    EXPECT_EQ(s.worst_latency_config, "pp b=1 s=128");
    EXPECT_NEAR(s.stddev_latency_improvement_pct, 3.0, 1e-12);  // deviations -3, 3, 0
    EXPECT_NEAR(s.best_throughput_improvement_pct, 100.0 / 0.96 - 100.0, 1e-12);
    EXPECT_EQ(s.n_ci_excludes_zero, 2);  // [-3.5,-0.5] and [2.5,5.5]
    EXPECT_EQ(s.n_significant, 1);
    EXPECT_EQ(s.n_cached_faster, 1);
    EXPECT_NEAR(s.control_mean_abs_change_pct, 2.0 / 3.0, 1e-12);
    EXPECT_DOUBLE_EQ(s.control_max_abs_change_pct, 1.0);
    EXPECT_DOUBLE_EQ(s.control_stddev_change_pct, 1.0);
    EXPECT_NE(s.conclusion.find("1 of 3"), std::string::npos);
    EXPECT_FALSE(summarize_grid({}, 0.05).has_value());
}

}  // namespace
}  // namespace llama::bench
