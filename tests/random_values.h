#pragma once

// Seeded uniform random floats for kernel tests.

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace llama::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float low = -1.0f,
                                        float high = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(low, high);
    std::vector<float> values(n);
    for (float& v : values) v = dist(rng);
    return values;
}

}  // namespace llama::test
