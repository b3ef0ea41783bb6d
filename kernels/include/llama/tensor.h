#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace llama {

// Element types of weight matrices. The 16-bit and quantized types stay in that form in memory;
// kernels convert on the fly (tiles for GEMM, registers for matrix-vector products).
enum class DType : uint8_t {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_K,
    Q5_K,
    Q6_K,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K,
    IQ4_NL,
    IQ4_XS,
    // Q4_0, Q4_K, IQ4_NL, Q8_0, Q6_K and Q5_K with every 16 rows interleaved
    // (kernels/quant_interleave.h): made at load for the matrix-vector and GEMM kernels, the same
    // bytes per row as the file's type.
    Q4_0_R16,
    Q4_K_R16,
    IQ4_NL_R16,
    Q8_0_R16,
    Q6_K_R16,
    Q5_K_R16,
};

struct DTypeTraits {
    std::string_view name;
    int64_t block_elements;  // elements per block (1 for plain floats)
    int64_t block_bytes;     // bytes per block
};

const DTypeTraits& dtype_traits(DType type);
std::string_view dtype_name(DType type);

// F32, F16, BF16: one value a block, widened exactly to fp32 (the others are quantized).
inline bool is_plain_float(DType type) { return dtype_traits(type).block_elements == 1; }

// Bytes of one row of `cols` elements; throws llama::Error if cols is not a whole number of
// blocks of the type.
int64_t row_bytes(DType type, int64_t cols);

// A read-only view of a row-major [rows, cols] weight matrix. The bytes are owned elsewhere (a
// memory-mapped file or a buffer held by the model).
struct Matrix {
    DType dtype = DType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    const std::byte* data = nullptr;

    int64_t row_stride() const { return row_bytes(dtype, cols); }
    const std::byte* row(int64_t r) const { return data + r * row_stride(); }
    std::span<const std::byte> bytes() const {
        return {data, static_cast<size_t>(rows * row_stride())};
    }
    // Rows [begin, begin + count) as a matrix of their own.
    Matrix slice_rows(int64_t begin, int64_t count) const {
        return {dtype, count, cols, row(begin)};
    }
};

}  // namespace llama
