// The quantized types beyond Q8_0/Q4_0/Q4_K/Q5_K/Q6_K (Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q2_K,
// Q3_K): dequantization element by element against decoders written here from the format
// definitions, every matvec path against the float dot product of the dequantized weights, the
// quantizers' rounding (ggml's for Q4_1/Q5_0/Q5_1, bounded error for the searched types), and
// quantize -> dequantize error that falls as the bits rise.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/fp16_scalar.h"
#include "kernels/quant.h"
#include "llama/error.h"
#include "tests/quant_matvec_check.h"

namespace llama::kernels {
namespace {

using detail::f16_to_f32_scalar;
using detail::f32_to_f16_scalar;

constexpr DType kNewTypes[] = {DType::Q4_1,   DType::Q5_0, DType::Q5_1, DType::IQ4_NL,
                               DType::IQ4_XS, DType::Q2_K, DType::Q3_K};

std::mt19937& rng() {
    static std::mt19937 generator(4321);
    return generator;
}
int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }
float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng()); }
float f16(const std::byte* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32_scalar(h);
}
int byte_at(const std::byte* p, int i) { return static_cast<int>(std::to_integer<uint8_t>(p[i])); }

// ---- Decoders from the format definitions (ggml-common.h), one element at a time --------------
// Element e of one block starting at p.

// 32-value nibble blocks: element e < 16 is the low nibble of byte e, e >= 16 the high nibble of
// byte e - 16.
int nibble(const std::byte* qs, int e) {
    return e < 16 ? (byte_at(qs, e) & 0xF) : (byte_at(qs, e - 16) >> 4);
}
// Q5: the fifth bit of element e is bit e of the little-endian 32-bit qh.
int fifth_bit(const std::byte* qh, int e) { return (byte_at(qh, e / 8) >> (e % 8)) & 1; }

constexpr int kGrid[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                           1,    13,   25,  38,  53,  69,  89,  113};

float decode(DType type, const std::byte* p, int e) {
    switch (type) {
        case DType::Q4_1:  // d, m, qs[16]
            return f16(p) * nibble(p + 4, e) + f16(p + 2);
        case DType::Q5_0:  // d, qh[4], qs[16]
            return f16(p) * ((nibble(p + 6, e) + 16 * fifth_bit(p + 2, e)) - 16);
        case DType::Q5_1:  // d, m, qh[4], qs[16]
            return f16(p) * (nibble(p + 8, e) + 16 * fifth_bit(p + 4, e)) + f16(p + 2);
        case DType::IQ4_NL:  // d, qs[16]
            return f16(p) * kGrid[nibble(p + 2, e)];
        case DType::IQ4_XS: {  // d, scales_h (u16), scales_l[4], qs[128]
            const int s = e / 32;
            const int low = (byte_at(p + 4, s / 2) >> (4 * (s % 2))) & 0xF;
            const int scales_h = byte_at(p, 2) | byte_at(p, 3) << 8;
            const int ls = low | ((scales_h >> (2 * s)) & 3) << 4;
            return f16(p) * (ls - 32) * kGrid[nibble(p + 8 + 16 * s, e % 32)];
        }
        case DType::Q2_K: {  // scales[16], qs[64], d, dmin
            // Element 128h + 32k + l: bits 2k..2k+1 of qs[32h + l]; sub-block of 16 = e / 16.
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const int q = (byte_at(p + 16, 32 * h + l) >> (2 * k)) & 3;
            const int sc = byte_at(p, e / 16);
            return f16(p + 80) * (sc & 0xF) * q - f16(p + 82) * (sc >> 4);
        }
        case DType::Q3_K: {  // hmask[32], qs[64], scales[12], d
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const int low = (byte_at(p + 32, 32 * h + l) >> (2 * k)) & 3;
            const int high = (byte_at(p, e % 32) >> (e / 32)) & 1;
            // 16 six-bit scales: low nibbles in bytes 0-7 (scales 0-7 low nibble, 8-15 high),
            // top 2 bits of scale j in bits 2*(j/4) of byte 8 + j%4.
            const int j = e / 16;
            const int sl = j < 8 ? (byte_at(p + 96, j) & 0xF) : (byte_at(p + 96, j - 8) >> 4);
            const int sh = (byte_at(p + 96, 8 + j % 4) >> (2 * (j / 4))) & 3;
            return f16(p + 108) * ((sl | sh << 4) - 32) * (low + 4 * high - 4);
        }
        default:
            throw Error("no decoder");
    }
}

// Random blocks of `type` with sane f16 scales (every code pattern is valid); `extreme` sets every
// code byte to 0xFF (largest codes, largest scales).
std::vector<std::byte> random_weights(DType type, int64_t rows, int64_t cols, bool extreme) {
    std::vector<std::byte> data(rows * row_bytes(type, cols));
    for (auto& b : data) b = static_cast<std::byte>(extreme ? 0xFF : uniform_int(0, 255));
    const int64_t n_blocks = rows * cols / dtype_traits(type).block_elements;
    auto put = [](std::byte* at, float v) {
        const uint16_t h = f32_to_f16_scalar(v);
        std::memcpy(at, &h, 2);
    };
    for (int64_t i = 0; i < n_blocks; ++i) {
        std::byte* block = data.data() + i * dtype_traits(type).block_bytes;
        const float d = extreme ? 0.05f : uniform(-0.05f, 0.05f);
        const float m = extreme ? 0.05f : uniform(-0.05f, 0.05f);
        switch (type) {
            case DType::Q4_1:
            case DType::Q5_1:
                put(block, d);
                put(block + 2, m);
                break;
            case DType::Q5_0:
            case DType::IQ4_NL:
            case DType::IQ4_XS:
                put(block, d / 16);
                break;
            case DType::Q2_K:
                put(block + 80, d);
                put(block + 82, m);
                break;
            case DType::Q3_K:
                put(block + 108, d / 4);
                break;
            default:
                break;
        }
    }
    return data;
}

TEST(QuantTypes, DequantizeMatchesTheFormatDefinition) {
    for (DType type : kNewTypes) {
        SCOPED_TRACE(std::string(dtype_name(type)));
        const int64_t rows = 2, cols = 512;
        const auto data = random_weights(type, rows, cols, false);
        std::vector<float> out(rows * cols);
        dequantize_rows_quant(QuantPath::Scalar, type, data.data(), rows, cols, out.data());
        const int64_t block = dtype_traits(type).block_elements;
        const int64_t bytes = dtype_traits(type).block_bytes;
        for (int64_t i = 0; i < rows * cols; ++i) {
            const float expected =
                decode(type, data.data() + (i / block) * bytes, static_cast<int>(i % block));
            ASSERT_NEAR(out[i], expected, 1e-6f * (1.0f + std::fabs(expected))) << "value " << i;
        }
        // Every path gives the portable values.
        for (QuantPath path : {QuantPath::Avx2, QuantPath::Avx512Vnni}) {
            if (!quant_path_supported(path)) continue;
            std::vector<float> fast(rows * cols);
            dequantize_rows_quant(path, type, data.data(), rows, cols, fast.data());
            for (int64_t i = 0; i < rows * cols; ++i) {
                ASSERT_NEAR(fast[i], out[i], 1e-6f * (1.0f + std::fabs(out[i])))
                    << quant_path_name(path) << " value " << i;
            }
        }
    }
}

TEST(QuantTypes, ActivationsCarryTheBlockSumsEachTypeNeeds) {
    std::vector<float> x(512);
    for (auto& v : x) v = uniform(-4.0f, 4.0f);
    for (DType type : kNewTypes) {
        SCOPED_TRACE(std::string(dtype_name(type)));
        QuantizedActivations q;
        quantize_activations(type, x, q);
        const int64_t block = activation_block(type);
        ASSERT_EQ(static_cast<int64_t>(q.scales.size()), 512 / block);
        for (int64_t i = 0; i < 512; ++i) {
            ASSERT_LE(std::fabs(q.scales[i / block] * q.qs[i] - x[i]),
                      q.scales[i / block] * 0.5001f);
        }
        if (block == 256) {
            for (int g = 0; g < 32; ++g) {
                int sum = 0;
                for (int j = 0; j < 16; ++j) sum += q.qs[g * 16 + j];
                EXPECT_EQ(q.bsums[g], sum);
            }
            continue;
        }
        const bool plain_sum = type == DType::Q4_1 || type == DType::Q5_1;
        const int offset = type == DType::Q5_0 ? 16 : 128;
        for (int b = 0; b < 16; ++b) {
            int sum = 0;
            for (int j = 0; j < 32; ++j) sum += q.qs[b * 32 + j];
            EXPECT_EQ(q.bias[b], plain_sum ? sum : -offset * sum) << "block " << b;
        }
        // Every path quantizes to the same bytes.
        for (QuantPath path : {QuantPath::Avx2, QuantPath::Avx512Vnni}) {
            if (!quant_path_supported(path)) continue;
            QuantizedActivations fast;
            quantize_activations(path, type, x, fast);
            EXPECT_EQ(fast.qs, q.qs);
            EXPECT_EQ(fast.bias, q.bias);
            EXPECT_EQ(fast.bsums, q.bsums);
        }
    }
}

void check_matvec(DType type, int64_t rows, int64_t cols, bool extreme) {
    SCOPED_TRACE(std::string(dtype_name(type)) + " rows=" + std::to_string(rows) +
                 " cols=" + std::to_string(cols) + (extreme ? " extreme" : ""));
    const std::vector<std::byte> data = random_weights(type, rows, cols, extreme);
    std::vector<float> x(cols);
    for (auto& v : x) v = extreme ? -3.0f : uniform(-2.0f, 2.0f);
    check_matvec_paths(type, rows, cols, data, x);
}

TEST(QuantTypes, MatvecEveryPathMatchesTheDequantizedDot) {
    for (DType type : kNewTypes) {
        const bool super_block = dtype_traits(type).block_elements == 256;
        for (int64_t rows : {1, 3, 5, 13}) {
            for (int64_t cols : super_block ? std::vector<int64_t>{256, 768, 4096 + 256}
                                            : std::vector<int64_t>{32, 96, 544, 4096 + 32 * 9}) {
                check_matvec(type, rows, cols, false);
            }
        }
    }
}

TEST(QuantTypes, ExtremeCodesDoNotOverflow) {
    for (DType type : kNewTypes) check_matvec(type, 3, 11008 / 256 * 256, true);
}

TEST(QuantTypes, MatmulEachTokenMatchesItsMatvec) {
    for (DType type : kNewTypes) {
        const int64_t rows = 7, cols = 512, n_tokens = 3, ldy = 9;
        const auto data = random_weights(type, rows, cols, false);
        const Matrix w{type, rows, cols, data.data()};
        check_matmul_matches_matvec(w, random_quantized_tokens(type, cols, n_tokens, 50), ldy);
    }
}

// ---- Quantizers -------------------------------------------------------------------------------

// ggml's round-to-nearest types: codes exactly as ggml computes them.
TEST(QuantTypes, Q4_1AndQ5QuantizeWithGgmlsRounding) {
    std::vector<float> x(64);
    for (auto& v : x) v = uniform(-3.0f, 2.0f);
    x[7] = 9.0f;
    {
        std::vector<BlockQ4_1> q(2);
        quantize_row_q4_1(x.data(), 64, q.data());
        for (int b = 0; b < 2; ++b) {
            const float* v = x.data() + 32 * b;
            const float lo = *std::min_element(v, v + 32), hi = *std::max_element(v, v + 32);
            const float d = (hi - lo) / 15;
            const float id = 1.0f / d;  // ggml multiplies by the inverse
            EXPECT_EQ(q[b].d, f32_to_f16_scalar(d));
            EXPECT_EQ(q[b].m, f32_to_f16_scalar(lo));
            for (int j = 0; j < 32; ++j) {
                const int expected = std::min(15, static_cast<int>((v[j] - lo) * id + 0.5f));
                const int code = j < 16 ? (q[b].qs[j] & 0xF) : (q[b].qs[j - 16] >> 4);
                EXPECT_EQ(code, expected) << j;
            }
        }
    }
    {
        std::vector<BlockQ5_0> q(2);
        quantize_row_q5_0(x.data(), 64, q.data());
        std::vector<float> back(64);
        dequantize_row_q5_0(q.data(), 64, back.data());
        // The largest magnitude (9.0) maps to code 0 (-16 * d with d = 9 / -16) exactly.
        EXPECT_EQ(q[0].d, f32_to_f16_scalar(-9.0f / 16.0f));
        EXPECT_EQ(q5_code(q[0].qs, q[0].qh, 7), 0);
        EXPECT_NEAR(back[7], 9.0f, 9.0f / 2048);
    }
    {
        std::vector<BlockQ5_1> q(2);
        quantize_row_q5_1(x.data(), 64, q.data());
        std::vector<float> back(64);
        dequantize_row_q5_1(q.data(), 64, back.data());
        // The block's max is code 31 and its min code 0.
        EXPECT_EQ(q5_code(q[0].qs, q[0].qh, 7), 31);
        for (int j = 0; j < 64; ++j) {
            const float* v = x.data() + 32 * (j / 32);
            const float d = (*std::max_element(v, v + 32) - *std::min_element(v, v + 32)) / 31;
            EXPECT_LE(std::fabs(back[j] - x[j]), d * 0.5f + std::fabs(x[j]) / 1024 + 1e-3f) << j;
        }
    }
}

// Root mean square error of quantize -> dequantize on Gaussian weights (unit variance), relative.
double relative_rms_error(DType type, const std::vector<float>& x, int64_t cols) {
    const auto rows = static_cast<int64_t>(x.size()) / cols;
    std::vector<std::byte> data(rows * row_bytes(type, cols));
    quantize_rows(type, x.data(), rows, cols, data.data());
    std::vector<float> back(x.size());
    dequantize_rows_quant(QuantPath::Scalar, type, data.data(), rows, cols, back.data());
    double err = 0, norm = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        err += (back[i] - x[i]) * double(back[i] - x[i]);
        norm += double(x[i]) * x[i];
    }
    return std::sqrt(err / norm);
}

TEST(QuantTypes, QuantizeErrorIsGgmls) {
    // Its own generator, so the data does not depend on which tests ran before.
    std::mt19937 generator(4321);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    const int64_t cols = 1024;
    std::vector<float> x(16 * cols);
    for (auto& v : x) v = gauss(generator);
    // The relative RMS error of quantize -> dequantize that ggml's own quantizers
    // (ggml_quantize_chunk without an importance matrix, llama.cpp 3f545becc) give on exactly this
    // data, measured outside CI with a program linking both. Ours follow the same algorithms and
    // must match.
    const std::pair<DType, double> expected[] = {
        {DType::Q2_K, 0.29570}, {DType::Q3_K, 0.15169},   {DType::Q4_0, 0.08684},
        {DType::Q4_1, 0.07872}, {DType::IQ4_NL, 0.07687}, {DType::IQ4_XS, 0.07739},
        {DType::Q4_K, 0.07198}, {DType::Q5_0, 0.04322},   {DType::Q5_1, 0.03791},
        {DType::Q5_K, 0.03608}, {DType::Q6_K, 0.01784},   {DType::Q8_0, 0.00544},
    };
    for (const auto& [type, ggml] : expected) {
        const double error = relative_rms_error(type, x, cols);
        std::cout << dtype_name(type) << " relative RMS error " << error << " (ggml " << ggml
                  << ")\n";
        EXPECT_NEAR(error, ggml, ggml * 0.002) << dtype_name(type);
    }
    // Constant and all-zero rows round-trip exactly.
    std::vector<float> zeros(512, 0.0f);
    for (DType type : kNewTypes) {
        std::vector<std::byte> data(row_bytes(type, 512));
        quantize_rows(type, zeros.data(), 1, 512, data.data());
        std::vector<float> back(512, 1.0f);
        dequantize_rows_quant(QuantPath::Scalar, type, data.data(), 1, 512, back.data());
        for (float v : back) ASSERT_EQ(v, 0.0f) << dtype_name(type);
    }
}

TEST(QuantTypes, QuantizeRejectsPartialBlocks) {
    std::vector<float> x(300, 1.0f);
    std::vector<std::byte> out(1024);
    EXPECT_THROW(quantize_rows(DType::Q3_K, x.data(), 1, 300, out.data()), Error);
    EXPECT_THROW(quantize_rows(DType::F16, x.data(), 1, 256, out.data()), Error);
}

}  // namespace
}  // namespace llama::kernels
