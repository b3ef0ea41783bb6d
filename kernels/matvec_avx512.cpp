// AVX-512 matrix-vector product, the single-token decode hot path. It must stream the weights at
// memory bandwidth: each row is read on its own, front to back, as one stream the hardware
// prefetcher follows, 32 values per step into two accumulators. F16 widens with VCVTPH2PS and BF16
// by shifting into the high half of each lane; the column tail uses masked loads, which never
// touch memory past the row. Measured on Zen 4 (F16 11008 x 4096, 2 threads, 4 KiB pages): one
// row per stream 38-43 GB/s where four interleaved rows with software prefetch moved 25-27 and a
// plain read of the same bytes 40; four or eight accumulators per row were slower than two. The
// stream is prefetched 4 KB ahead into L2 (prefetch.h): on an Intel Xeon the hardware prefetcher
// alone left one thread at 8.7 GB/s (F16 11008 x 4096 from DRAM), with it 12.6.

#include <cstdint>

#include "kernels/avx512_float.h"
#include "kernels/cpu_features.h"
#include "kernels/matvec_impl.h"
#include "kernels/prefetch.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels::detail {

#if defined(LLAMA_HAVE_X86_TARGETS)

namespace {

struct F32Load {
    using Element = float;
    LLAMA_TARGET_AVX512 static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
    LLAMA_TARGET_AVX512 static __m512 load_masked(const float* p, __mmask16 mask) {
        return _mm512_maskz_loadu_ps(mask, p);
    }
};
struct F16Load {
    using Element = uint16_t;
    LLAMA_TARGET_AVX512 static __m512 load(const uint16_t* p) { return detail::load_f16x16(p); }
    LLAMA_TARGET_AVX512 static __m512 load_masked(const uint16_t* p, __mmask16 mask) {
        return detail::load_f16x16(p, mask);
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

// One row's dot product with x, the row read front to back as a single stream; XLoad reads x
// (fp32, or f16 for F16 weights: half the bytes besides the weights).
template <class Load, class XLoad>
LLAMA_TARGET_AVX512 float row_dot(const typename Load::Element* row, int64_t cols,
                                  const typename XLoad::Element* x) {
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32) {
        prefetch_stream_lines(row + c, 32 * sizeof(*row));
        acc0 = _mm512_fmadd_ps(Load::load(row + c), XLoad::load(x + c), acc0);
        acc1 = _mm512_fmadd_ps(Load::load(row + c + 16), XLoad::load(x + c + 16), acc1);
    }
    if (c + 16 <= cols) {
        acc0 = _mm512_fmadd_ps(Load::load(row + c), XLoad::load(x + c), acc0);
        c += 16;
    }
    if (c < cols) {
        const auto mask = static_cast<__mmask16>((1u << (cols - c)) - 1);
        acc1 = _mm512_fmadd_ps(Load::load_masked(row + c, mask), XLoad::load_masked(x + c, mask),
                               acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

template <class Load, class XLoad = F32Load>
LLAMA_TARGET_AVX512 void matvec_rows(const MatvecArgs& args, const typename XLoad::Element* x) {
    for (int64_t r = 0; r < args.rows; ++r) {
        const auto* row =
            reinterpret_cast<const typename Load::Element*>(args.weights + r * args.row_stride);
        args.y[r] = row_dot<Load, XLoad>(row, args.cols, x);
    }
}

}  // namespace

LLAMA_TARGET_AVX512 void matvec_avx512(const MatvecArgs& args) {
    switch (args.dtype) {
        case DType::F32:
            return matvec_rows<F32Load>(args, args.x);
        case DType::F16:
            if (args.x_half != nullptr) return matvec_rows<F16Load, F16Load>(args, args.x_half);
            return matvec_rows<F16Load>(args, args.x);
        case DType::BF16:
            return matvec_rows<BF16Load>(args, args.x);
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
