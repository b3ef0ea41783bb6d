// Rotary position embeddings. Angles are computed in double because position * frequency reaches
// ~1e5 radians at long contexts, where float loses several digits of the angle.

#include <cassert>
#include <cmath>
#include <span>

#include "kernels/kernels.h"

namespace llama::kernels {

void rope_angles(int64_t position, int64_t head_dim, float theta, std::span<float> cos,
                 std::span<float> sin) {
    const int64_t half = head_dim / 2;
    assert(static_cast<int64_t>(cos.size()) >= half && static_cast<int64_t>(sin.size()) >= half);
    for (int64_t i = 0; i < half; ++i) {
        const double frequency =
            std::pow(static_cast<double>(theta),
                     -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
        const double angle = static_cast<double>(position) * frequency;
        cos[i] = static_cast<float>(std::cos(angle));
        sin[i] = static_cast<float>(std::sin(angle));
    }
}

void rope(std::span<float> x, int64_t n_heads, int64_t head_dim, std::span<const float> cos,
          std::span<const float> sin, RopeLayout layout) {
    const int64_t half = head_dim / 2;
    assert(static_cast<int64_t>(x.size()) >= n_heads * head_dim);
    assert(static_cast<int64_t>(cos.size()) >= half && static_cast<int64_t>(sin.size()) >= half);
    const float* c = cos.data();
    const float* s = sin.data();
    for (int64_t h = 0; h < n_heads; ++h) {
        float* head = x.data() + h * head_dim;
        if (layout == RopeLayout::RotateHalf) {
            float* first = head;
            float* second = head + half;
            for (int64_t i = 0; i < half; ++i) {
                const float a = first[i];
                const float b = second[i];
                first[i] = a * c[i] - b * s[i];
                second[i] = a * s[i] + b * c[i];
            }
        } else {
            for (int64_t i = 0; i < half; ++i) {
                const float a = head[2 * i];
                const float b = head[2 * i + 1];
                head[2 * i] = a * c[i] - b * s[i];
                head[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    }
}

}  // namespace llama::kernels
