// AVX2 + FMA + F16C matrix-vector product: each row read on its own as one stream, 16 values per
// step into two accumulators (as matvec_avx512.cpp explains, faster than interleaving rows, and
// wider steps were slower), prefetched ahead in the row (prefetch.h). Compiled with target
// attributes whatever the build flags, and chosen at run time (weights.cpp).

#include <cstdint>

#include "kernels/cpu_features.h"
#include "kernels/fp16_scalar.h"
#include "kernels/matvec_impl.h"
#include "kernels/prefetch.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels::detail {

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace {

struct F32Load {
    using Element = float;
    LLAMA_TARGET_AVX2 static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
    static float widen(float v) { return v; }
};
struct F16Load {
    using Element = uint16_t;
    LLAMA_TARGET_AVX2 static __m256 load(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static float widen(uint16_t v) { return f16_to_f32_scalar(v); }
};
struct BF16Load {
    using Element = uint16_t;
    LLAMA_TARGET_AVX2 static __m256 load(const uint16_t* p) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static float widen(uint16_t v) { return bf16_to_f32_scalar(v); }
};

LLAMA_TARGET_AVX2 float reduce_add(__m256 v) {
    const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    const __m128 sum1 = _mm_add_ss(sum2, _mm_movehdup_ps(sum2));
    return _mm_cvtss_f32(sum1);
}

// One row's dot product with x, the row read front to back as a single stream; XLoad reads x
// (fp32, or f16 for F16 weights).
template <class Load, class XLoad>
LLAMA_TARGET_AVX2 float row_dot(const typename Load::Element* row, int64_t cols,
                                const typename XLoad::Element* x) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        prefetch_stream_lines(row + c, 16 * sizeof(*row));
        acc0 = _mm256_fmadd_ps(Load::load(row + c), XLoad::load(x + c), acc0);
        acc1 = _mm256_fmadd_ps(Load::load(row + c + 8), XLoad::load(x + c + 8), acc1);
    }
    if (c + 8 <= cols) {
        acc0 = _mm256_fmadd_ps(Load::load(row + c), XLoad::load(x + c), acc0);
        c += 8;
    }
    float total = reduce_add(_mm256_add_ps(acc0, acc1));
    for (; c < cols; ++c) total += Load::widen(row[c]) * XLoad::widen(x[c]);
    return total;
}

template <class Load, class XLoad = F32Load>
LLAMA_TARGET_AVX2 void matvec_rows(const MatvecArgs& args, const typename XLoad::Element* x) {
    for (int64_t r = 0; r < args.rows; ++r) {
        const auto* row =
            reinterpret_cast<const typename Load::Element*>(args.weights + r * args.row_stride);
        args.y[r] = row_dot<Load, XLoad>(row, args.cols, x);
    }
}

}  // namespace

LLAMA_TARGET_AVX2 void matvec_avx2(const MatvecArgs& args) {
    switch (args.dtype) {
        case DType::F32:
            return matvec_rows<F32Load>(args, args.x);
        case DType::F16:
            if (args.x_half != nullptr) return matvec_rows<F16Load, F16Load>(args, args.x_half);
            return matvec_rows<F16Load>(args, args.x);
        case DType::BF16:
            return matvec_rows<BF16Load>(args, args.x);
        default:
            throw Error("matvec_avx2: weight type is not a plain float type");
    }
}

#else

void matvec_avx2(const MatvecArgs&) {
    throw Error("matvec_avx2: no x86 target support in this compiler");
}

#endif

}  // namespace llama::kernels::detail
