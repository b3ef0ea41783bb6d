// Portable matrix-vector product: plain C++ that any target compiles. Four rows share each x
// value; each row keeps independent lane sums so the compiler can still vectorise it.

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/fp16_scalar.h"
#include "kernels/matvec_impl.h"
#include "llama/error.h"

namespace llama::kernels::detail {

namespace {

constexpr int64_t kRowsPerBlock = 4;
constexpr int64_t kLanes = 16;
constexpr int64_t kChunk = 256;

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

// Rows are widened a chunk at a time into a float buffer and then multiplied: two plain loops
// the compiler vectorises, where a fused widen-multiply loop defeats it.
template <class Widen, int64_t R>
void rows_block(const std::byte* weights, int64_t row_stride, int64_t cols, const float* x,
                float* y) {
    using Element = typename Widen::Element;
    const Element* rows[R];
    for (int64_t r = 0; r < R; ++r) {
        rows[r] = reinterpret_cast<const Element*>(weights + r * row_stride);
    }
    float lanes[R][kLanes] = {};
    float tails[R] = {};
    float widened[R][kChunk];
    for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
        const int64_t n = cols - c0 < kChunk ? cols - c0 : kChunk;
        for (int64_t r = 0; r < R; ++r) {
            for (int64_t i = 0; i < n; ++i) widened[r][i] = Widen::widen(rows[r][c0 + i]);
        }
        const float* x_chunk = x + c0;
        const int64_t n_whole = n - n % kLanes;
        for (int64_t r = 0; r < R; ++r) {
            // The chunk of x stays in L1 across the rows of the block.
            float acc[kLanes];
            for (int64_t l = 0; l < kLanes; ++l) acc[l] = lanes[r][l];
            for (int64_t i = 0; i < n_whole; i += kLanes) {
                for (int64_t l = 0; l < kLanes; ++l) acc[l] += widened[r][i + l] * x_chunk[i + l];
            }
            for (int64_t l = 0; l < kLanes; ++l) lanes[r][l] = acc[l];
            for (int64_t i = n_whole; i < n; ++i) tails[r] += widened[r][i] * x_chunk[i];
        }
    }
    for (int64_t r = 0; r < R; ++r) {
        float total = tails[r];
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
    if (args.dtype == DType::F16 && args.x_half != nullptr) {
        // The reference: x widened back to fp32 exactly, then the fp32 product.
        std::vector<float> x(static_cast<size_t>(args.cols));
        for (int64_t c = 0; c < args.cols; ++c) x[c] = f16_to_f32_scalar(args.x_half[c]);
        MatvecArgs widened = args;
        widened.x = x.data();
        widened.x_half = nullptr;
        return matvec_rows<F16Widen>(widened);
    }
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
