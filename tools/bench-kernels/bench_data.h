#pragma once

// Seeded inputs shared by the kernel micro-benchmarks.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "llama/tensor.h"

namespace llama::kernels::bench {

// n values uniform in [-1, 1), the same for the same seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> values(n);
    for (float& v : values) v = dist(rng);
    return values;
}

// Random bytes with every block's f16 scale(s) set to a small normal value.
inline std::vector<std::byte> quantized_bytes(DType dtype, int64_t rows, int64_t cols) {
    std::mt19937 rng(1);
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    const DTypeTraits& traits = dtype_traits(dtype);
    const uint16_t scale = 0x2000;  // 2^-7 as an IEEE half
    for (size_t offset = 0; offset < bytes.size(); offset += traits.block_bytes) {
        if (dtype == DType::Q6_K) {
            std::memcpy(bytes.data() + offset + 208, &scale, 2);
        } else {
            std::memcpy(bytes.data() + offset, &scale, 2);
            if (dtype == DType::Q4_K || dtype == DType::Q5_K) {
                std::memcpy(bytes.data() + offset + 2, &scale, 2);
            }
        }
    }
    return bytes;
}

}  // namespace llama::kernels::bench
