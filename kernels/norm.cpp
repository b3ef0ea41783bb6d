// Row-wise normalisation and activation kernels. Loops keep independent lanes so they vectorise.

#include <cassert>
#include <cmath>
#include <span>

#include "kernels/kernels.h"
#include "kernels/vec_math.h"

namespace llama::kernels {

using detail::kLanes;

void rms_norm(std::span<const float> x, std::span<const float> weight, float eps,
              std::span<float> out) {
    assert(weight.size() >= x.size() && out.size() >= x.size());
    const auto n = static_cast<int64_t>(x.size());
    const float sum_squares = detail::dot(x.data(), x.data(), n);
    const float inv_rms = 1.0f / std::sqrt(sum_squares / static_cast<float>(n) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv_rms * weight[i];
}

void softmax(std::span<float> x, int64_t n_valid) {
    const auto n = static_cast<int64_t>(x.size());
    assert(n_valid >= 1 && n_valid <= n);
    float* values = x.data();

    float lane_max[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) lane_max[l] = values[0];
    int64_t i = 0;
    for (; i + kLanes <= n_valid; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) {
            lane_max[l] = values[i + l] > lane_max[l] ? values[i + l] : lane_max[l];
        }
    }
    float max_value = values[0];
    for (; i < n_valid; ++i) max_value = values[i] > max_value ? values[i] : max_value;
    for (int64_t l = 0; l < kLanes; ++l)
        max_value = lane_max[l] > max_value ? lane_max[l] : max_value;

    float lane_sum[kLanes] = {};
    i = 0;
    for (; i + kLanes <= n_valid; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) {
            const float e = detail::exp_approx(values[i + l] - max_value);
            values[i + l] = e;
            lane_sum[l] += e;
        }
    }
    float sum = 0.0f;
    for (; i < n_valid; ++i) {
        values[i] = detail::exp_approx(values[i] - max_value);
        sum += values[i];
    }
    for (int64_t l = 0; l < kLanes; ++l) sum += lane_sum[l];

    const float inv_sum = 1.0f / sum;
    for (i = 0; i < n_valid; ++i) values[i] *= inv_sum;
    for (; i < n; ++i) values[i] = 0.0f;
}

void silu_mul(std::span<const float> gate, std::span<const float> up, std::span<float> out) {
    assert(up.size() >= gate.size() && out.size() >= gate.size());
    const auto n = static_cast<int64_t>(gate.size());
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        out[i] = g / (1.0f + detail::exp_approx(-g)) * up[i];
    }
}

}  // namespace llama::kernels
