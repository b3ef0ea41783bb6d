#pragma once

// Internal: the per-ISA matrix-vector products for the plain float weight types (F32, F16,
// BF16). matvec() in weights.cpp picks the widest path the active ISA level allows; tests and
// benchmarks call each path directly so all of them stay correct.

#include <cstddef>
#include <cstdint>
#include <span>

#include "llama/tensor.h"

namespace llama::kernels::detail {

enum class MatvecPath { Scalar, Avx2, Avx512 };

// Arguments of one product: y[r] = dot(row r, x) for r < rows, rows `row_stride` bytes apart.
struct MatvecArgs {
    DType dtype;
    const std::byte* weights;
    int64_t rows;
    int64_t cols;
    int64_t row_stride;
    const float* x;
    float* y;
    // F16 weights only: x rounded to f16 (kernels.h, round_to_f16); when set, the kernels read
    // it instead of x, which may then be null.
    const uint16_t* x_half = nullptr;
};

// Whether the CPU can run the path (every path is compiled in, with target attributes).
bool matvec_path_available(MatvecPath path);
// The widest path the active ISA level (llama/isa.h) allows.
MatvecPath best_matvec_path();
const char* matvec_path_name(MatvecPath path);

// Each supports DType::F32, F16 and BF16 only.
void matvec_scalar(const MatvecArgs& args);
void matvec_avx2(const MatvecArgs& args);
void matvec_avx512(const MatvecArgs& args);

// Runs `path` (which must be available) on a plain-float matrix; throws llama::Error otherwise.
void matvec_float(MatvecPath path, const Matrix& w, std::span<const float> x, std::span<float> y);
// The same for F16 weights with x already rounded to f16.
void matvec_half(MatvecPath path, const Matrix& w, std::span<const uint16_t> x, std::span<float> y);

}  // namespace llama::kernels::detail
