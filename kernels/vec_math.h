#pragma once

// Small inline helpers shared by the float kernels. They are written as plain loops over
// independent lanes so the compiler vectorises them for whatever ISA the build targets, without
// needing -ffast-math to reorder a single accumulator.

#include <bit>
#include <cstdint>

namespace llama::kernels::detail {

// Lanes of the partial-sum arrays: one AVX-512 register of floats.
inline constexpr int64_t kLanes = 16;

// exp(x) with ~2 ulp error over the float range, branch-free so loops calling it vectorise.
// Inputs are clamped to [-87.3, 88]: below, the result is ~1e-38 rather than 0 (negligible next
// to the 1 that a softmax row always holds); above, exp(88) ~ 1.7e38 stands in for overflow.
inline float exp_approx(float x) {
    x = x < -87.33654f ? -87.33654f : x;
    x = x > 88.0f ? 88.0f : x;
    // n = round(x / ln 2) by the add-magic trick (round to nearest even on the FPU).
    const float magic = 12582912.0f;  // 1.5 * 2^23
    const float n = (x * 1.44269504088896341f + magic) - magic;
    // r = x - n ln2, with ln2 split in two so n * ln2_hi is exact.
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    // 2^n built from its exponent bits; the clamps keep n in [-126, 127].
    const auto exponent = static_cast<int32_t>(n) + 127;
    const float scale = std::bit_cast<float>(static_cast<uint32_t>(exponent) << 23);
    return p * scale;
}

inline float dot(const float* a, const float* b, int64_t n) {
    float lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * b[i + l];
    }
    float total = 0.0f;
    for (; i < n; ++i) total += a[i] * b[i];
    for (int64_t l = 0; l < kLanes; ++l) total += lanes[l];
    return total;
}

}  // namespace llama::kernels::detail
