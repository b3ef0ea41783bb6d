#pragma once

// Statistics for llama-bench: summaries of latency samples, Welch's t-test, a seeded bootstrap of
// the ratio of two means, and multiple-comparison correction. Pure functions, no I/O.

#include <cstdint>
#include <span>
#include <vector>

namespace llama::bench {

double mean(std::span<const double> x);
double median(std::span<const double> x);
// Sample standard deviation (n - 1 in the denominator); 0 for fewer than two values.
double stddev(std::span<const double> x);
double min_value(std::span<const double> x);
// Percentile q in [0, 100] by linear interpolation between order statistics (NumPy's default,
// Hyndman-Fan type 7).
double percentile(std::span<const double> x, double q);

struct SampleSummary {
    int64_t n = 0;
    double mean = 0, median = 0, stddev = 0, min = 0, p95 = 0;
};
SampleSummary summarize(std::span<const double> x);

// Regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes 6.4).
double incomplete_beta(double a, double b, double x);
// Two-sided tail probability P(|T| >= |t|) of Student's t with df degrees of freedom (df may be
// fractional, as Welch's is).
double student_t_two_sided_p(double t, double df);

// Inverse of the standard normal CDF (Acklam's rational approximation refined by one Halley step;
// accurate to ~1e-15 for p in (0, 1)).
double normal_quantile(double p);

struct WelchResult {
    double t = 0;   // (mean(b) - mean(a)) / standard error
    double df = 0;  // Welch-Satterthwaite degrees of freedom
    double p = 1;   // two-sided p-value
};
// Welch's unequal-variance t-test of mean(b) vs mean(a). Needs two values in each sample; if both
// variances are zero the p-value is 0 when the means differ and 1 when they do not.
WelchResult welch_test(std::span<const double> a, std::span<const double> b);

struct Interval {
    double low = 0, high = 0;
    bool contains(double v) const { return low <= v && v <= high; }
    bool excludes_zero() const { return !contains(0.0); }
};

// Percentile bootstrap interval for mean(b) / mean(a): each resample draws both samples anew with
// replacement (independently, as the arms are independent measurements). Deterministic for a seed.
Interval bootstrap_ratio_of_means(std::span<const double> a, std::span<const double> b,
                                  int resamples, uint64_t seed, double level = 0.95);

// Holm-Bonferroni step-down adjusted p-values (same order as the input; monotone, capped at 1).
// Controls the family-wise error rate: p_adjusted[i] < alpha rejects hypothesis i.
std::vector<double> holm_adjust(std::span<const double> p_values);

// splitmix64: a counter-based generator, used for seeded bootstrap, arm orders and fake timers.
struct SplitMix64 {
    uint64_t state;
    explicit SplitMix64(uint64_t seed) : state(seed) {}
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform integer in [0, n) (multiply-shift; bias below 2^-32 for the n used here).
    uint64_t below(uint64_t n) {
        return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    double normal();  // standard normal (Box-Muller)
};

}  // namespace llama::bench
