// AVX2 + FMA + F16C matrix-vector product: four rows share each x load, two accumulators per row
// keep eight FMAs in flight, each row prefetched 2 KB ahead. Compiled with target attributes
// whatever the build flags, and chosen at run time (weights.cpp).

#include <cstdint>

#include "kernels/cpu_features.h"
#include "kernels/fp16_scalar.h"
#include "kernels/matvec_impl.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels::detail {

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace {

constexpr int64_t kRowsPerBlock = 4;
// Software prefetch distance per row, as in matvec_avx512.cpp: four interleaved row streams
// outrun the hardware prefetcher.
constexpr int64_t kPrefetchBytes = 2048;

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

template <class Load, int R>
LLAMA_TARGET_AVX2 void rows_block(const std::byte* weights, int64_t row_stride, int64_t cols,
                                  const float* x, float* y) {
    using Element = typename Load::Element;
    const Element* rows[R];
    __m256 acc0[R];
    __m256 acc1[R];
    for (int r = 0; r < R; ++r) {
        rows[r] = reinterpret_cast<const Element*>(weights + r * row_stride);
        acc0[r] = _mm256_setzero_ps();
        acc1[r] = _mm256_setzero_ps();
    }
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        // Each row's line kPrefetchBytes ahead, once per 64 bytes; past a row's end, the same
        // offset of the next group's row (the following row is being read now).
        const int64_t offset = c * static_cast<int64_t>(sizeof(Element));
        if (offset % 64 == 0) {
            const int64_t ahead = offset + kPrefetchBytes;
            const int64_t jump = ahead >= row_stride ? (R - 1) * row_stride : 0;
            for (int r = 0; r < R; ++r) {
                _mm_prefetch(reinterpret_cast<const char*>(rows[r]) + ahead + jump, _MM_HINT_T0);
            }
        }
        const __m256 x0 = _mm256_loadu_ps(x + c);
        const __m256 x1 = _mm256_loadu_ps(x + c + 8);
        for (int r = 0; r < R; ++r) {
            acc0[r] = _mm256_fmadd_ps(Load::load(rows[r] + c), x0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(Load::load(rows[r] + c + 8), x1, acc1[r]);
        }
    }
    if (c + 8 <= cols) {
        const __m256 x0 = _mm256_loadu_ps(x + c);
        for (int r = 0; r < R; ++r) acc0[r] = _mm256_fmadd_ps(Load::load(rows[r] + c), x0, acc0[r]);
        c += 8;
    }
    for (int r = 0; r < R; ++r) {
        float total = reduce_add(_mm256_add_ps(acc0[r], acc1[r]));
        for (int64_t i = c; i < cols; ++i) total += Load::widen(rows[r][i]) * x[i];
        y[r] = total;
    }
}

template <class Load>
LLAMA_TARGET_AVX2 void matvec_rows(const MatvecArgs& args) {
    int64_t r = 0;
    for (; r + kRowsPerBlock <= args.rows; r += kRowsPerBlock) {
        rows_block<Load, kRowsPerBlock>(args.weights + r * args.row_stride, args.row_stride,
                                        args.cols, args.x, args.y + r);
    }
    for (; r < args.rows; ++r) {
        rows_block<Load, 1>(args.weights + r * args.row_stride, args.row_stride, args.cols, args.x,
                            args.y + r);
    }
}

}  // namespace

LLAMA_TARGET_AVX2 void matvec_avx2(const MatvecArgs& args) {
    switch (args.dtype) {
        case DType::F32:
            return matvec_rows<F32Load>(args);
        case DType::F16:
            return matvec_rows<F16Load>(args);
        case DType::BF16:
            return matvec_rows<BF16Load>(args);
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
