#pragma once

// The matrix-vector check quant_test and quant_types_test share: every path against the float dot
// product of the dequantized weights, within the bound the 8-bit activations' rounding implies.

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <iostream>
#include <span>
#include <vector>

#include "kernels/quant.h"
#include "tests/random_values.h"

namespace llama::kernels {

// w: rows x cols of `type` in data; x: cols activations.
inline void check_matvec_paths(DType type, int64_t rows, int64_t cols,
                               const std::vector<std::byte>& data, std::span<const float> x) {
    const Matrix w{type, rows, cols, data.data()};
    QuantizedActivations xq;
    quantize_activations(type, x, xq);
    // Float reference on the dequantized weights; the activations' rounding bounds the difference:
    // |sum w (x - x')| <= sum |w| * scale / 2 per activation block.
    std::vector<float> dense(rows * cols);
    dequantize_rows_quant(QuantPath::Scalar, type, data.data(), rows, cols, dense.data());
    const int64_t act_block = activation_block(type);
    std::vector<double> reference(rows), bound(rows);
    for (int64_t r = 0; r < rows; ++r) {
        double sum = 0, abs_sum = 0, err = 0;
        for (int64_t c = 0; c < cols; ++c) {
            const double wv = dense[r * cols + c];
            sum += wv * x[c];
            abs_sum += std::fabs(wv * x[c]);
            err += std::fabs(wv) * xq.scales[c / act_block] * 0.5;
        }
        reference[r] = sum;
        bound[r] = err * 1.0001 + abs_sum * 1e-5 + 1e-6;
    }
    std::vector<float> scalar(rows);
    matvec_quant(QuantPath::Scalar, w, xq, scalar);
    for (int64_t r = 0; r < rows; ++r) {
        EXPECT_NEAR(scalar[r], reference[r], bound[r]) << "scalar row " << r;
    }
    for (QuantPath path : {QuantPath::Avx2, QuantPath::Avx512Vnni}) {
        if (!quant_path_supported(path)) {
            std::cout << "skipping " << quant_path_name(path) << ": not supported by this CPU\n";
            continue;
        }
        std::vector<float> y(rows, -1.0f);
        matvec_quant(path, w, xq, y);
        for (int64_t r = 0; r < rows; ++r) {
            // The same integer sums as the scalar path; only the float accumulation order differs.
            const double scale = std::fabs(scalar[r]) + bound[r] + 1e-3;
            EXPECT_NEAR(y[r], scalar[r], 2e-5 * scale) << quant_path_name(path) << " row " << r;
        }
    }
    // The convenience form quantizes x itself and takes the best path the ISA cap allows.
    std::vector<float> y(rows);
    matvec_quant(w, x, y);
    for (int64_t r = 0; r < rows; ++r) EXPECT_NEAR(y[r], reference[r], bound[r]) << r;
}

// n_tokens activation vectors of `cols` seeded uniform values in [-1, 1), quantized for `type`.
inline std::vector<QuantizedActivations> random_quantized_tokens(DType type, int64_t cols,
                                                                 int64_t n_tokens, uint32_t seed) {
    std::vector<QuantizedActivations> xs(static_cast<size_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) {
        quantize_activations(type, test::random_floats(static_cast<size_t>(cols), seed + t), xs[t]);
    }
    return xs;
}

// Every path: each token of matmul_quant equals its own matvec_quant bit for bit, and the padding
// between the tokens' rows of y (ldy > rows) is left alone.
inline void check_matmul_matches_matvec(const Matrix& w, std::span<const QuantizedActivations> xs,
                                        int64_t ldy) {
    const auto n_tokens = static_cast<int64_t>(xs.size());
    for (QuantPath path : {QuantPath::Scalar, QuantPath::Avx2, QuantPath::Avx512Vnni}) {
        if (!quant_path_supported(path)) continue;
        std::vector<float> y(n_tokens * ldy, -7.0f);
        matmul_quant(path, w, xs, y, ldy);
        for (int64_t t = 0; t < n_tokens; ++t) {
            std::vector<float> one(w.rows);
            matvec_quant(path, w, xs[t], one);
            for (int64_t r = 0; r < w.rows; ++r) {
                EXPECT_EQ(y[t * ldy + r], one[r]) << dtype_name(w.dtype) << " token " << t;
            }
            EXPECT_EQ(y[t * ldy + w.rows], -7.0f) << "padding overwritten";
        }
    }
}

}  // namespace llama::kernels
