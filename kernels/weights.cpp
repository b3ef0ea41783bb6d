// Entry points for weight matrices: widening rows to fp32 (for GEMM tiles) and the decode-time
// matrix-vector product, dispatched by element type and, for plain floats, by ISA path.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/kernels.h"
#include "kernels/matvec_impl.h"
#include "kernels/quant.h"
#include "llama/error.h"

namespace llama::kernels {

namespace detail {

IsaLevel matvec_path_level(MatvecPath path) {
    switch (path) {
        case MatvecPath::Scalar:
            return IsaLevel::Scalar;
        case MatvecPath::Avx2:
            return IsaLevel::Avx2;
        case MatvecPath::Avx512:
            return IsaLevel::Avx512;
    }
    return IsaLevel::Scalar;
}

bool matvec_path_available(MatvecPath path) { return cpu_supports(matvec_path_level(path)); }

MatvecPath best_matvec_path() {
    if (isa_enabled(IsaLevel::Avx512)) return MatvecPath::Avx512;
    if (isa_enabled(IsaLevel::Avx2)) return MatvecPath::Avx2;
    return MatvecPath::Scalar;
}

const char* matvec_path_name(MatvecPath path) {
    switch (path) {
        case MatvecPath::Scalar:
            return "scalar";
        case MatvecPath::Avx2:
            return "avx2";
        case MatvecPath::Avx512:
            return "avx512";
    }
    return "unknown";
}

namespace {

// Checks the sizes of x (x_size values) and y and that `path` can run, then runs it.
void run_matvec(MatvecPath path, const Matrix& w, size_t x_size, std::span<float> y,
                const MatvecArgs& args) {
    if (static_cast<int64_t>(x_size) < w.cols || static_cast<int64_t>(y.size()) < w.rows) {
        throw Error("matvec: x has " + std::to_string(x_size) + " values for " +
                    std::to_string(w.cols) + " columns, y has " + std::to_string(y.size()) +
                    " for " + std::to_string(w.rows) + " rows");
    }
    if (!matvec_path_available(path)) {
        throw Error(std::string("matvec: this CPU cannot run the ") + matvec_path_name(path) +
                    " path");
    }
    switch (path) {
        case MatvecPath::Scalar:
            return matvec_scalar(args);
        case MatvecPath::Avx2:
            return matvec_avx2(args);
        case MatvecPath::Avx512:
            return matvec_avx512(args);
    }
}

}  // namespace

void matvec_float(MatvecPath path, const Matrix& w, std::span<const float> x, std::span<float> y) {
    if (w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16) {
        throw Error("matvec: " + std::string(dtype_name(w.dtype)) + " weights not supported yet");
    }
    run_matvec(path, w, x.size(), y,
               {w.dtype, w.data, w.rows, w.cols, w.row_stride(), x.data(), y.data()});
}

void matvec_half(MatvecPath path, const Matrix& w, std::span<const uint16_t> x,
                 std::span<float> y) {
    if (w.dtype != DType::F16) {
        throw Error("matvec: f16 activations need F16 weights, not " +
                    std::string(dtype_name(w.dtype)));
    }
    MatvecArgs args{w.dtype, w.data, w.rows, w.cols, w.row_stride(), nullptr, y.data()};
    args.x_half = x.data();
    run_matvec(path, w, x.size(), y, args);
}

}  // namespace detail

void dequantize_rows(DType type, const std::byte* data, int64_t rows, int64_t cols,
                     std::span<float> out) {
    const int64_t count = rows * cols;
    if (static_cast<int64_t>(out.size()) < count) {
        throw Error("dequantize_rows: output holds " + std::to_string(out.size()) +
                    " values, need " + std::to_string(count));
    }
    const auto n = static_cast<size_t>(count);
    switch (type) {
        case DType::F32:
            std::memcpy(out.data(), data, n * sizeof(float));
            return;
        case DType::F16:
            f16_to_f32({reinterpret_cast<const uint16_t*>(data), n}, out.first(n));
            return;
        case DType::BF16:
            bf16_to_f32({reinterpret_cast<const uint16_t*>(data), n}, out.first(n));
            return;
        default:
            return dequantize_rows_quant(type, data, rows, cols, out.data());
    }
}

void matvec(const Matrix& w, std::span<const float> x, std::span<float> y) {
    if (dtype_traits(w.dtype).block_elements > 1) return matvec_quant(w, x, y);
    detail::matvec_float(detail::best_matvec_path(), w, x, y);
}

void matvec(const Matrix& w, std::span<const uint16_t> x_half, std::span<float> y) {
    detail::matvec_half(detail::best_matvec_path(), w, x_half, y);
}

}  // namespace llama::kernels
