// engine linear() on quantized weights: whatever path a token count takes (the matrix-vector
// kernels for a few tokens, the integer GEMM above that, split over two threads), every output
// equals the single-token matrix-vector product of the same quantized activations up to float
// summation order; the dequantize + sgemm path (int_gemm off) agrees within the 8-bit
// activation quantization error. F16 weights: the f16-activation decode path against fp32.

#include "engine/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"

namespace llama {
namespace {

std::vector<std::byte> random_weights(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(type, cols) * rows));
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    const uint16_t scale = kernels::detail::f32_to_f16_scalar(0.01f);
    const int64_t block_bytes = dtype_traits(type).block_bytes;
    for (size_t offset = 0; offset < bytes.size(); offset += static_cast<size_t>(block_bytes)) {
        if (type == DType::Q6_K) {
            std::memcpy(bytes.data() + offset + 208, &scale, 2);
        } else {
            std::memcpy(bytes.data() + offset, &scale, 2);
            if (type == DType::Q4_K || type == DType::Q5_K || type == DType::Q4_1 ||
                type == DType::Q5_1) {
                std::memcpy(bytes.data() + offset + 2, &scale, 2);
            }
        }
    }
    return bytes;
}

// Row r of wf ([rows, x.size()]) times x in float64.
double exact_product(std::span<const float> wf, int64_t r, std::span<const float> x) {
    const auto cols = static_cast<int64_t>(x.size());
    double sum = 0.0;
    for (int64_t j = 0; j < cols; ++j) sum += static_cast<double>(wf[r * cols + j]) * x[j];
    return sum;
}

// sum_j |w[r][j] x[j]| over row r of the [rows, x.size()] matrix wf: the scale of the product's
// rounding.
double product_magnitude(std::span<const float> wf, int64_t r, std::span<const float> x) {
    const auto cols = static_cast<int64_t>(x.size());
    double magnitude = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
        magnitude += std::fabs(static_cast<double>(wf[r * cols + j]) * x[j]);
    }
    return magnitude;
}

class LinearQuantizedTest : public ::testing::TestWithParam<DType> {};

TEST_P(LinearQuantizedTest, EveryTokenCountMatchesTheMatrixVectorProduct) {
    const DType type = GetParam();
    const int64_t rows = 75, cols = 512;  // rows: 4 full 16-row panels and a partial one
    std::mt19937 rng(11);
    const auto bytes = random_weights(type, rows, cols, rng);
    const Matrix w{type, rows, cols, bytes.data()};
    ThreadPool pool(2);
    LinearScratch scratch;
    scratch.bf16_gemm = false;  // the paths under test, not AMX
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (const int64_t n_tokens : {1, 2, 3, 5, 16, 17, 40}) {
        std::vector<float> x(static_cast<size_t>(n_tokens * cols));
        for (float& v : x) v = dist(rng);
        std::vector<float> y(static_cast<size_t>(n_tokens * rows));
        scratch.int_gemm = true;
        linear(pool, w, x, n_tokens, y, scratch);
        const bool int16 = linear_path(w, n_tokens, scratch) == LinearPath::Int16;
        std::vector<float> y_sgemm(y.size());
        scratch.int_gemm = false;
        linear(pool, w, x, n_tokens, y_sgemm, scratch);
        std::vector<float> wf(static_cast<size_t>(rows * cols));
        kernels::dequantize_rows_quant(type, w.data, rows, cols, wf.data());
        std::vector<float> expected(static_cast<size_t>(rows));
        for (int64_t t = 0; t < n_tokens; ++t) {
            const std::span<const float> xt = std::span(x).subspan(t * cols, cols);
            kernels::matvec_quant(w, xt, expected);
            for (int64_t r = 0; r < rows; ++r) {
                const double magnitude = product_magnitude(wf, r, xt);
                const float got = y[t * rows + r];
                if (int16) {
                    // Q8_0 on 16-bit activations (no VNNI): each within half a step (max|x| /
                    // 32766) of exact, where the 8-bit ones of the matrix-vector product are not.
                    ASSERT_NEAR(got, exact_product(wf, r, xt), 1e-4 * magnitude)
                        << n_tokens << " tokens, token " << t << " row " << r;
                    continue;
                }
                ASSERT_NEAR(got, expected[r], 1e-5 * magnitude)
                    << n_tokens << " tokens, token " << t << " row " << r;
                // 8-bit activations: each value within half a step (max|x| / 254) of exact.
                ASSERT_NEAR(got, y_sgemm[t * rows + r], 0.02 * magnitude)
                    << n_tokens << " tokens, token " << t << " row " << r;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(QuantizedTypes, LinearQuantizedTest,
                         ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_1,
                                           DType::Q4_K, DType::Q5_K, DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Row-interleaved weights as the loader makes them: the small-batch kernels up to 16 (AVX2) or 32
// (AVX-512 VNNI) tokens, the integer GEMM above; every token as its own matrix-vector product.
class LinearInterleavedTest : public ::testing::TestWithParam<DType> {};

TEST_P(LinearInterleavedTest, EveryTokenCountMatchesTheMatrixVectorProduct) {
    const DType base = GetParam();
    const int64_t rows = 80, cols = 512;
    std::mt19937 rng(12);
    auto bytes = random_weights(base, rows, cols, rng);
    std::vector<float> wf(static_cast<size_t>(rows * cols));
    kernels::dequantize_rows_quant(base, bytes.data(), rows, cols, wf.data());
    kernels::interleave_matrix(base, bytes.data(), rows, cols);
    const Matrix w{kernels::interleaved_type(base), rows, cols, bytes.data()};
    ThreadPool pool(2);
    LinearScratch scratch;
    scratch.bf16_gemm = false;
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (const int64_t n_tokens : {1, 4, 16, 17, 24, 32, 33, 40}) {
        std::vector<float> x(static_cast<size_t>(n_tokens * cols));
        for (float& v : x) v = dist(rng);
        std::vector<float> y(static_cast<size_t>(n_tokens * rows));
        linear(pool, w, x, n_tokens, y, scratch);
        const bool int16 = linear_path(w, n_tokens, scratch) == LinearPath::Int16;
        std::vector<float> expected(static_cast<size_t>(rows));
        for (int64_t t = 0; t < n_tokens; ++t) {
            const std::span<const float> xt = std::span(x).subspan(t * cols, cols);
            if (int16) {  // Q8_0 on 16-bit activations: against the exact product
                for (int64_t r = 0; r < rows; ++r) {
                    expected[r] = static_cast<float>(exact_product(wf, r, xt));
                }
            } else {
                kernels::matvec_quant(w, xt, expected);
            }
            for (int64_t r = 0; r < rows; ++r) {
                const double magnitude = product_magnitude(wf, r, xt);
                ASSERT_GT(magnitude, 0.0);
                ASSERT_NEAR(y[t * rows + r], expected[r], (int16 ? 1e-4 : 1e-5) * magnitude)
                    << n_tokens << " tokens, token " << t << " row " << r;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(InterleavedTypes, LinearInterleavedTest,
                         ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// F16 weights, one and a few tokens (the matrix-vector kernels): with half_activations the
// products read x rounded to f16, within that rounding (2^-11 of each term) of the fp32 products;
// a token with a value beyond f16's range keeps the whole product in fp32, bit for bit.
TEST(LinearF16, HalfActivationsStayWithinF16RoundingAndFallBackOutOfRange) {
    const int64_t rows = 75, cols = 512;
    std::mt19937 rng(12);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<uint16_t> weights(static_cast<size_t>(rows * cols));
    std::vector<float> wf(weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
        weights[i] = kernels::detail::f32_to_f16_scalar(0.05f * dist(rng));
        wf[i] = kernels::detail::f16_to_f32_scalar(weights[i]);
    }
    const Matrix w{DType::F16, rows, cols, reinterpret_cast<const std::byte*>(weights.data())};
    ThreadPool pool(2);
    LinearScratch scratch;
    for (const int64_t n_tokens : {1, 3}) {
        std::vector<float> x(static_cast<size_t>(n_tokens * cols));
        for (float& v : x) v = 10.0f * dist(rng);
        std::vector<float> y_half(static_cast<size_t>(n_tokens * rows));
        std::vector<float> y_exact(y_half.size());
        scratch.half_activations = true;
        linear(pool, w, x, n_tokens, y_half, scratch);
        scratch.half_activations = false;
        linear(pool, w, x, n_tokens, y_exact, scratch);
        bool any_different = false;
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
                double magnitude = 0.0;
                for (int64_t j = 0; j < cols; ++j) {
                    magnitude += std::fabs(static_cast<double>(wf[r * cols + j]) * x[t * cols + j]);
                }
                const size_t i = static_cast<size_t>(t * rows + r);
                ASSERT_NEAR(y_half[i], y_exact[i], (std::ldexp(1.0, -11) + 1e-5) * magnitude)
                    << n_tokens << " tokens, token " << t << " row " << r;
                any_different |= y_half[i] != y_exact[i];
            }
        }
        EXPECT_TRUE(any_different) << "the f16 path was not taken";
        x[5] = 70000.0f;  // beyond f16's largest finite value
        scratch.half_activations = true;
        linear(pool, w, x, n_tokens, y_half, scratch);
        scratch.half_activations = false;
        linear(pool, w, x, n_tokens, y_exact, scratch);
        EXPECT_EQ(y_half, y_exact);
    }
}

// q, k and v of different types (a file whose attn_v has more bits) stay three matrices: their
// stacked product is each part's own product, side by side in every token's output row.
TEST(LinearStacked, EachPartsOutputsSitAfterThePartsBeforeIt) {
    std::mt19937 rng(5);
    const int64_t cols = 256;
    const std::vector<std::pair<DType, int64_t>> shapes{
        {DType::Q4_K, 40}, {DType::Q4_K, 24}, {DType::Q6_K, 24}};
    std::vector<std::vector<std::byte>> bytes;
    std::vector<Matrix> parts;
    int64_t total = 0;
    for (const auto& [type, rows] : shapes) {
        bytes.push_back(random_weights(type, rows, cols, rng));
        parts.push_back({type, rows, cols, bytes.back().data()});
        total += rows;
    }
    ThreadPool pool(2);
    LinearScratch scratch;
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (const int64_t n_tokens : {1, 3, 17}) {
        std::vector<float> x(static_cast<size_t>(n_tokens * cols));
        for (float& v : x) v = dist(rng);
        std::vector<float> y(static_cast<size_t>(n_tokens * total));
        linear_stacked(pool, parts, x, n_tokens, y, scratch);
        int64_t offset = 0;
        for (const Matrix& part : parts) {
            std::vector<float> own(static_cast<size_t>(n_tokens * part.rows));
            linear(pool, part, x, n_tokens, own, scratch);
            for (int64_t t = 0; t < n_tokens; ++t) {
                for (int64_t r = 0; r < part.rows; ++r) {
                    ASSERT_EQ(y[t * total + offset + r], own[t * part.rows + r])
                        << n_tokens << " tokens, token " << t << " row " << offset + r;
                }
            }
            offset += part.rows;
        }
    }
}

}  // namespace
}  // namespace llama
