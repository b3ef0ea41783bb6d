// Scale searches shared by the K-quant and IQ4 quantizers (see quantize_search.h).

#include "kernels/quantize_search.h"

#include <algorithm>

namespace llama::kernels::detail {

namespace {
constexpr float kZeroGroup = 1e-15f;  // a group whose largest magnitude is below this is zero
}

float search_scale_min(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* min_out, float rmin, float rdelta, int nstep, bool use_mad) {
    float lo = x[0];
    float hi = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    lo = std::min(lo, 0.0f);
    if (hi == lo) {
        std::fill(L, L + n, uint8_t{0});
        *min_out = -lo;
        return 0.0f;
    }
    auto error_of = [&](float scale, float offset, const uint8_t* codes) {
        float error = 0.0f;
        for (int i = 0; i < n; ++i) {
            const float diff = scale * codes[i] + offset - x[i];
            error += weights[i] * (use_mad ? std::fabs(diff) : diff * diff);
        }
        return error;
    };
    float inverse = static_cast<float>(nmax) / (hi - lo);
    float scale = 1.0f / inverse;
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<uint8_t>(std::clamp(nearest_int(inverse * (x[i] - lo)), 0, nmax));
    }
    float best_error = error_of(scale, lo, L);
    uint8_t trial[256];
    for (int step = 0; step <= nstep; ++step) {
        inverse = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (hi - lo);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(inverse * (x[i] - lo)), 0, nmax);
            trial[i] = static_cast<uint8_t>(l);
            sum_l += weights[i] * l;
            sum_l2 += weights[i] * l * l;
            sum_xl += weights[i] * l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0.0f) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0.0f) {  // the min is only ever subtracted
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        const float error = error_of(this_scale, this_min, trial);
        if (error < best_error) {
            std::copy(trial, trial + n, L);
            best_error = error;
            scale = this_scale;
            lo = this_min;
        }
    }
    *min_out = -lo;
    return scale;
}

float search_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
    const float max = largest_magnitude(x, n);
    if (std::fabs(max) < kZeroGroup) {
        std::fill(L, L + n, int8_t{0});
        return 0.0f;
    }
    // Weighted sums sum(w x l), sum(w l^2) with w = x^2 for the codes of one inverse scale.
    auto sums = [&](float inverse, float* sum_lx, float* sum_l2, bool store) {
        *sum_lx = 0.0f;
        *sum_l2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(inverse * x[i]), -nmax, nmax - 1);
            if (store) L[i] = static_cast<int8_t>(l + nmax);
            const float w = x[i] * x[i];
            *sum_lx += w * x[i] * l;
            *sum_l2 += w * l * l;
        }
    };
    float sum_lx, sum_l2;
    sums(-static_cast<float>(nmax) / max, &sum_lx, &sum_l2, true);
    float scale = sum_l2 != 0.0f ? sum_lx / sum_l2 : 0.0f;
    float best = scale * sum_lx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        const float inverse = -(static_cast<float>(nmax) + 0.1f * step) / max;
        sums(inverse, &sum_lx, &sum_l2, false);
        if (sum_l2 > 0.0f && sum_lx * sum_lx > best * sum_l2) {
            sums(inverse, &sum_lx, &sum_l2, true);
            scale = sum_lx / sum_l2;
            best = scale * sum_lx;
        }
    }
    return scale;
}

float search_scale_symmetric_refined(int n, int nmax, const float* x, int8_t* L) {
    const float max = largest_magnitude(x, n);
    if (std::fabs(max) < kZeroGroup) {
        std::fill(L, L + n, int8_t{0});
        return 0.0f;
    }
    const float inverse = -static_cast<float>(nmax) / max;
    float sum_lx = 0.0f;
    float sum_l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(nearest_int(inverse * x[i]), -nmax, nmax - 1);
        L[i] = static_cast<int8_t>(l);
        const float w = x[i] * x[i];
        sum_lx += w * x[i] * l;
        sum_l2 += w * l * l;
    }
    // Move one code at a time to the one that best fits the scale of the others, keeping moves
    // that raise sum_lx^2 / sum_l2 (lower the weighted error at the optimal scale).
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float lx = sum_lx - w * x[i] * L[i];
            if (lx <= 0.0f) continue;
            float l2 = sum_l2 - w * L[i] * L[i];
            const int l = std::clamp(nearest_int(x[i] * l2 / lx), -nmax, nmax - 1);
            if (l == L[i]) continue;
            lx += w * x[i] * l;
            l2 += w * l * l;
            if (l2 > 0.0f && lx * lx * sum_l2 > sum_lx * sum_lx * l2) {
                L[i] = static_cast<int8_t>(l);
                sum_lx = lx;
                sum_l2 = l2;
                ++changed;
            }
        }
        if (changed == 0) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

int nearest_table_index(int n, const int8_t* values, float v) {
    if (v <= values[0]) return 0;
    if (v >= values[n - 1]) return n - 1;
    int lo = 0;
    int hi = n - 1;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < values[mid]) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return v - values[hi - 1] < values[hi] - v ? hi - 1 : hi;
}

}  // namespace llama::kernels::detail
