#pragma once

// Seeded inputs shared by the kernel micro-benchmarks.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/quant_interleave.h"
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

// Random bytes with every block's f16 scale(s) set to a small normal value; a row-interleaved
// type's bytes are its base type's, interleaved as the loader does (rows a multiple of 16).
inline std::vector<std::byte> quantized_bytes(DType dtype, int64_t rows, int64_t cols) {
    if (is_interleaved(dtype)) {
        const DType base = interleaved_base(dtype);
        std::vector<std::byte> bytes = quantized_bytes(base, rows, cols);
        interleave_matrix(base, bytes.data(), rows, cols);
        return bytes;
    }
    std::mt19937 rng(1);
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    const DTypeTraits& traits = dtype_traits(dtype);
    const uint16_t scale = 0x2000;  // 2^-7 as an IEEE half
    for (size_t offset = 0; offset < bytes.size(); offset += traits.block_bytes) {
        // Where the block's f16 scale and (Q4_1/Q5_1/K-quants) f16 min sit.
        size_t d = 0;
        bool has_min = false;
        switch (dtype) {
            case DType::Q6_K:
                d = 208;
                break;
            case DType::Q3_K:
                d = 108;
                break;
            case DType::Q2_K:
                d = 80;
                has_min = true;
                break;
            case DType::Q4_K:
            case DType::Q5_K:
            case DType::Q4_1:
            case DType::Q5_1:
                has_min = true;
                break;
            default:
                break;
        }
        std::memcpy(bytes.data() + offset + d, &scale, 2);
        if (has_min) std::memcpy(bytes.data() + offset + d + 2, &scale, 2);
    }
    return bytes;
}

}  // namespace llama::kernels::bench
