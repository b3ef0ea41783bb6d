// Every kernel in kernels/kernels.h against a plain reference written here, mostly in double.

#include "kernels/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/matvec_impl.h"
#include "kernels/vec_math.h"
#include "llama/error.h"
#include "tests/random_values.h"

namespace llama::kernels {
namespace {

using test::random_floats;

uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }

// ---- 16-bit floats ----------------------------------------------------------------------------

// Value of a binary16 from its fields, computed in double.
double half_value_reference(uint16_t h) {
    const int sign = (h & 0x8000) ? -1 : 1;
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    if (exponent == 0) return sign * std::ldexp(static_cast<double>(mantissa), -24);
    if (exponent == 31) {
        return mantissa == 0 ? sign * std::numeric_limits<double>::infinity()
                             : std::numeric_limits<double>::quiet_NaN();
    }
    return sign * std::ldexp(static_cast<double>(1024 + mantissa), exponent - 25);
}

// Nearest half by searching the table of all non-negative finite halves; ties go to the even
// encoding. 65536 stands for inf (the next value after the largest half, 65504, with an even
// encoding 0x7c00), so halfway cases at 65520 round up to inf as IEEE requires.
uint16_t f32_to_f16_reference(float f) {
    static const std::vector<double> table = [] {
        std::vector<double> values;
        for (uint32_t h = 0; h < 0x7c00; ++h) values.push_back(half_value_reference(h));
        values.push_back(65536.0);
        return values;
    }();
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double magnitude = std::fabs(static_cast<double>(f));
    if (magnitude >= 65536.0) return sign | 0x7c00;
    const auto upper = std::lower_bound(table.begin(), table.end(), magnitude);
    auto index = static_cast<uint16_t>(upper - table.begin());
    if (*upper != magnitude && index > 0) {
        const double above = *upper - magnitude;
        const double below = magnitude - table[index - 1];
        if (below < above || (below == above && ((index - 1) & 1) == 0)) --index;
    }
    return sign | index;
}

// Nearest bfloat16 by comparing the two candidates that bracket f; ties go to even.
uint16_t f32_to_bf16_reference(float f) {
    const uint32_t bits = bits_of(f);
    const uint32_t truncated = bits & 0xffff0000u;
    if (truncated == bits) return static_cast<uint16_t>(bits >> 16);
    const uint32_t magnitude_bits = truncated & 0x7fffffffu;
    const double lower = std::fabs(static_cast<double>(std::bit_cast<float>(magnitude_bits)));
    // The candidate one bf16 ulp further from zero; past the largest finite value it is inf,
    // which sits where the next exponent would (2^128) for the purpose of rounding.
    const uint32_t next_bits = magnitude_bits + 0x10000u;
    const double upper = next_bits == 0x7f800000u
                             ? std::ldexp(1.0, 128)
                             : static_cast<double>(std::bit_cast<float>(next_bits));
    const double magnitude = std::fabs(static_cast<double>(f));
    const bool round_up =
        upper - magnitude < magnitude - lower ||
        (upper - magnitude == magnitude - lower && ((magnitude_bits >> 16) & 1) == 1);
    const uint32_t chosen = (round_up ? next_bits : magnitude_bits) | (bits & 0x80000000u);
    return static_cast<uint16_t>(chosen >> 16);
}

// Floats that exercise the rounding paths: random bit patterns, every half value and the exact
// midpoints between neighbouring halves (ties) and a hair either side, subnormals, overflow,
// infinities and NaNs.
std::vector<float> conversion_inputs() {
    std::vector<float> inputs;
    std::mt19937 rng(7);
    for (int i = 0; i < 200000; ++i)
        inputs.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        for (const uint32_t sign : {0u, 0x8000u}) {
            const double value = half_value_reference(static_cast<uint16_t>(h | sign));
            const double next = half_value_reference(static_cast<uint16_t>((h + 1) | sign));
            const double mid = h + 1 == 0x7c00 ? (sign ? -65520.0 : 65520.0) : (value + next) / 2;
            const auto mid_f = static_cast<float>(mid);
            inputs.push_back(static_cast<float>(value));
            inputs.push_back(mid_f);
            inputs.push_back(std::nextafter(mid_f, 0.0f));
            inputs.push_back(std::nextafter(mid_f, std::numeric_limits<float>::infinity()));
            inputs.push_back(std::nextafter(mid_f, -std::numeric_limits<float>::infinity()));
        }
    }
    // Float subnormals, values around 2^-25 (half of the smallest half subnormal), overflow.
    for (uint32_t b = 0; b < 4096; ++b) inputs.push_back(std::bit_cast<float>(b * 997u));
    for (const float f : {0x1.0p-25f, 0x1.000002p-25f, 0x1.fffffep-26f, 0x1.8p-24f, 0x1.8p-23f,
                          65504.0f, 65519.996f, 65520.0f, 65536.0f, 1e10f, 3.4e38f}) {
        inputs.push_back(f);
        inputs.push_back(-f);
    }
    for (const uint32_t b : {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u,
                             0x7fbfffffu, 0xff812345u, 0x7fffffffu, 0x7f7fffffu, 0x7f7f8000u,
                             0x7f7f7fffu, 0x00000001u, 0x80000001u, 0x007fffffu}) {
        inputs.push_back(std::bit_cast<float>(b));
    }
    return inputs;
}

TEST(Fp16, F16ToF32MatchesFieldDecodingForAllHalves) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float converted = f16_to_f32(static_cast<uint16_t>(h));
        const double expected = half_value_reference(static_cast<uint16_t>(h));
        if (std::isnan(expected)) {
            ASSERT_TRUE(std::isnan(converted)) << std::hex << h;
            // Quiet, sign and payload kept.
            ASSERT_EQ(bits_of(converted),
                      ((h & 0x8000u) << 16) | 0x7fc00000u | ((h & 0x3ffu) << 13))
                << std::hex << h;
        } else {
            ASSERT_EQ(static_cast<double>(converted), expected) << std::hex << h;
            ASSERT_EQ(std::signbit(converted), (h & 0x8000u) != 0) << std::hex << h;
        }
    }
}

TEST(Fp16, BulkF16ToF32MatchesScalarForAllHalves) {
    std::vector<uint16_t> halves(65536 + 13);  // odd length exercises the scalar tail
    for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i * 40503u);
    for (uint32_t h = 0; h < 65536; ++h) halves[h] = static_cast<uint16_t>(h);
    std::vector<float> bulk(halves.size());
    f16_to_f32(halves, bulk);
    for (size_t i = 0; i < halves.size(); ++i) {
        ASSERT_EQ(bits_of(bulk[i]), bits_of(f16_to_f32(halves[i]))) << std::hex << halves[i];
    }
}

TEST(Fp16, F32ToF16RoundTripsEveryHalf) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = f16_to_f32(static_cast<uint16_t>(h));
        const uint16_t back = f32_to_f16(f);
        if (std::isnan(f)) {
            ASSERT_EQ(back, h | 0x200u) << std::hex << h;  // quiet bit set, payload kept
        } else {
            ASSERT_EQ(back, h) << std::hex << h;
        }
    }
}

TEST(Fp16, F32ToF16RoundsToNearestEven) {
    for (const float f : conversion_inputs()) {
        if (std::isnan(f)) {
            const uint16_t h = f32_to_f16(f);
            EXPECT_EQ(h & 0x7e00u, 0x7e00u) << std::hex << bits_of(f);
            EXPECT_EQ((h & 0x8000u) != 0, std::signbit(f));
            continue;
        }
        ASSERT_EQ(f32_to_f16(f), f32_to_f16_reference(f)) << std::hex << bits_of(f) << " " << f;
    }
}

TEST(Fp16, BulkF32ToF16MatchesScalar) {
    const std::vector<float> inputs = conversion_inputs();
    std::vector<uint16_t> bulk(inputs.size());
    f32_to_f16(inputs, bulk);
    for (size_t i = 0; i < inputs.size(); ++i) {
        ASSERT_EQ(bulk[i], f32_to_f16(inputs[i])) << std::hex << bits_of(inputs[i]);
    }
}

TEST(Bf16, ConvertsToF32ByWidening) {
    for (uint32_t h = 0; h < 65536; ++h) {
        ASSERT_EQ(bits_of(bf16_to_f32(static_cast<uint16_t>(h))), h << 16);
    }
}

TEST(Bf16, F32ToBf16RoundsToNearestEven) {
    for (const float f : conversion_inputs()) {
        const uint16_t h = f32_to_bf16(f);
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(bf16_to_f32(h))) << std::hex << bits_of(f);
            EXPECT_EQ(h, (bits_of(f) >> 16) | 0x40u);
            continue;
        }
        ASSERT_EQ(h, f32_to_bf16_reference(f)) << std::hex << bits_of(f) << " " << f;
    }
}

TEST(Bf16, BulkConversionsMatchScalar) {
    const std::vector<float> inputs = conversion_inputs();
    std::vector<uint16_t> narrowed(inputs.size());
    f32_to_bf16(inputs, narrowed);
    for (size_t i = 0; i < inputs.size(); ++i) {
        ASSERT_EQ(narrowed[i], f32_to_bf16(inputs[i])) << std::hex << bits_of(inputs[i]);
    }
    std::vector<uint16_t> halves(65536 + 5);
    for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i);
    std::vector<float> widened(halves.size());
    bf16_to_f32(halves, widened);
    for (size_t i = 0; i < halves.size(); ++i) {
        ASSERT_EQ(bits_of(widened[i]), bits_of(bf16_to_f32(halves[i])));
    }
}

// ---- Normalisation and activations ----------------------------------------------------------

TEST(ExpApprox, IsWithinAFewUlpsOfStdExp) {
    double worst = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
        const double expected = std::exp(static_cast<double>(x));
        worst = std::max(worst, std::fabs(detail::exp_approx(x) - expected) / expected);
    }
    EXPECT_LT(worst, 4e-7);  // about 3 ulp
    EXPECT_LT(detail::exp_approx(-1000.0f), 1e-37f);
    EXPECT_GT(detail::exp_approx(1000.0f), 1e38f);
}

TEST(RmsNorm, MatchesDoubleReference) {
    for (const size_t n : {1u, 7u, 64u, 4096u, 4099u}) {
        const auto x = random_floats(n, 1 + n, -3.0f, 3.0f);
        const auto weight = random_floats(n, 2 + n, 0.5f, 1.5f);
        const float eps = 1e-5f;
        std::vector<float> out(n);
        rms_norm(x, weight, eps, out);
        double sum_squares = 0;
        for (const float v : x) sum_squares += static_cast<double>(v) * v;
        const double inv_rms = 1.0 / std::sqrt(sum_squares / static_cast<double>(n) + eps);
        for (size_t i = 0; i < n; ++i) {
            const double expected = x[i] * inv_rms * weight[i];
            EXPECT_NEAR(out[i], expected, 2e-6 * std::fabs(expected) + 1e-7) << n << " " << i;
        }
    }
}

TEST(Softmax, MatchesDoubleReferenceAndMasksTheTail) {
    for (const size_t n : {1u, 5u, 16u, 33u, 1000u}) {
        for (const size_t n_valid : {size_t{1}, (n + 1) / 2, n}) {
            auto x = random_floats(n, static_cast<uint32_t>(n * 31 + n_valid), -30.0f, 30.0f);
            const auto input = x;
            softmax(x, static_cast<int64_t>(n_valid));
            double max_value = -1e300;
            for (size_t i = 0; i < n_valid; ++i) max_value = std::max<double>(max_value, input[i]);
            double sum = 0;
            for (size_t i = 0; i < n_valid; ++i) sum += std::exp(input[i] - max_value);
            for (size_t i = 0; i < n_valid; ++i) {
                const double expected = std::exp(input[i] - max_value) / sum;
                // x - max is rounded to float before exp, a relative error of |x - max| * eps.
                const double tolerance =
                    (2e-6 + std::fabs(input[i] - max_value) * 1.2e-7) * expected;
                EXPECT_NEAR(x[i], expected, tolerance + 1e-30) << n << " " << i;
            }
            for (size_t i = n_valid; i < n; ++i) EXPECT_EQ(x[i], 0.0f);
        }
    }
}

TEST(Softmax, HandlesHugeRangesWithoutOverflow) {
    std::vector<float> x = {1000.0f, -1000.0f, 999.0f, 0.0f};
    softmax(x, 4);
    const double e = std::exp(-1.0);
    EXPECT_NEAR(x[0], 1.0 / (1.0 + e), 1e-6);
    EXPECT_NEAR(x[2], e / (1.0 + e), 1e-6);
    EXPECT_NEAR(x[1], 0.0, 1e-30);
    EXPECT_NEAR(x[3], 0.0, 1e-30);
}

TEST(SiluMul, MatchesDoubleReference) {
    for (const size_t n : {1u, 17u, 11008u}) {
        auto gate = random_floats(n, 5 + n, -12.0f, 12.0f);
        gate[0] = -100.0f;  // exp(-g) far past float range
        if (n > 1) gate[1] = 100.0f;
        const auto up = random_floats(n, 6 + n, -2.0f, 2.0f);
        std::vector<float> out(n);
        silu_mul(gate, up, out);
        for (size_t i = 0; i < n; ++i) {
            const double g = gate[i];
            const double expected = g / (1.0 + std::exp(-g)) * up[i];
            EXPECT_NEAR(out[i], expected, 2e-6 * std::fabs(expected) + 1e-30) << i << " " << g;
        }
    }
}

// ---- Rotary position embeddings --------------------------------------------------------------

TEST(Rope, AnglesMatchDoubleReference) {
    for (const int64_t position : {0, 1, 17, 4095, 100000}) {
        for (const int64_t head_dim : {64, 128}) {
            const float theta = position == 17 ? 500000.0f : 10000.0f;
            std::vector<float> cos(head_dim / 2), sin(head_dim / 2);
            rope_angles(position, head_dim, theta, cos, sin);
            for (int64_t i = 0; i < head_dim / 2; ++i) {
                const double angle =
                    static_cast<double>(position) *
                    std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / head_dim);
                EXPECT_NEAR(cos[i], std::cos(angle), 1e-7) << position << " " << i;
                EXPECT_NEAR(sin[i], std::sin(angle), 1e-7) << position << " " << i;
            }
        }
    }
}

void rope_reference(std::vector<float>& x, int64_t n_heads, int64_t head_dim, int64_t position,
                    float theta, RopeLayout layout) {
    const int64_t half = head_dim / 2;
    for (int64_t h = 0; h < n_heads; ++h) {
        for (int64_t i = 0; i < half; ++i) {
            const double angle =
                position * std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
            const int64_t ia = h * head_dim + (layout == RopeLayout::RotateHalf ? i : 2 * i);
            const int64_t ib =
                h * head_dim + (layout == RopeLayout::RotateHalf ? i + half : 2 * i + 1);
            const double a = x[ia], b = x[ib];
            x[ia] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
            x[ib] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
        }
    }
}

TEST(Rope, BothLayoutsMatchReference) {
    const int64_t n_heads = 3, head_dim = 64, position = 123;
    const float theta = 10000.0f;
    std::vector<float> cos(head_dim / 2), sin(head_dim / 2);
    rope_angles(position, head_dim, theta, cos, sin);
    for (const RopeLayout layout : {RopeLayout::RotateHalf, RopeLayout::Interleaved}) {
        auto x = random_floats(n_heads * head_dim, 11);
        auto expected = x;
        rope(x, n_heads, head_dim, cos, sin, layout);
        rope_reference(expected, n_heads, head_dim, position, theta, layout);
        for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], expected[i], 1e-6) << i;
    }
}

// Hugging Face's converter permutes q/k projection rows so that, within each head, the pair
// (2i, 2i+1) of the Meta layout lands at (i, i + head_dim/2). Rotating either layout must give
// the same values up to that permutation.
TEST(Rope, RotateHalfOnPermutedInputEqualsInterleaved) {
    const int64_t n_heads = 4, head_dim = 128, half = head_dim / 2;
    std::vector<float> cos(half), sin(half);
    rope_angles(77, head_dim, 10000.0f, cos, sin);
    auto to_rotate_half = [&](const std::vector<float>& interleaved) {
        std::vector<float> permuted(interleaved.size());
        for (int64_t h = 0; h < n_heads; ++h) {
            for (int64_t i = 0; i < half; ++i) {
                for (int64_t j = 0; j < 2; ++j) {
                    permuted[h * head_dim + j * half + i] = interleaved[h * head_dim + 2 * i + j];
                }
            }
        }
        return permuted;
    };
    auto meta = random_floats(n_heads * head_dim, 12);
    auto hf = to_rotate_half(meta);
    rope(meta, n_heads, head_dim, cos, sin, RopeLayout::Interleaved);
    rope(hf, n_heads, head_dim, cos, sin, RopeLayout::RotateHalf);
    const auto meta_permuted = to_rotate_half(meta);
    for (size_t i = 0; i < hf.size(); ++i) EXPECT_NEAR(hf[i], meta_permuted[i], 1e-6) << i;
}

// ---- Attention -------------------------------------------------------------------------------

struct AttentionCase {
    int64_t n_heads, n_kv_heads, head_dim, n_q, q_pos0;
    int64_t q_pad, kv_pad, out_pad;  // extra columns past the data in each row
    int64_t head_begin, head_end;
};

// Element type of the K/V cache rows the kernel reads.
enum class CacheElement { F32, F16 };

void check_attention(const AttentionCase& c, CacheElement element) {
    SCOPED_TRACE(testing::Message()
                 << (element == CacheElement::F16 ? "f16" : "f32") << " cache, heads " << c.n_heads
                 << "/" << c.n_kv_heads << " n_q " << c.n_q << " q_pos0 " << c.q_pos0 << " range ["
                 << c.head_begin << "," << c.head_end << ")");
    const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim,
                               c.n_q,     c.q_pos0,     c.q_pos0 + c.n_q};
    const int64_t q_stride = c.n_heads * c.head_dim + c.q_pad;
    const int64_t kv_stride = c.n_kv_heads * c.head_dim + c.kv_pad;
    const int64_t out_stride = c.n_heads * c.head_dim + c.out_pad;
    const auto q = random_floats(c.n_q * q_stride, 21, -2.0f, 2.0f);
    auto k = random_floats(shape.n_kv * kv_stride, 22, -2.0f, 2.0f);
    auto v = random_floats(shape.n_kv * kv_stride, 23);
    const float sentinel = 12345.0f;
    std::vector<float> out(c.n_q * out_stride, sentinel);
    std::vector<float> scratch(attention_scratch_size(shape));
    if (element == CacheElement::F16) {
        // The kernel reads the half bits; the reference below uses the same values widened, so
        // only the kernel's own arithmetic separates the two.
        std::vector<uint16_t> k_half(k.size()), v_half(v.size());
        for (size_t i = 0; i < k.size(); ++i) {
            k_half[i] = f32_to_f16(k[i]);
            v_half[i] = f32_to_f16(v[i]);
            k[i] = f16_to_f32(k_half[i]);
            v[i] = f16_to_f32(v_half[i]);
        }
        attention(shape, c.head_begin, c.head_end, q, q_stride, std::span<const uint16_t>(k_half),
                  std::span<const uint16_t>(v_half), kv_stride, out, out_stride, scratch);
    } else {
        attention(shape, c.head_begin, c.head_end, q, q_stride, k, v, kv_stride, out, out_stride,
                  scratch);
    }

    const int64_t group = c.n_heads / c.n_kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    for (int64_t i = 0; i < c.n_q; ++i) {
        for (int64_t h = 0; h < c.n_heads; ++h) {
            float* out_h = &out[i * out_stride + h * c.head_dim];
            if (h < c.head_begin || h >= c.head_end) {
                for (int64_t d = 0; d < c.head_dim; ++d) ASSERT_EQ(out_h[d], sentinel);
                continue;
            }
            const int64_t g = h / group;
            const int64_t n_valid = c.q_pos0 + i + 1;
            std::vector<double> weights(n_valid);
            double max_score = -1e300;
            for (int64_t j = 0; j < n_valid; ++j) {
                double score = 0;
                for (int64_t d = 0; d < c.head_dim; ++d) {
                    score += static_cast<double>(q[i * q_stride + h * c.head_dim + d]) *
                             k[j * kv_stride + g * c.head_dim + d];
                }
                weights[j] = score * scale;
                max_score = std::max(max_score, weights[j]);
            }
            double sum = 0;
            for (double& w : weights) sum += (w = std::exp(w - max_score));
            for (int64_t d = 0; d < c.head_dim; ++d) {
                double expected = 0;
                for (int64_t j = 0; j < n_valid; ++j) {
                    expected += weights[j] / sum * v[j * kv_stride + g * c.head_dim + d];
                }
                ASSERT_NEAR(out_h[d], expected, 2e-5)
                    << "query " << i << " head " << h << " d " << d;
            }
        }
        for (int64_t col = c.n_heads * c.head_dim; col < out_stride; ++col) {
            ASSERT_EQ(out[i * out_stride + col], sentinel);
        }
    }
}

void check_attention(const AttentionCase& c) {
    check_attention(c, CacheElement::F32);
    check_attention(c, CacheElement::F16);
}

TEST(Attention, MultiHeadSingleQuery) { check_attention({4, 4, 64, 1, 9, 0, 0, 0, 0, 4}); }
TEST(Attention, MultiHeadFirstToken) { check_attention({4, 4, 64, 1, 0, 0, 0, 0, 0, 4}); }
TEST(Attention, MultiHeadPromptFromEmptyCache) { check_attention({4, 4, 64, 7, 0, 0, 0, 0, 0, 4}); }
TEST(Attention, GroupedQuerySingleQuery) { check_attention({8, 2, 64, 1, 12, 0, 0, 0, 0, 8}); }
TEST(Attention, GroupedQueryPromptAfterCachedRows) {
    check_attention({8, 2, 64, 7, 5, 0, 0, 0, 0, 8});
}
TEST(Attention, PaddedStrides) {
    check_attention({8, 2, 32, 7, 5, 8, 40, 24, 0, 8});
    check_attention({8, 2, 32, 1, 5, 8, 40, 24, 0, 8});
}
TEST(Attention, HeadSubRangeWritesOnlyThoseHeads) {
    check_attention({8, 2, 32, 7, 3, 4, 16, 8, 3, 6});
    check_attention({8, 2, 32, 1, 3, 4, 16, 8, 3, 6});
    check_attention({8, 8, 16, 3, 2, 0, 0, 0, 7, 8});
}
TEST(Attention, LargeGroupSplitsIntoBatches) {
    check_attention({16, 1, 32, 1, 10, 0, 0, 0, 0, 16});
    check_attention({16, 1, 32, 1, 10, 0, 0, 0, 5, 14});
}
TEST(Attention, OddHeadDim) {
    check_attention({6, 3, 24, 5, 6, 1, 3, 2, 0, 6});
    check_attention({6, 3, 24, 1, 6, 1, 3, 2, 0, 6});
}
// Prompts longer than a query block: each block against the keys up to its last query.
TEST(Attention, LongPromptInQueryBlocks) {
    check_attention({4, 2, 64, 150, 0, 0, 0, 0, 0, 4});
    check_attention({4, 2, 32, 130, 20, 8, 40, 24, 1, 3});
    check_attention({2, 2, 16, 64, 0, 0, 0, 0, 0, 2});
}
// Longer caches: decode takes rows in blocks, then the rest one by one.
TEST(Attention, LongCacheOfLlamaHeads) {
    check_attention({4, 2, 128, 1, 300, 0, 0, 0, 0, 4});
    check_attention({4, 4, 128, 1, 300, 0, 8, 0, 1, 3});
    check_attention({4, 4, 128, 9, 291, 0, 0, 0, 1, 3});
}
TEST(Attention, LongCacheOddHeadDim) {
    check_attention({6, 3, 24, 1, 40, 1, 3, 2, 1, 5});
    check_attention({6, 6, 20, 1, 40, 0, 0, 0, 0, 6});
}

// ---- Weights ---------------------------------------------------------------------------------

// Raw bytes of a [rows, cols] matrix of the given plain float type, and its values widened.
struct TestMatrix {
    std::vector<std::byte> bytes;
    std::vector<float> values;
    Matrix view(DType dtype, int64_t rows, int64_t cols) const {
        return {dtype, rows, cols, bytes.data()};
    }
};

TestMatrix make_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
    const auto source = random_floats(static_cast<size_t>(rows * cols), seed);
    TestMatrix m;
    m.values.resize(source.size());
    if (dtype == DType::F32) {
        m.bytes.resize(source.size() * 4);
        std::memcpy(m.bytes.data(), source.data(), m.bytes.size());
        m.values = source;
    } else {
        std::vector<uint16_t> narrowed(source.size());
        for (size_t i = 0; i < source.size(); ++i) {
            narrowed[i] = dtype == DType::F16 ? f32_to_f16(source[i]) : f32_to_bf16(source[i]);
            m.values[i] = dtype == DType::F16 ? f16_to_f32(narrowed[i]) : bf16_to_f32(narrowed[i]);
        }
        m.bytes.resize(narrowed.size() * 2);
        std::memcpy(m.bytes.data(), narrowed.data(), m.bytes.size());
    }
    return m;
}

constexpr DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};

TEST(DequantizeRows, WidensPlainFloatTypes) {
    for (const DType dtype : kFloatTypes) {
        const int64_t rows = 3, cols = 37;
        const TestMatrix m = make_matrix(dtype, rows, cols, 31);
        std::vector<float> out(rows * cols);
        dequantize_rows(dtype, m.bytes.data(), rows, cols, out);
        for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], m.values[i]) << dtype_name(dtype);
    }
}

TEST(DequantizeRows, RejectsShortOutput) {
    const TestMatrix m = make_matrix(DType::F16, 2, 8, 32);
    std::vector<float> out(15);
    EXPECT_THROW(dequantize_rows(DType::F16, m.bytes.data(), 2, 8, out), Error);
}

void check_matvec_path(detail::MatvecPath path) {
    if (!detail::matvec_path_available(path)) {
        GTEST_SKIP() << detail::matvec_path_name(path) << " is not compiled into this build";
    }
    for (const DType dtype : kFloatTypes) {
        for (const int64_t cols : {4096, 4111, 96, 40, 17, 1}) {
            const int64_t max_rows = 37;
            const TestMatrix m = make_matrix(dtype, max_rows, cols, static_cast<uint32_t>(cols));
            const auto x = random_floats(cols, 41 + static_cast<uint32_t>(cols));
            for (int64_t rows = 1; rows <= max_rows; ++rows) {
                // A slice starting at row 1 checks rows are found through the row stride.
                const int64_t first = rows < max_rows ? 1 : 0;
                const Matrix w = m.view(dtype, max_rows, cols).slice_rows(first, rows);
                std::vector<float> y(rows + 1, -7.0f);
                detail::matvec_float(path, w, x, y);
                for (int64_t r = 0; r < rows; ++r) {
                    double expected = 0, magnitude = 0;
                    for (int64_t c = 0; c < cols; ++c) {
                        const double term =
                            static_cast<double>(m.values[(first + r) * cols + c]) * x[c];
                        expected += term;
                        magnitude += std::fabs(term);
                    }
                    ASSERT_NEAR(y[r], expected, 1e-5 * magnitude + 1e-12)
                        << dtype_name(dtype) << " cols " << cols << " rows " << rows << " row "
                        << r;
                }
                ASSERT_EQ(y[rows], -7.0f) << "wrote past the last row";
            }
        }
    }
}

TEST(Matvec, ScalarPathMatchesDoubleReference) { check_matvec_path(detail::MatvecPath::Scalar); }
TEST(Matvec, Avx2PathMatchesDoubleReference) { check_matvec_path(detail::MatvecPath::Avx2); }
TEST(Matvec, Avx512PathMatchesDoubleReference) { check_matvec_path(detail::MatvecPath::Avx512); }

TEST(Matvec, DispatchUsesTheBestPath) {
    const int64_t rows = 9, cols = 4096;
    for (const DType dtype : kFloatTypes) {
        const TestMatrix m = make_matrix(dtype, rows, cols, 51);
        const auto x = random_floats(cols, 52);
        std::vector<float> y(rows), expected(rows);
        matvec(m.view(dtype, rows, cols), x, y);
        detail::matvec_float(detail::best_matvec_path(), m.view(dtype, rows, cols), x, expected);
        for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(y[r], expected[r]);
    }
}

TEST(Matvec, RejectsShortVectors) {
    const TestMatrix m = make_matrix(DType::F32, 4, 32, 61);
    std::vector<float> x(32), y(4);
    std::vector<float> short_x(31), short_y(3);
    EXPECT_THROW(matvec(m.view(DType::F32, 4, 32), short_x, y), Error);
    EXPECT_THROW(matvec(m.view(DType::F32, 4, 32), x, short_y), Error);
}

// F16 weights times activations already rounded to f16: every path against the double product
// of the widened values (the rounding of x is the caller's, so the reference uses the same x).
void check_matvec_half_path(detail::MatvecPath path) {
    if (!detail::matvec_path_available(path)) {
        GTEST_SKIP() << detail::matvec_path_name(path) << " is not compiled into this build";
    }
    for (const int64_t cols : {4096, 4111, 96, 40, 17, 1}) {
        const int64_t max_rows = 37;
        const TestMatrix m =
            make_matrix(DType::F16, max_rows, cols, 70 + static_cast<uint32_t>(cols));
        const auto x = random_floats(cols, 71 + static_cast<uint32_t>(cols));
        std::vector<uint16_t> x_half(cols);
        ASSERT_TRUE(round_to_f16(x, x_half));
        for (int64_t rows = 1; rows <= max_rows; rows += 6) {
            const int64_t first = rows < max_rows ? 1 : 0;
            const Matrix w = m.view(DType::F16, max_rows, cols).slice_rows(first, rows);
            std::vector<float> y(rows + 1, -7.0f);
            detail::matvec_half(path, w, x_half, y);
            for (int64_t r = 0; r < rows; ++r) {
                double expected = 0, magnitude = 0;
                for (int64_t c = 0; c < cols; ++c) {
                    const double term = static_cast<double>(m.values[(first + r) * cols + c]) *
                                        f16_to_f32(x_half[c]);
                    expected += term;
                    magnitude += std::fabs(term);
                }
                ASSERT_NEAR(y[r], expected, 1e-5 * magnitude + 1e-12)
                    << "cols " << cols << " rows " << rows << " row " << r;
            }
            ASSERT_EQ(y[rows], -7.0f) << "wrote past the last row";
        }
    }
}

TEST(MatvecHalf, ScalarPathMatchesDoubleReference) {
    check_matvec_half_path(detail::MatvecPath::Scalar);
}
TEST(MatvecHalf, Avx2PathMatchesDoubleReference) {
    check_matvec_half_path(detail::MatvecPath::Avx2);
}
TEST(MatvecHalf, Avx512PathMatchesDoubleReference) {
    check_matvec_half_path(detail::MatvecPath::Avx512);
}

TEST(MatvecHalf, DispatchUsesTheBestPathAndOnlyTakesF16) {
    const int64_t rows = 9, cols = 4096;
    const TestMatrix m = make_matrix(DType::F16, rows, cols, 72);
    const auto x = random_floats(cols, 73);
    std::vector<uint16_t> x_half(cols);
    ASSERT_TRUE(round_to_f16(x, x_half));
    std::vector<float> y(rows), expected(rows);
    matvec(m.view(DType::F16, rows, cols), std::span<const uint16_t>(x_half), y);
    detail::matvec_half(detail::best_matvec_path(), m.view(DType::F16, rows, cols), x_half,
                        expected);
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(y[r], expected[r]);
    const TestMatrix bf16 = make_matrix(DType::BF16, rows, cols, 74);
    EXPECT_THROW(matvec(bf16.view(DType::BF16, rows, cols), std::span<const uint16_t>(x_half), y),
                 Error);
    std::vector<uint16_t> short_x(cols - 1);
    EXPECT_THROW(matvec(m.view(DType::F16, rows, cols), std::span<const uint16_t>(short_x), y),
                 Error);
}

TEST(RoundToF16, RoundsLikeF32ToF16AndRefusesValuesOutOfRange) {
    auto x = random_floats(1000, 75);
    x[3] = 65504.0f;
    x[4] = -65504.0f;
    std::vector<uint16_t> out(x.size()), expected(x.size());
    ASSERT_TRUE(round_to_f16(x, out));
    f32_to_f16(x, expected);
    EXPECT_EQ(out, expected);
    for (const float bad : {65536.0f, -1e6f, std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()}) {
        auto with_bad = x;
        with_bad[999] = bad;
        EXPECT_FALSE(round_to_f16(with_bad, out)) << bad;
    }
}

}  // namespace
}  // namespace llama::kernels
