// AVX-512 matrix-vector product, the single-token decode hot path. It must stream the weights at
// memory bandwidth: four rows share each pair of x loads, two accumulators per row keep eight
// FMAs in flight, F16 widens with VCVTPH2PS and BF16 by shifting into the high half of each
// lane, each row prefetched 2 KB ahead. The column tail uses masked loads, which never touch memory
// past the row.

#include <cstdint>

#include "kernels/cpu_features.h"
#include "kernels/matvec_impl.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels::detail {

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace {

constexpr int64_t kRowsPerBlock = 4;
// Software prefetch distance per row: the hardware prefetcher alone leaves four interleaved row
// streams short of bandwidth (measured F16, 2 threads: 27 -> 32 GB/s; 1-4 KB all similar).
constexpr int64_t kPrefetchBytes = 2048;

struct F32Load {
    using Element = float;
    LLAMA_TARGET_AVX512 static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
    LLAMA_TARGET_AVX512 static __m512 load_masked(const float* p, __mmask16 mask) {
        return _mm512_maskz_loadu_ps(mask, p);
    }
};
struct F16Load {
    using Element = uint16_t;
    LLAMA_TARGET_AVX512 static __m512 load(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    LLAMA_TARGET_AVX512 static __m512 load_masked(const uint16_t* p, __mmask16 mask) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
    }
};
struct BF16Load {
    LLAMA_TARGET_AVX512 static __m512 widen(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    using Element = uint16_t;
    LLAMA_TARGET_AVX512 static __m512 load(const uint16_t* p) {
        return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    LLAMA_TARGET_AVX512 static __m512 load_masked(const uint16_t* p, __mmask16 mask) {
        return widen(_mm256_maskz_loadu_epi16(mask, p));
    }
};

template <class Load, int R>
LLAMA_TARGET_AVX512 void rows_block(const std::byte* weights, int64_t row_stride, int64_t cols,
                                    const float* x, float* y) {
    using Element = typename Load::Element;
    const Element* rows[R];
    __m512 acc0[R];
    __m512 acc1[R];
    for (int r = 0; r < R; ++r) {
        rows[r] = reinterpret_cast<const Element*>(weights + r * row_stride);
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32) {
        // Each row's next lines; past a row's end, the same offset of the next group's row (the
        // following row is being read now).
        const int64_t ahead = c * static_cast<int64_t>(sizeof(Element)) + kPrefetchBytes;
        const int64_t jump = ahead >= row_stride ? (R - 1) * row_stride : 0;
        for (int r = 0; r < R; ++r) {
            const char* line = reinterpret_cast<const char*>(rows[r]) + ahead + jump;
            for (size_t offset = 0; offset < 32 * sizeof(Element); offset += 64) {
                _mm_prefetch(line + offset, _MM_HINT_T0);
            }
        }
        const __m512 x0 = _mm512_loadu_ps(x + c);
        const __m512 x1 = _mm512_loadu_ps(x + c + 16);
        for (int r = 0; r < R; ++r) {
            acc0[r] = _mm512_fmadd_ps(Load::load(rows[r] + c), x0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(Load::load(rows[r] + c + 16), x1, acc1[r]);
        }
    }
    if (c + 16 <= cols) {
        const __m512 x0 = _mm512_loadu_ps(x + c);
        for (int r = 0; r < R; ++r) acc0[r] = _mm512_fmadd_ps(Load::load(rows[r] + c), x0, acc0[r]);
        c += 16;
    }
    if (c < cols) {
        const auto mask = static_cast<__mmask16>((1u << (cols - c)) - 1);
        const __m512 x0 = _mm512_maskz_loadu_ps(mask, x + c);
        for (int r = 0; r < R; ++r) {
            acc1[r] = _mm512_fmadd_ps(Load::load_masked(rows[r] + c, mask), x0, acc1[r]);
        }
    }
    for (int r = 0; r < R; ++r) y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

template <class Load>
LLAMA_TARGET_AVX512 void matvec_rows(const MatvecArgs& args) {
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

LLAMA_TARGET_AVX512 void matvec_avx512(const MatvecArgs& args) {
    switch (args.dtype) {
        case DType::F32:
            return matvec_rows<F32Load>(args);
        case DType::F16:
            return matvec_rows<F16Load>(args);
        case DType::BF16:
            return matvec_rows<BF16Load>(args);
        default:
            throw Error("matvec_avx512: weight type is not a plain float type");
    }
}

#else

void matvec_avx512(const MatvecArgs&) {
    throw Error("matvec_avx512: no x86 target support in this compiler");
}

#endif

}  // namespace llama::kernels::detail
