// Portable matrix-vector product: plain C++ that any target compiles. Four rows share each x
// value; each row keeps independent lane sums so the compiler may still vectorise it.

#include <cstdint>
#include <cstring>

#include "kernels/fp16_scalar.h"
#include "kernels/matvec_impl.h"
#include "llama/error.h"

namespace llama::kernels::detail {

namespace {

constexpr int64_t kRowsPerBlock = 4;
constexpr int64_t kLanes = 8;

struct F32Widen {
    using Element = float;
    static float widen(float v) { return v; }
};
struct F16Widen {
    using Element = uint16_t;
    static float widen(uint16_t v) { return f16_to_f32_scalar(v); }
};
struct BF16Widen {
    using Element = uint16_t;
    static float widen(uint16_t v) { return bf16_to_f32_scalar(v); }
};

template <class Widen, int64_t R>
void rows_block(const std::byte* weights, int64_t row_stride, int64_t cols, const float* x,
                float* y) {
    using Element = typename Widen::Element;
    const Element* rows[R];
    for (int64_t r = 0; r < R; ++r) {
        rows[r] = reinterpret_cast<const Element*>(weights + r * row_stride);
    }
    float lanes[R][kLanes] = {};
    int64_t c = 0;
    for (; c + kLanes <= cols; c += kLanes) {
        for (int64_t r = 0; r < R; ++r) {
            for (int64_t l = 0; l < kLanes; ++l) {
                lanes[r][l] += Widen::widen(rows[r][c + l]) * x[c + l];
            }
        }
    }
    for (int64_t r = 0; r < R; ++r) {
        float total = 0.0f;
        for (int64_t i = c; i < cols; ++i) total += Widen::widen(rows[r][i]) * x[i];
        for (int64_t l = 0; l < kLanes; ++l) total += lanes[r][l];
        y[r] = total;
    }
}

template <class Widen>
void matvec_rows(const MatvecArgs& args) {
    int64_t r = 0;
    for (; r + kRowsPerBlock <= args.rows; r += kRowsPerBlock) {
        rows_block<Widen, kRowsPerBlock>(args.weights + r * args.row_stride, args.row_stride,
                                         args.cols, args.x, args.y + r);
    }
    for (; r < args.rows; ++r) {
        rows_block<Widen, 1>(args.weights + r * args.row_stride, args.row_stride, args.cols, args.x,
                             args.y + r);
    }
}

}  // namespace

void matvec_scalar(const MatvecArgs& args) {
    switch (args.dtype) {
        case DType::F32:
            return matvec_rows<F32Widen>(args);
        case DType::F16:
            return matvec_rows<F16Widen>(args);
        case DType::BF16:
            return matvec_rows<BF16Widen>(args);
        default:
            throw Error("matvec_scalar: weight type is not a plain float type");
    }
}

}  // namespace llama::kernels::detail
