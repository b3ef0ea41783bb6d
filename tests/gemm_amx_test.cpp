// AMX-BF16 prompt GEMM: packing layouts against a plain element-by-element reference (runs
// everywhere), and the tile kernel against float64 products of the bf16-rounded inputs and the
// fp32 product of the unrounded ones (skipped without AMX).

#include "kernels/gemm_amx.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"
#include "llama/tensor.h"
#include "tests/random_values.h"

namespace llama::kernels {
namespace {

constexpr int64_t kStep = 32;  // columns per block
constexpr int64_t kBlock = 16;

int64_t steps(int64_t cols) { return (cols + kStep - 1) / kStep; }

using test::random_floats;

// A weight matrix in `dtype` holding random values (exactly representable in that type). Quantized
// types get random bytes, masked so that block scales stay small and finite.
std::vector<std::byte> weight_bytes(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
    std::vector<std::byte> bytes(static_cast<size_t>(row_bytes(dtype, cols) * rows));
    if (dtype_traits(dtype).block_elements > 1) {
        std::mt19937 rng(seed);
        for (auto& byte : bytes) byte = static_cast<std::byte>(rng() & 0x3b);
        return bytes;
    }
    const auto values = random_floats(rows * cols, seed);
    if (dtype == DType::F32) {
        std::memcpy(bytes.data(), values.data(), bytes.size());
        return bytes;
    }
    std::vector<uint16_t> narrowed(values.size());
    if (dtype == DType::F16) {
        f32_to_f16(values, narrowed);
    } else {
        f32_to_bf16(values, narrowed);
    }
    std::memcpy(bytes.data(), narrowed.data(), bytes.size());
    return bytes;
}

std::vector<float> widen(DType dtype, const std::vector<std::byte>& w, int64_t rows, int64_t cols) {
    std::vector<float> out(static_cast<size_t>(rows * cols));
    dequantize_rows(dtype, w.data(), rows, cols, out);
    return out;
}

// Reference packs written straight from the layout description in gemm_amx.h.
std::vector<uint16_t> reference_activations(const std::vector<float>& x, int64_t n_tokens,
                                            int64_t cols) {
    const int64_t token_blocks = (n_tokens + kBlock - 1) / kBlock;
    std::vector<uint16_t> packed(static_cast<size_t>(token_blocks * steps(cols) * 512), 0xffff);
    for (int64_t b = 0; b < token_blocks; ++b) {
        for (int64_t s = 0; s < steps(cols); ++s) {
            for (int64_t t = 0; t < kBlock; ++t) {
                for (int64_t c = 0; c < kStep; ++c) {
                    const int64_t token = b * kBlock + t;
                    const int64_t col = s * kStep + c;
                    const bool valid = token < n_tokens && col < cols;
                    packed[(b * steps(cols) + s) * 512 + t * kStep + c] =
                        valid ? f32_to_bf16(x[token * cols + col]) : 0;
                }
            }
        }
    }
    return packed;
}

std::vector<uint16_t> reference_weights(const std::vector<float>& wide, int64_t rows,
                                        int64_t cols) {
    const int64_t row_blocks = (rows + kBlock - 1) / kBlock;
    std::vector<uint16_t> packed(static_cast<size_t>(row_blocks * steps(cols) * 512), 0xffff);
    for (int64_t b = 0; b < row_blocks; ++b) {
        for (int64_t s = 0; s < steps(cols); ++s) {
            for (int64_t pair = 0; pair < kStep / 2; ++pair) {
                for (int64_t n = 0; n < kBlock; ++n) {
                    for (int64_t j = 0; j < 2; ++j) {
                        const int64_t row = b * kBlock + n;
                        const int64_t col = s * kStep + 2 * pair + j;
                        const bool valid = row < rows && col < cols;
                        packed[(b * steps(cols) + s) * 512 + (pair * kBlock + n) * 2 + j] =
                            valid ? f32_to_bf16(wide[row * cols + col]) : 0;
                    }
                }
            }
        }
    }
    return packed;
}

TEST(GemmAmxPack, SizesCoverPaddedBlocks) {
    EXPECT_EQ(packed_activations_size(1, 32), 512);
    EXPECT_EQ(packed_activations_size(17, 33), 2 * 2 * 512);
    EXPECT_EQ(packed_weights_size(16, 4096), 128 * 512);
    EXPECT_EQ(packed_weights_size(48, 96), 3 * 3 * 512);
    EXPECT_EQ(pack_weights_scratch_size(4096), 16 * 4096);
}

TEST(GemmAmxPack, ActivationsMatchReferenceLayout) {
    for (const int64_t n_tokens : {1, 5, 16, 31, 33}) {
        for (const int64_t cols : {32, 40, 96}) {
            SCOPED_TRACE("n_tokens " + std::to_string(n_tokens) + " cols " + std::to_string(cols));
            auto x = random_floats(n_tokens * cols, 7);
            x[0] = std::numeric_limits<float>::quiet_NaN();
            if (x.size() > 1) x[1] = -std::numeric_limits<float>::infinity();
            const auto expected = reference_activations(x, n_tokens, cols);
            std::vector<uint16_t> packed(expected.size(), 0xffff);
            pack_activations_bf16(x, n_tokens, cols, packed);
            EXPECT_EQ(packed, expected);
            std::vector<uint16_t> scalar(expected.size(), 0xffff);
            detail::pack_activations_bf16_scalar(x, n_tokens, cols, scalar);
            EXPECT_EQ(scalar, expected);
        }
    }
}

TEST(GemmAmxPack, ActivationBlocksPackIndependently) {
    const int64_t n_tokens = 40, cols = 64;
    const auto x = random_floats(n_tokens * cols, 8);
    std::vector<uint16_t> whole(packed_activations_size(n_tokens, cols));
    pack_activations_bf16(x, n_tokens, cols, whole);
    std::vector<uint16_t> pieces(whole.size(), 0xffff);
    const int64_t split = 16;  // tokens [0, 16) and [16, 40)
    pack_activations_bf16(std::span(x).first(split * cols), split, cols, pieces);
    pack_activations_bf16(std::span(x).subspan(split * cols), n_tokens - split, cols,
                          std::span(pieces).subspan(packed_activations_size(split, cols)));
    EXPECT_EQ(pieces, whole);
}

TEST(GemmAmxPack, FloatWeightsMatchReferenceLayout) {
    for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
        for (const int64_t rows : {1, 15, 16, 20, 48}) {
            for (const int64_t cols : {32, 40, 56, 96}) {
                SCOPED_TRACE(std::string(dtype_name(dtype)) + " rows " + std::to_string(rows) +
                             " cols " + std::to_string(cols));
                const auto w = weight_bytes(dtype, rows, cols, 9);
                const auto expected = reference_weights(widen(dtype, w, rows, cols), rows, cols);
                // The float types need no scratch.
                std::vector<uint16_t> packed(expected.size(), 0xffff);
                pack_weights_bf16(dtype, w.data(), rows, cols, packed, {});
                EXPECT_EQ(packed, expected);
                std::vector<uint16_t> scalar(expected.size(), 0xffff);
                detail::pack_weights_bf16_scalar(dtype, w.data(), rows, cols, scalar, {});
                EXPECT_EQ(scalar, expected);
            }
        }
    }
}

TEST(GemmAmxPack, F32WeightsKeepNaNAndRoundToNearestEven) {
    const int64_t rows = 2, cols = 32;
    std::vector<float> values(rows * cols, 1.0f);
    values[0] = std::numeric_limits<float>::quiet_NaN();
    values[1] = std::bit_cast<float>(0x3f808000u);  // halfway, even below: rounds down
    values[2] = std::bit_cast<float>(0x3f818000u);  // halfway, odd below: rounds up
    values[33] = std::numeric_limits<float>::infinity();
    std::vector<std::byte> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    const auto expected = reference_weights(values, rows, cols);
    EXPECT_EQ(expected[0] & 0x7f80, 0x7f80);  // (pair 0, row 0, col 0): a NaN
    EXPECT_EQ(expected[1], 0x3f80);
    EXPECT_EQ(expected[2 * 16 + 0], 0x3f82);  // (pair 1, row 0, col 2)
    std::vector<uint16_t> packed(expected.size());
    pack_weights_bf16(DType::F32, bytes.data(), rows, cols, packed, {});
    EXPECT_EQ(packed, expected);
}

// F16 NaN, infinities, the largest value and subnormals pack as the scalar reference packs them
// (the AVX512-BF16 path rounds with VCVTNE2PS2BF16).
TEST(GemmAmxPack, F16SpecialValuesPackAsTheReference) {
    const int64_t rows = 16, cols = 64;
    std::vector<uint16_t> halves(rows * cols, 0x3c00);  // 1.0
    const uint16_t specials[] = {0x7e00, 0xfe01, 0x7c00, 0xfc00, 0x7bff,
                                 0x0001, 0x83ff, 0x0400, 0x3c01, 0x8000};
    for (size_t i = 0; i < halves.size(); i += 7) halves[i] = specials[(i / 7) % 10];
    std::vector<std::byte> bytes(halves.size() * 2);
    std::memcpy(bytes.data(), halves.data(), bytes.size());
    std::vector<uint16_t> expected(packed_weights_size(rows, cols));
    detail::pack_weights_bf16_scalar(DType::F16, bytes.data(), rows, cols, expected, {});
    std::vector<uint16_t> packed(expected.size(), 0xffff);
    pack_weights_bf16(DType::F16, bytes.data(), rows, cols, packed, {});
    EXPECT_EQ(packed, expected);
}

// Types widened through dequantize_rows: compared with the reference pack of its output. Random
// bytes are fine because both sides see the same widened values. Skipped for types that
// dequantize_rows does not handle (yet).
TEST(GemmAmxPack, QuantizedWeightsPackTheirDequantizedRows) {
    int tested = 0;
    for (const DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        const int64_t rows = 20, cols = 512;
        SCOPED_TRACE(std::string(dtype_name(dtype)));
        const auto w = weight_bytes(dtype, rows, cols, 11);
        std::vector<float> wide(static_cast<size_t>(rows * cols));
        try {
            dequantize_rows(dtype, w.data(), rows, cols, wide);
        } catch (const Error&) {
            continue;
        }
        ++tested;
        const auto expected = reference_weights(wide, rows, cols);
        std::vector<float> scratch(pack_weights_scratch_size(cols));
        std::vector<uint16_t> packed(expected.size(), 0xffff);
        pack_weights_bf16(dtype, w.data(), rows, cols, packed, scratch);
        EXPECT_EQ(packed, expected);
        std::vector<uint16_t> scalar(expected.size(), 0xffff);
        detail::pack_weights_bf16_scalar(dtype, w.data(), rows, cols, scalar, scratch);
        EXPECT_EQ(scalar, expected);
        EXPECT_THROW(pack_weights_bf16(dtype, w.data(), rows, cols, packed,
                                       std::span(scratch).first(scratch.size() - 1)),
                     Error);
    }
    if (tested == 0) GTEST_SKIP() << "dequantize_rows handles no quantized type yet";
}

// Row-interleaved weights (packed from their groups directly where the AVX-512 path runs) pack bit
// for bit as the rows they hold, whichever ISA level is capped.
TEST(GemmAmxPack, InterleavedWeightsPackAsTheirRows) {
    for (const DType base :
         {DType::Q4_0, DType::Q8_0, DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        SCOPED_TRACE(std::string(dtype_name(base)));
        const int64_t rows = 48, cols = 768;
        // Quantized from floats: every code bit and fifth bit in use (weight_bytes masks some).
        std::vector<std::byte> w(static_cast<size_t>(rows * row_bytes(base, cols)));
        quantize_rows(base, random_floats(rows * cols, 12).data(), rows, cols, w.data());
        auto interleaved = w;
        interleave_matrix(base, interleaved.data(), rows, cols);
        std::vector<float> scratch(pack_weights_scratch_size(cols));
        std::vector<uint16_t> expected(packed_weights_size(rows, cols), 0xffff);
        pack_weights_bf16(base, w.data(), rows, cols, expected, scratch);
        std::vector<uint16_t> packed(expected.size(), 0x1234);
        pack_weights_bf16(interleaved_type(base), interleaved.data(), rows, cols, packed, scratch);
        EXPECT_EQ(packed, expected);
        EXPECT_THROW(pack_weights_bf16(interleaved_type(base), interleaved.data(), rows, cols,
                                       std::span(packed).first(packed.size() - 1), scratch),
                     Error);
    }
}

TEST(GemmAmxPack, RejectsShortBuffers) {
    const auto x = random_floats(3 * 32, 1);
    std::vector<uint16_t> packed(packed_activations_size(3, 32) - 1);
    EXPECT_THROW(pack_activations_bf16(x, 3, 32, packed), Error);
    const auto w = weight_bytes(DType::F32, 17, 32, 2);
    std::vector<uint16_t> packed_w(packed_weights_size(17, 32) - 1);
    EXPECT_THROW(pack_weights_bf16(DType::F32, w.data(), 17, 32, packed_w, {}), Error);
}

// ---- The kernels --------------------------------------------------------------------------------

struct Shape {
    int64_t n_tokens;
    int64_t rows;
    int64_t cols;
};

std::string describe(DType dtype, const Shape& s) {
    return std::string(dtype_name(dtype)) + " n_tokens " + std::to_string(s.n_tokens) + " rows " +
           std::to_string(s.rows) + " cols " + std::to_string(s.cols);
}

float bf16_rounded(float v) { return bf16_to_f32(f32_to_bf16(v)); }

using GemmFn = std::function<void(std::span<const uint16_t> packed_x, int64_t n_tokens,
                                  int64_t cols, std::span<const uint16_t> packed_w, int64_t rows,
                                  std::span<float> y, int64_t ldy)>;

// Runs a packed product with y rows `ldy` apart and checks every output against float64 sums: of
// the bf16-rounded inputs (only accumulation order may differ) and of the unrounded inputs (bf16
// rounding error). Columns past `rows` must stay untouched.
void check_gemm(const GemmFn& gemm, DType dtype, const Shape& s, int64_t ldy, uint32_t seed) {
    SCOPED_TRACE(describe(dtype, s) + " ldy " + std::to_string(ldy));
    const auto x = random_floats(s.n_tokens * s.cols, seed);
    const auto w = weight_bytes(dtype, s.rows, s.cols, seed + 1);
    const auto wide = widen(dtype, w, s.rows, s.cols);
    for (const float v : wide) ASSERT_TRUE(std::isfinite(v)) << "test weights must be finite";

    PackedBuffer packed_x(packed_activations_size(s.n_tokens, s.cols));
    pack_activations_bf16(x, s.n_tokens, s.cols, packed_x);
    PackedBuffer packed_w(packed_weights_size(s.rows, s.cols));
    std::vector<float> scratch(pack_weights_scratch_size(s.cols));
    pack_weights_bf16(dtype, w.data(), s.rows, s.cols, packed_w, scratch);
    const float sentinel = -12345.0f;
    std::vector<float> y(static_cast<size_t>(s.n_tokens * ldy), sentinel);
    gemm(packed_x, s.n_tokens, s.cols, packed_w, s.rows, y, ldy);

    std::vector<float> x_rounded(x.size()), w_rounded(wide.size());
    for (size_t i = 0; i < x.size(); ++i) x_rounded[i] = bf16_rounded(x[i]);
    for (size_t i = 0; i < wide.size(); ++i) w_rounded[i] = bf16_rounded(wide[i]);
    int64_t failures = 0;
    for (int64_t t = 0; t < s.n_tokens && failures < 10; ++t) {
        for (int64_t r = 0; r < s.rows && failures < 10; ++r) {
            double exact = 0, magnitude = 0, unrounded = 0, squares = 0;
            for (int64_t k = 0; k < s.cols; ++k) {
                const double p = double(x_rounded[t * s.cols + k]) * w_rounded[r * s.cols + k];
                exact += p;
                magnitude += std::abs(p);
                const double q = double(x[t * s.cols + k]) * wide[r * s.cols + k];
                unrounded += q;
                squares += q * q;
            }
            const double got = y[t * ldy + r];
            // fp32 accumulation of exact products: error well below 1e-5 of the sum of |terms|.
            if (!std::isfinite(got) || std::abs(got - exact) > 1e-5 * magnitude + 1e-30) {
                ADD_FAILURE() << "t " << t << " r " << r << ": " << got << " vs rounded-input sum "
                              << exact << " (sum |terms| " << magnitude << ")";
                ++failures;
            }
            // bf16 inputs carry 8 significant bits: errors of ~2^-9 per product, random signs.
            if (std::abs(got - unrounded) > 3e-2 * std::sqrt(squares) + 1e-30) {
                ADD_FAILURE() << "t " << t << " r " << r << ": " << got << " vs fp32-input sum "
                              << unrounded << " (norm " << std::sqrt(squares) << ")";
                ++failures;
            }
        }
        for (int64_t r = s.rows; r < ldy; ++r) {
            if (y[t * ldy + r] != sentinel) {
                ADD_FAILURE() << "wrote past the rows: t " << t << " column " << r;
                ++failures;
            }
        }
    }
}

struct Kernel {
    const char* name;
    bool (*available)();
    GemmFn gemm;
};

// Both kernels take the same operands and must give the same sums; each test skips when the CPU
// lacks its instructions (the engine then falls back to fp32 BLAS).
class GemmKernel : public ::testing::TestWithParam<Kernel> {
  protected:
    void SetUp() override {
        if (!GetParam().available()) {
            GTEST_SKIP() << GetParam().name << " is not available on this CPU/OS";
        }
    }
    void check(DType dtype, const Shape& s, int64_t ldy, uint32_t seed) {
        check_gemm(GetParam().gemm, dtype, s, ldy, seed);
    }
};

TEST_P(GemmKernel, SmallShapesAllTypes) {
    uint32_t seed = 100;
    for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
        for (const int64_t n_tokens : {1, 5, 16, 31, 32, 33, 100}) {
            for (const int64_t rows : {16, 20, 48, 64}) {
                for (const int64_t cols : {32, 40, 96}) {
                    check(dtype, {n_tokens, rows, cols}, rows, seed++);
                }
            }
        }
    }
}

TEST_P(GemmKernel, LongRowsAllTypes) {
    uint32_t seed = 200;
    for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
        for (const int64_t n_tokens : {1, 33, 100}) check(dtype, {n_tokens, 48, 4096}, 48, seed++);
    }
}

TEST_P(GemmKernel, ModelSizedShapes) {
    check(DType::BF16, {512, 96, 4096}, 96, 300);
    check(DType::F16, {33, 4096, 4096}, 4096, 301);
    check(DType::F32, {100, 4112, 96}, 4112, 302);
    check(DType::BF16, {40, 80, 11008}, 80, 303);
}

TEST_P(GemmKernel, QuantizedWeights) {
    uint32_t seed = 600;
    int tested = 0;
    for (const DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        std::vector<float> probe(static_cast<size_t>(256));
        try {
            dequantize_rows(dtype, weight_bytes(dtype, 1, 256, 1).data(), 1, 256, probe);
        } catch (const Error&) {
            continue;  // not supported by dequantize_rows (yet)
        }
        ++tested;
        check(dtype, {37, 40, 512}, 40, seed++);
        check(dtype, {64, 96, 4096}, 96, seed++);
    }
    if (tested == 0) GTEST_SKIP() << "dequantize_rows handles no quantized type yet";
}

TEST_P(GemmKernel, WritesIntoWiderOutputRows) {
    check(DType::F32, {33, 48, 96}, 80, 400);
    check(DType::BF16, {5, 20, 64}, 37, 401);
}

TEST_P(GemmKernel, RejectsShortBuffers) {
    const int64_t n_tokens = 17, rows = 20, cols = 64;
    PackedBuffer packed_x(packed_activations_size(n_tokens, cols));
    PackedBuffer packed_w(packed_weights_size(rows, cols));
    std::vector<float> y(n_tokens * rows);
    const GemmFn& gemm = GetParam().gemm;
    EXPECT_THROW(gemm(std::span(packed_x).first(packed_x.size() - 1), n_tokens, cols, packed_w,
                      rows, y, rows),
                 Error);
    EXPECT_THROW(gemm(packed_x, n_tokens, cols, std::span(packed_w).first(packed_w.size() - 1),
                      rows, y, rows),
                 Error);
    EXPECT_THROW(
        gemm(packed_x, n_tokens, cols, packed_w, rows, std::span(y).first(y.size() - 1), rows),
        Error);
    EXPECT_THROW(gemm(packed_x, n_tokens, cols, packed_w, rows, y, rows - 1), Error);
}

TEST_P(GemmKernel, RejectsMisalignedOperands) {
    const int64_t n_tokens = 17, rows = 20, cols = 64;
    PackedBuffer packed_x(packed_activations_size(n_tokens, cols) + 32);
    PackedBuffer packed_w(packed_weights_size(rows, cols) + 32);
    std::vector<float> y(n_tokens * rows);
    const GemmFn& gemm = GetParam().gemm;
    EXPECT_NO_THROW(gemm(packed_x, n_tokens, cols, packed_w, rows, y, rows));
    EXPECT_THROW(gemm(std::span(packed_x).subspan(1), n_tokens, cols, packed_w, rows, y, rows),
                 Error);
    EXPECT_THROW(gemm(packed_x, n_tokens, cols, std::span(packed_w).subspan(8), rows, y, rows),
                 Error);
}

// The checks both kernels share, on any CPU: each failure names the kernel and the operand.
TEST(PackedGemmArgs, NameTheKernelAndOperand) {
    const int64_t n_tokens = 17, rows = 20, cols = 64;
    PackedBuffer packed_x(packed_activations_size(n_tokens, cols) + 32);
    PackedBuffer packed_w(packed_weights_size(rows, cols) + 32);
    std::vector<float> y(n_tokens * rows);
    const auto message = [&](std::span<const uint16_t> x, std::span<const uint16_t> w,
                             std::span<const float> out, int64_t ldy) -> std::string {
        try {
            detail::check_packed_gemm_args("some_gemm", x, n_tokens, cols, w, rows, out, ldy);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(message(packed_x, packed_w, y, rows), "");
    EXPECT_NE(message(std::span(packed_x).first(packed_activations_size(n_tokens, cols) - 1),
                      packed_w, y, rows)
                  .find("some_gemm: packed_x holds"),
              std::string::npos);
    EXPECT_NE(
        message(packed_x, std::span(packed_w).first(packed_weights_size(rows, cols) - 1), y, rows)
            .find("some_gemm: packed_w holds"),
        std::string::npos);
    EXPECT_NE(message(packed_x, packed_w, std::span(y).first(y.size() - 1), rows)
                  .find("some_gemm: y holds"),
              std::string::npos);
    EXPECT_NE(message(packed_x, packed_w, y, rows - 1).find("some_gemm: ldy 19 < rows 20"),
              std::string::npos);
    EXPECT_NE(message(std::span(packed_x).subspan(1), packed_w, y, rows)
                  .find("some_gemm: packed operands must be 64-byte aligned"),
              std::string::npos);
    EXPECT_NE(message(packed_x, std::span(packed_w).subspan(8), y, rows)
                  .find("some_gemm: packed operands must be 64-byte aligned"),
              std::string::npos);
}

// The kernels asked to prefetch memory of a size that is not a whole number of lines per
// register block or column step (the weights' own bytes and 100 more of a buffer of its own).
void gemm_bf16_amx_prefetching(std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                               std::span<const uint16_t> packed_w, int64_t rows, std::span<float> y,
                               int64_t ldy) {
    std::vector<std::byte> next(packed_w.size_bytes() + 100);
    gemm_bf16_amx(packed_x, n_tokens, cols, packed_w, rows, y, ldy, next);
}

void gemm_bf16_avx512_prefetching(std::span<const uint16_t> packed_x, int64_t n_tokens,
                                  int64_t cols, std::span<const uint16_t> packed_w, int64_t rows,
                                  std::span<float> y, int64_t ldy) {
    std::vector<std::byte> next(packed_w.size_bytes() + 100);
    gemm_bf16_avx512(packed_x, n_tokens, cols, packed_w, rows, y, ldy, next);
}

INSTANTIATE_TEST_SUITE_P(Kernels, GemmKernel,
                         ::testing::Values(Kernel{"amx", amx_bf16_available,
                                                  [](auto... args) { gemm_bf16_amx(args...); }},
                                           // With a prefetch span (linear() passes the next
                                           // tile's rows): prefetches only, the same sums.
                                           Kernel{"amx_prefetch", amx_bf16_available,
                                                  gemm_bf16_amx_prefetching},
                                           Kernel{"avx512bf16", avx512_bf16_available,
                                                  [](auto... args) { gemm_bf16_avx512(args...); }},
                                           Kernel{"avx512bf16_prefetch", avx512_bf16_available,
                                                  gemm_bf16_avx512_prefetching}),
                         [](const auto& info) { return std::string(info.param.name); });

// Partial sums wait in y between column chunks; every chunk size must give the same sums.
TEST(GemmAmxChunks, AnyColumnChunking) {
    if (!amx_bf16_available()) GTEST_SKIP() << "AMX-BF16 is not available on this CPU/OS";
    uint32_t seed = 500;
    for (const int64_t chunk_steps : {1, 3, 8, 1000}) {
        SCOPED_TRACE("chunk_steps " + std::to_string(chunk_steps));
        const GemmFn gemm = [&](std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                                std::span<const uint16_t> packed_w, int64_t rows,
                                std::span<float> y, int64_t ldy) {
            detail::gemm_bf16_amx_chunked(packed_x, n_tokens, cols, packed_w, rows, y, ldy,
                                          chunk_steps);
        };
        check_gemm(gemm, DType::BF16, {70, 84, 416}, 84, seed++);
        check_gemm(gemm, DType::F32, {32, 64, 4096}, 64, seed++);
        check_gemm(gemm, DType::F16, {5, 20, 96}, 20, seed++);
    }
}

}  // namespace
}  // namespace llama::kernels
