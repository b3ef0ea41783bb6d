// Quantized formats: dequantization block by block against references written here from the
// format definitions (element e -> its bits), ggml's quantizer rounding, and every matvec path
// against the scalar path and against dequantize-then-float-dot.

#include "kernels/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/fp16_scalar.h"
#include "llama/error.h"
#include "tests/quant_matvec_check.h"

namespace llama::kernels {
namespace {

using detail::f16_to_f32_scalar;
using detail::f32_to_f16_scalar;

// ---- Encoders written from the format definitions --------------------------------------------

// Packs 8 six-bit scales and mins into the 12 bytes of a Q4_K/Q5_K block: bytes 0-3 hold scales
// 0-3 in their low 6 bits and the top 2 bits of scales 4-7 in bits 6-7; bytes 4-7 the same for
// the mins; bytes 8-11 hold the low 4 bits of scale j+4 (low nibble) and min j+4 (high nibble).
void pack_scales_mins(const int sc[8], const int m[8], uint8_t out[12]) {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

// Element e (0..255) of a Q4_K/Q5_K super-block: 64-value group e/64 uses qs[32*(e/64) ..];
// the first 32 values are low nibbles, the next 32 high nibbles.
void set_q4k(uint8_t* qs, int e, int q) {
    uint8_t& byte = qs[32 * (e / 64) + e % 32];
    if ((e % 64) < 32) {
        byte = static_cast<uint8_t>((byte & 0xF0) | q);
    } else {
        byte = static_cast<uint8_t>((byte & 0x0F) | (q << 4));
    }
}
int get_q4k(const uint8_t* qs, int e) {
    const uint8_t byte = qs[32 * (e / 64) + e % 32];
    return (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
}

// Q6_K element e: half h = e/128 uses ql[64h..], qh[32h..]; within it quarter k = (e%128)/32 and
// l = e%32: low 4 bits in ql[64h + l + 32*(k%2)] (low nibble for k < 2, high for k >= 2), high
// 2 bits in qh[32h + l] bits 2k, 2k+1.
void set_q6k(BlockQ6_K& block, int e, int q) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    uint8_t& low = block.ql[64 * h + l + 32 * (k % 2)];
    if (k < 2) {
        low = static_cast<uint8_t>((low & 0xF0) | (q & 0xF));
    } else {
        low = static_cast<uint8_t>((low & 0x0F) | ((q & 0xF) << 4));
    }
    uint8_t& high = block.qh[32 * h + l];
    high = static_cast<uint8_t>((high & ~(3 << (2 * k))) | ((q >> 4) << (2 * k)));
}

float reference_q8_0(const BlockQ8_0& b, int e) { return f16_to_f32_scalar(b.d) * b.qs[e]; }

float reference_q4_0(const BlockQ4_0& b, int e) {
    const int q = e < 16 ? (b.qs[e] & 0xF) : (b.qs[e - 16] >> 4);
    return f16_to_f32_scalar(b.d) * static_cast<float>(q - 8);
}

uint16_t half(float v) { return f32_to_f16_scalar(v); }

std::mt19937& rng() {
    static std::mt19937 generator(1234);
    return generator;
}
int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }
float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng()); }

// ---- Dequantization ---------------------------------------------------------------------------

TEST(QuantDequantize, Q8_0MatchesDefinition) {
    std::vector<BlockQ8_0> blocks(3);
    for (auto& b : blocks) {
        b.d = half(uniform(-2.0f, 2.0f));
        for (auto& q : b.qs) q = static_cast<int8_t>(uniform_int(-128, 127));
    }
    blocks[0].qs[0] = -128;
    blocks[0].qs[1] = 127;
    std::vector<float> out(96);
    dequantize_row_q8_0(blocks.data(), 96, out.data());
    for (int e = 0; e < 96; ++e) EXPECT_EQ(out[e], reference_q8_0(blocks[e / 32], e % 32)) << e;
}

// A corrupt file can hold NaN or infinite weights, which the loader requantizes when fusing
// parts of different types (found by the gguf_reader fuzzer: the float -> int8 conversion was
// undefined). They must quantize to defined values and leave the finite ones as before.
TEST(QuantDequantize, QuantizersGiveDefinedValuesForNonFiniteInput) {
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) / 4.0f;
    std::vector<float> with_nan = x;
    with_nan[3] = std::nanf("");
    BlockQ8_0 clean{}, dirty{};
    quantize_row_q8_0(x.data(), 32, &clean);
    quantize_row_q8_0(with_nan.data(), 32, &dirty);
    EXPECT_EQ(dirty.d, clean.d);  // NaN does not enter the scale
    for (int j = 0; j < 32; ++j) EXPECT_EQ(dirty.qs[j], j == 3 ? 0 : clean.qs[j]) << j;

    std::vector<float> with_inf = x;
    with_inf[5] = INFINITY;
    quantize_row_q8_0(with_inf.data(), 32, &dirty);  // infinite scale: every value is NaN * 0
    for (int j = 0; j < 32; ++j) EXPECT_EQ(dirty.qs[j], 0) << j;

    BlockQ4_0 q4_clean{}, q4_dirty{};
    quantize_row_q4_0(x.data(), 32, &q4_clean);
    quantize_row_q4_0(with_nan.data(), 32, &q4_dirty);
    EXPECT_EQ(q4_dirty.d, q4_clean.d);
    for (int j = 0; j < 16; ++j) {
        const int low = q4_dirty.qs[j] & 15;
        EXPECT_EQ(low, j == 3 ? 8 : (q4_clean.qs[j] & 15)) << j;  // NaN -> 8, the zero level
        EXPECT_EQ(q4_dirty.qs[j] >> 4, q4_clean.qs[j] >> 4) << j;
    }
}

TEST(QuantDequantize, Q4_0MatchesDefinition) {
    // Hand-built: nibble j (low) = j, high = 15 - j, d = 0.5 -> element j = (j-8)/2,
    // element 16+j = (7-j)/2.
    BlockQ4_0 block{};
    block.d = half(0.5f);
    for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float out[32];
    dequantize_row_q4_0(&block, 32, out);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(out[j], (j - 8) * 0.5f);
        EXPECT_EQ(out[16 + j], (7 - j) * 0.5f);
    }
    std::vector<BlockQ4_0> blocks(4);
    for (auto& b : blocks) {
        b.d = half(uniform(-1.0f, 1.0f));
        for (auto& q : b.qs) q = static_cast<uint8_t>(uniform_int(0, 255));
    }
    std::vector<float> many(128);
    dequantize_row_q4_0(blocks.data(), 128, many.data());
    for (int e = 0; e < 128; ++e) EXPECT_EQ(many[e], reference_q4_0(blocks[e / 32], e % 32));
}

TEST(QuantDequantize, Q4KScalePackingRoundTripsEveryValue) {
    // Every 6-bit value in every position, including those whose top bits land in bytes 0-7.
    for (int v = 0; v < 64; ++v) {
        for (int j = 0; j < 8; ++j) {
            int sc[8], m[8];
            for (int k = 0; k < 8; ++k) {
                sc[k] = (k == j) ? v : (k * 9 + v) % 64;
                m[k] = (k == j) ? 63 - v : (k * 5 + 2 * v) % 64;
            }
            uint8_t packed[12];
            pack_scales_mins(sc, m, packed);
            for (int k = 0; k < 8; ++k) {
                uint8_t s, mm;
                unpack_q4k_scale_min(k, packed, &s, &mm);
                ASSERT_EQ(s, sc[k]) << "v=" << v << " k=" << k;
                ASSERT_EQ(mm, m[k]) << "v=" << v << " k=" << k;
            }
        }
    }
}

struct KBlockSpec {
    float d, dmin;
    int sc[8], m[8];
    int q[256];
};

KBlockSpec random_k_spec(int max_q) {
    KBlockSpec spec{};
    spec.d = uniform(-0.1f, 0.1f);
    spec.dmin = uniform(-0.1f, 0.1f);
    for (int j = 0; j < 8; ++j) {
        spec.sc[j] = uniform_int(0, 63);
        spec.m[j] = uniform_int(0, 63);
    }
    // Edge cases: extreme scales in the sub-blocks whose bits are split across bytes.
    spec.sc[4] = 63;
    spec.m[5] = 63;
    spec.sc[7] = 48;
    spec.m[7] = 16;
    spec.sc[0] = 0;
    for (int& q : spec.q) q = uniform_int(0, max_q);
    return spec;
}

TEST(QuantDequantize, Q4KMatchesDefinition) {
    for (int trial = 0; trial < 20; ++trial) {
        const KBlockSpec spec = random_k_spec(15);
        BlockQ4_K block{};
        block.d = half(spec.d);
        block.dmin = half(spec.dmin);
        pack_scales_mins(spec.sc, spec.m, block.scales);
        for (int e = 0; e < 256; ++e) set_q4k(block.qs, e, spec.q[e]);
        float out[256];
        dequantize_row_q4_k(&block, 256, out);
        const float d = f16_to_f32_scalar(block.d), dmin = f16_to_f32_scalar(block.dmin);
        for (int e = 0; e < 256; ++e) {
            ASSERT_EQ(get_q4k(block.qs, e), spec.q[e]);
            const float expected = d * spec.sc[e / 32] * spec.q[e] - dmin * spec.m[e / 32];
            ASSERT_NEAR(out[e], expected, 1e-6f * (std::fabs(expected) + 1)) << e;
        }
    }
}

TEST(QuantDequantize, Q5KMatchesDefinition) {
    for (int trial = 0; trial < 20; ++trial) {
        const KBlockSpec spec = random_k_spec(31);
        BlockQ5_K block{};
        block.d = half(spec.d);
        block.dmin = half(spec.dmin);
        pack_scales_mins(spec.sc, spec.m, block.scales);
        for (int e = 0; e < 256; ++e) {
            set_q4k(block.qs, e, spec.q[e] & 0xF);
            // The fifth bit of element e of sub-block s = e/32 is bit s of qh[e % 32].
            if (spec.q[e] & 16) block.qh[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
        }
        float out[256];
        dequantize_row_q5_k(&block, 256, out);
        const float d = f16_to_f32_scalar(block.d), dmin = f16_to_f32_scalar(block.dmin);
        for (int e = 0; e < 256; ++e) {
            const float expected = d * spec.sc[e / 32] * spec.q[e] - dmin * spec.m[e / 32];
            ASSERT_NEAR(out[e], expected, 1e-6f * (std::fabs(expected) + 1)) << e;
        }
    }
}

TEST(QuantDequantize, Q6KMatchesDefinition) {
    for (int trial = 0; trial < 20; ++trial) {
        BlockQ6_K block{};
        const float d = uniform(-0.01f, 0.01f);
        block.d = half(d);
        int sc[16], q[256];
        for (int g = 0; g < 16; ++g) sc[g] = uniform_int(-128, 127);
        sc[3] = -128;
        sc[12] = 127;
        for (int g = 0; g < 16; ++g) block.scales[g] = static_cast<int8_t>(sc[g]);
        for (int e = 0; e < 256; ++e) {
            q[e] = uniform_int(0, 63);
            set_q6k(block, e, q[e]);
        }
        float out[256];
        dequantize_row_q6_k(&block, 256, out);
        const float dd = f16_to_f32_scalar(block.d);
        for (int e = 0; e < 256; ++e) {
            const float expected = dd * static_cast<float>(sc[e / 16] * (q[e] - 32));
            ASSERT_NEAR(out[e], expected, 1e-6f * (std::fabs(expected) + 1)) << e;
        }
    }
}

TEST(QuantDequantize, RowsOfEveryTypeAndErrors) {
    // dequantize_rows_quant walks whole rows: compare with the per-row functions.
    const int64_t rows = 3, cols = 512;
    std::vector<std::byte> data(rows * row_bytes(DType::Q6_K, cols));
    for (auto& b : data) b = static_cast<std::byte>(uniform_int(0, 255));
    // Keep scales finite: overwrite each block's d with a small half.
    auto* blocks = reinterpret_cast<BlockQ6_K*>(data.data());
    for (int64_t i = 0; i < rows * cols / 256; ++i) blocks[i].d = half(0.01f);
    std::vector<float> all(rows * cols), one(cols);
    dequantize_rows_quant(DType::Q6_K, data.data(), rows, cols, all.data());
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row_q6_k(blocks + r * 2, cols, one.data());
        for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(all[r * cols + c], one[c]);
    }
    EXPECT_THROW(dequantize_rows_quant(DType::F16, data.data(), 1, 32, all.data()), Error);
    EXPECT_THROW(dequantize_rows_quant(DType::Q4_K, data.data(), 1, 100, all.data()), Error);
}

// ---- Quantization -----------------------------------------------------------------------------

TEST(QuantQuantize, Q8_0RoundsHalfAwayFromZeroLikeGgml) {
    // amax 127 -> d = 1: values are their own codes, halves round away from zero.
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.49f;
    x[4] = -126.5f;
    BlockQ8_0 block;
    quantize_row_q8_0(x.data(), 32, &block);
    EXPECT_EQ(f16_to_f32_scalar(block.d), 1.0f);
    EXPECT_EQ(block.qs[0], 127);
    EXPECT_EQ(block.qs[1], 3);
    EXPECT_EQ(block.qs[2], -3);
    EXPECT_EQ(block.qs[3], 0);
    EXPECT_EQ(block.qs[4], -127);
    EXPECT_EQ(block.qs[5], 0);

    std::vector<float> zeros(32, 0.0f);
    quantize_row_q8_0(zeros.data(), 32, &block);
    EXPECT_EQ(block.d, 0);
    for (int8_t q : block.qs) EXPECT_EQ(q, 0);
}

TEST(QuantQuantize, Q4_0MapsTheExtremeToMinus8LikeGgml) {
    // max by magnitude is -4 -> d = 0.5; values map to round-half-up(x/d) + 8, clamped to 15.
    std::vector<float> x(32, 0.0f);
    x[0] = -4.0f;   // -> 0
    x[1] = 3.5f;    // 7 + 8 = 15
    x[2] = 3.9f;    // 7.8 + 8.5 = 16.3 -> clamped to 15
    x[3] = 0.25f;   // 0.5 + 8.5 = 9 -> 9 (halves go up)
    x[4] = -0.25f;  // -0.5 + 8.5 = 8
    x[16] = 1.0f;   // 2 + 8 = 10, high nibble of byte 0
    BlockQ4_0 block;
    quantize_row_q4_0(x.data(), 32, &block);
    EXPECT_EQ(f16_to_f32_scalar(block.d), 0.5f);
    EXPECT_EQ(block.qs[0] & 0xF, 0);
    EXPECT_EQ(block.qs[0] >> 4, 10);
    EXPECT_EQ(block.qs[1] & 0xF, 15);
    EXPECT_EQ(block.qs[2] & 0xF, 15);
    EXPECT_EQ(block.qs[3] & 0xF, 9);
    EXPECT_EQ(block.qs[4] & 0xF, 8);
    EXPECT_EQ(block.qs[5] & 0xF, 8);

    // A positive extreme gives a negative d.
    x[0] = 4.0f;
    quantize_row_q4_0(x.data(), 32, &block);
    EXPECT_EQ(f16_to_f32_scalar(block.d), -0.5f);
    EXPECT_EQ(block.qs[0] & 0xF, 0);
}

TEST(QuantQuantize, ErrorIsBoundedByHalfAStep) {
    const int64_t n = 32 * 64;
    std::vector<float> x(n);
    for (auto& v : x) v = uniform(-3.0f, 3.0f);
    x[5] = 40.0f;  // an outlier in one block
    std::vector<float> back(n);

    std::vector<BlockQ8_0> q8(n / 32);
    quantize_row_q8_0(x.data(), n, q8.data());
    dequantize_row_q8_0(q8.data(), n, back.data());
    for (int64_t b = 0; b < n / 32; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        // Half a step, plus the f16 rounding of the scale (relative 2^-11) times 127 steps.
        const float bound = amax / 127.0f * (0.5f + 127.0f / 2048.0f) * 1.001f;
        for (int j = 0; j < 32; ++j) ASSERT_LE(std::fabs(back[b * 32 + j] - x[b * 32 + j]), bound);
    }

    std::vector<BlockQ4_0> q4(n / 32);
    quantize_row_q4_0(x.data(), n, q4.data());
    dequantize_row_q4_0(q4.data(), n, back.data());
    for (int64_t b = 0; b < n / 32; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        // One step at the clamped end (x/d in [7.5, 8]), half a step elsewhere, plus f16 scale.
        const float step = amax / 8.0f;
        const float bound = step * (1.0f + 8.0f / 2048.0f) * 1.001f;
        for (int j = 0; j < 32; ++j) ASSERT_LE(std::fabs(back[b * 32 + j] - x[b * 32 + j]), bound);
    }

    std::vector<std::byte> rows_out(2 * row_bytes(DType::Q4_0, 64));
    quantize_rows(DType::Q4_0, x.data(), 2, 64, rows_out.data());
    EXPECT_EQ(std::memcmp(rows_out.data(), q4.data(), rows_out.size()), 0);
    EXPECT_THROW(quantize_rows(DType::F16, x.data(), 1, 256, rows_out.data()), Error);
}

// Random weights of `type` with sane scales (random bytes elsewhere: every code is valid).
std::vector<std::byte> random_weights(DType type, int64_t rows, int64_t cols, bool extreme) {
    const int64_t bytes = rows * row_bytes(type, cols);
    std::vector<std::byte> data(bytes);
    for (auto& b : data) b = static_cast<std::byte>(extreme ? 0xFF : uniform_int(0, 255));
    const int64_t n_blocks = rows * cols / dtype_traits(type).block_elements;
    for (int64_t i = 0; i < n_blocks; ++i) {
        std::byte* block = data.data() + i * dtype_traits(type).block_bytes;
        const uint16_t d = half(extreme ? 0.05f : uniform(-0.05f, 0.05f));
        const uint16_t dmin = half(extreme ? 0.05f : uniform(-0.05f, 0.05f));
        switch (type) {
            case DType::Q8_0:
                std::memcpy(block, &d, 2);
                if (extreme) std::memset(block + 2, 0x80, 32);  // every weight -128
                break;
            case DType::Q4_0:
                std::memcpy(block, &d, 2);
                break;
            case DType::Q4_K:
            case DType::Q5_K:
                std::memcpy(block, &d, 2);
                std::memcpy(block + 2, &dmin, 2);
                break;
            case DType::Q6_K:
                std::memcpy(block + 208, &d, 2);
                break;
            default:
                break;
        }
    }
    return data;
}

TEST(QuantDequantize, EveryPathMatchesThePortableCode) {
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const int64_t rows = 3, cols = 512;
        std::vector<std::byte> data = random_weights(type, rows, cols, false);
        std::vector<float> portable(rows * cols), fast(rows * cols);
        dequantize_rows_quant(QuantPath::Scalar, type, data.data(), rows, cols, portable.data());
        for (QuantPath path : {QuantPath::Avx2, QuantPath::Avx512Vnni}) {
            if (!quant_path_supported(path)) continue;
            dequantize_rows_quant(path, type, data.data(), rows, cols, fast.data());
            for (int64_t i = 0; i < rows * cols; ++i) {
                // Only the rounding of d*sc*q - dmin*m (fused or not) may differ.
                ASSERT_NEAR(fast[i], portable[i], 1e-6f * (1.0f + std::fabs(portable[i])))
                    << dtype_name(type) << " " << quant_path_name(path) << " value " << i;
            }
        }
    }
}

// ---- Activations and matrix-vector products --------------------------------------------------

TEST(QuantActivations, QuantizeWithinHalfAStep) {
    std::vector<float> x(512);
    for (auto& v : x) v = uniform(-5.0f, 5.0f);
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
        QuantizedActivations q;
        quantize_activations(type, x, q);
        const int64_t block = type == DType::Q4_K ? 256 : 32;
        ASSERT_EQ(static_cast<int64_t>(q.scales.size()), 512 / block);
        for (int64_t i = 0; i < 512; ++i) {
            const float scale = q.scales[i / block];
            ASSERT_LE(std::fabs(scale * q.qs[i] - x[i]), scale * 0.5001f);
        }
        if (type == DType::Q4_K) {
            for (int g = 0; g < 32; ++g) {
                int sum = 0;
                for (int j = 0; j < 16; ++j) sum += q.qs[g * 16 + j];
                EXPECT_EQ(q.bsums[g], sum);
            }
        } else {
            const int offset = type == DType::Q8_0 ? 128 : 8;
            for (int b = 0; b < 16; ++b) {
                int sum = 0;
                for (int j = 0; j < 32; ++j) sum += q.qs[b * 32 + j];
                EXPECT_EQ(q.bias[b], -offset * sum);
            }
        }
    }
    // Every path quantizes to the same bytes (the SIMD paths' integer sums rely on it).
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q6_K}) {
        QuantizedActivations portable, fast;
        quantize_activations(QuantPath::Scalar, type, x, portable);
        for (QuantPath path : {QuantPath::Avx2, QuantPath::Avx512Vnni}) {
            if (!quant_path_supported(path)) continue;
            quantize_activations(path, type, x, fast);
            EXPECT_EQ(fast.qs, portable.qs);
            EXPECT_EQ(fast.scales, portable.scales);
            EXPECT_EQ(fast.bias, portable.bias);
            EXPECT_EQ(fast.bsums, portable.bsums);
        }
    }
    // Blocks of zeros, or too small for 127/max to be finite, quantize to zeros on every path.
    std::vector<float> tiny(64, 0.0f);
    tiny[40] = 1e-39f;  // subnormal: 127 / 1e-39 overflows
    tiny[41] = -5e-40f;
    for (QuantPath path : {QuantPath::Scalar, QuantPath::Avx2, QuantPath::Avx512Vnni}) {
        if (!quant_path_supported(path)) continue;
        QuantizedActivations zeros;
        quantize_activations(path, DType::Q8_0, tiny, zeros);
        for (int8_t v : zeros.qs) EXPECT_EQ(v, 0);
        EXPECT_EQ(zeros.scales[0], 0.0f);
        EXPECT_LT(zeros.scales[1], 1e-40f);
    }
    QuantizedActivations q;
    EXPECT_THROW(quantize_activations(DType::Q4_K, std::span<const float>(x.data(), 100), q),
                 Error);
    EXPECT_THROW(quantize_activations(DType::F32, x, q), Error);
}

void check_matvec(DType type, int64_t rows, int64_t cols, bool extreme) {
    SCOPED_TRACE(std::string(dtype_name(type)) + " rows=" + std::to_string(rows) +
                 " cols=" + std::to_string(cols) + (extreme ? " extreme" : ""));
    const std::vector<std::byte> data = random_weights(type, rows, cols, extreme);
    std::vector<float> x(cols);
    for (auto& v : x) v = extreme ? -3.0f : uniform(-2.0f, 2.0f);
    check_matvec_paths(type, rows, cols, data, x);
}

TEST(QuantMatvec, EveryPathMatchesReferences) {
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
        for (int64_t rows : {1, 3, 7, 13}) {
            for (int64_t cols : {32, 96, 544, 4096 + 32 * 9}) check_matvec(type, rows, cols, false);
        }
        // More blocks than one scale chunk (256 blocks) in a row.
        check_matvec(type, 5, 32 * 600, false);
    }
    for (DType type : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        for (int64_t rows : {1, 3, 7, 13}) {
            for (int64_t cols : {256, 768, 4096 + 256}) check_matvec(type, rows, cols, false);
        }
    }
}

TEST(QuantMatvec, ExtremeCodesDoNotOverflow) {
    // Largest codes against the largest activations: saturation or overflow would show here.
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        check_matvec(type, 3, 11008 / 256 * 256, true);
    }
}

// Bit for bit: the kernels that take several tokens at once (rows_loop_tokens) must give each
// token exactly its one-token result, whatever else is in the batch (9 tokens: two full groups
// and a partial one; 17 blocks: an odd last block).
TEST(QuantMatmul, EachTokenMatchesItsMatvec) {
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K})
        for (const int64_t n_tokens : {3, 9}) {
            const bool k_quant = dtype_traits(type).block_elements == 256;
            const int64_t rows = 7, cols = k_quant ? 512 : 544, ldy = 9;
            const std::vector<std::byte> data = random_weights(type, rows, cols, false);
            const Matrix w{type, rows, cols, data.data()};
            const auto xs = random_quantized_tokens(type, cols, n_tokens, 40);
            check_matmul_matches_matvec(w, xs, ldy);
            std::vector<float> too_small(2 * ldy);
            EXPECT_THROW(matmul_quant(w, xs, too_small, ldy), Error);
            EXPECT_THROW(matmul_quant(w, xs, std::span<float>(too_small.data(), 100), rows - 1),
                         Error);
        }
}

TEST(QuantMatvec, RejectsMismatchedInputs) {
    const std::vector<std::byte> data = random_weights(DType::Q4_0, 2, 64, false);
    const Matrix w{DType::Q4_0, 2, 64, data.data()};
    std::vector<float> x(64, 1.0f), y(2);
    QuantizedActivations for_q8;
    quantize_activations(DType::Q8_0, x, for_q8);
    EXPECT_THROW(matvec_quant(w, for_q8, y), Error);
    std::vector<float> short_y(1);
    EXPECT_THROW(matvec_quant(w, std::span<const float>(x), short_y), Error);
    std::vector<float> short_x(32);
    EXPECT_THROW(matvec_quant(w, std::span<const float>(short_x), y), Error);
}

}  // namespace
}  // namespace llama::kernels
