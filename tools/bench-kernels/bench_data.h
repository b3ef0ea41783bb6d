#pragma once

// Seeded inputs shared by the kernel micro-benchmarks.

#include <cstdint>
#include <random>
#include <vector>

namespace llama::kernels::bench {

// n values uniform in [-1, 1), the same for the same seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> values(n);
    for (float& v : values) v = dist(rng);
    return values;
}

}  // namespace llama::kernels::bench
