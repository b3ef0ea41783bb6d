#include "tools/llama-bench/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "llama/error.h"

namespace llama::bench {

namespace {

void require_values(std::span<const double> x, const char* what) {
    if (x.empty()) throw Error(std::string(what) + " of an empty sample");
}

std::vector<double> sorted(std::span<const double> x) {
    std::vector<double> v(x.begin(), x.end());
    std::sort(v.begin(), v.end());
    return v;
}

double percentile_of_sorted(const std::vector<double>& v, double q) {
    const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double variance(std::span<const double> x) {
    if (x.size() < 2) return 0.0;
    const double m = mean(x);
    double ss = 0;
    for (double v : x) ss += (v - m) * (v - m);
    return ss / static_cast<double>(x.size() - 1);
}

// Continued fraction of the incomplete beta function by the modified Lentz method.
double beta_continued_fraction(double a, double b, double x) {
    constexpr int kMaxIterations = 1000;
    constexpr double kEpsilon = 1e-15;
    constexpr double kTiny = 1e-300;
    const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0;
    double d = 1.0 - qab * x / qap;
    if (std::fabs(d) < kTiny) d = kTiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= kMaxIterations; ++m) {
        const double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (std::fabs(d) < kTiny) d = kTiny;
        c = 1.0 + aa / c;
        if (std::fabs(c) < kTiny) c = kTiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (std::fabs(d) < kTiny) d = kTiny;
        c = 1.0 + aa / c;
        if (std::fabs(c) < kTiny) c = kTiny;
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::fabs(delta - 1.0) < kEpsilon) break;
    }
    return h;
}

}  // namespace

double mean(std::span<const double> x) {
    require_values(x, "mean");
    return std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double median(std::span<const double> x) { return percentile(x, 50.0); }

double stddev(std::span<const double> x) {
    require_values(x, "standard deviation");
    return std::sqrt(variance(x));
}

double min_value(std::span<const double> x) {
    require_values(x, "minimum");
    return *std::min_element(x.begin(), x.end());
}

double percentile(std::span<const double> x, double q) {
    require_values(x, "percentile");
    if (!(q >= 0.0 && q <= 100.0)) throw Error("percentile must be in [0, 100]");
    return percentile_of_sorted(sorted(x), q);
}

SampleSummary summarize(std::span<const double> x) {
    require_values(x, "summary");
    const std::vector<double> v = sorted(x);
    SampleSummary s;
    s.n = static_cast<int64_t>(v.size());
    s.mean = mean(v);
    s.median = percentile_of_sorted(v, 50.0);
    s.stddev = stddev(v);
    s.min = v.front();
    s.p95 = percentile_of_sorted(v, 95.0);
    return s;
}

double incomplete_beta(double a, double b, double x) {
    if (!(a > 0 && b > 0)) throw Error("incomplete beta needs a > 0 and b > 0");
    if (!(x >= 0.0 && x <= 1.0)) throw Error("incomplete beta needs x in [0, 1]");
    if (x == 0.0 || x == 1.0) return x;
    const double log_front =
        std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
    const double front = std::exp(log_front);
    // The continued fraction converges fast only for x below the mean of the distribution; use
    // the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) above it.
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
    return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_two_sided_p(double t, double df) {
    if (!(df > 0)) throw Error("Student's t needs df > 0");
    if (std::isinf(t)) return 0.0;
    if (std::isnan(t)) return 1.0;
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

double normal_quantile(double p) {
    if (!(p > 0.0 && p < 1.0)) throw Error("normal quantile needs p in (0, 1)");
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    constexpr double kLow = 0.02425;
    double x;
    if (p < kLow) {
        const double q = std::sqrt(-2 * std::log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - kLow) {
        const double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        const double q = std::sqrt(-2 * std::log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    // One Halley step against the exact CDF.
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

WelchResult welch_test(std::span<const double> a, std::span<const double> b) {
    if (a.size() < 2 || b.size() < 2) throw Error("Welch's t-test needs two values per sample");
    const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
    const double va = variance(a) / na, vb = variance(b) / nb;
    const double diff = mean(b) - mean(a);
    WelchResult r;
    const double se2 = va + vb;
    if (se2 == 0.0) {
        r.t = diff == 0.0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), diff);
        r.df = na + nb - 2.0;
        r.p = diff == 0.0 ? 1.0 : 0.0;
        return r;
    }
    r.t = diff / std::sqrt(se2);
    r.df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    r.p = student_t_two_sided_p(r.t, r.df);
    return r;
}

Interval bootstrap_ratio_of_means(std::span<const double> a, std::span<const double> b,
                                  int resamples, uint64_t seed, double level) {
    require_values(a, "bootstrap");
    require_values(b, "bootstrap");
    if (resamples < 10) throw Error("bootstrap needs at least 10 resamples");
    if (!(level > 0.0 && level < 1.0)) throw Error("confidence level must be in (0, 1)");
    SplitMix64 rng(seed);
    auto resampled_mean = [&rng](std::span<const double> x) {
        double sum = 0;
        for (size_t i = 0; i < x.size(); ++i) sum += x[rng.below(x.size())];
        return sum / static_cast<double>(x.size());
    };
    std::vector<double> ratios(static_cast<size_t>(resamples));
    for (double& ratio : ratios) {
        const double ma = resampled_mean(a);
        ratio = resampled_mean(b) / ma;
    }
    std::sort(ratios.begin(), ratios.end());
    const double tail = (1.0 - level) / 2.0 * 100.0;
    return {percentile_of_sorted(ratios, tail), percentile_of_sorted(ratios, 100.0 - tail)};
}

std::vector<double> holm_adjust(std::span<const double> p_values) {
    const size_t m = p_values.size();
    std::vector<size_t> order(m);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t i, size_t j) { return p_values[i] < p_values[j]; });
    std::vector<double> adjusted(m);
    double running_max = 0.0;
    for (size_t rank = 0; rank < m; ++rank) {
        const size_t i = order[rank];
        const double scaled = std::min(1.0, static_cast<double>(m - rank) * p_values[i]);
        running_max = std::max(running_max, scaled);
        adjusted[i] = running_max;
    }
    return adjusted;
}

double SplitMix64::normal() {
    // Box-Muller; 1 - uniform() is in (0, 1] so the logarithm is finite.
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace llama::bench
