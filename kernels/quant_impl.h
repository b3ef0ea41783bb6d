#pragma once

// Internal: the per-instruction-set quantized matrix-vector products behind matvec_quant().
//
// All paths see the same QuantizedActivations, so their integer dot products are identical and
// only the order of the float accumulation differs. The activation bias is what lets the VNNI
// path (VPDPBUSD multiplies unsigned by signed bytes) use unsigned weights:
//   Q8_0: sum(w*x) = sum((w+128)*x) - 128*sum(x)   -> bias = -128 * sum(x) per block
//   Q4_0: sum((q-8)*x) = sum(q*x) - 8*sum(x)        -> bias =   -8 * sum(x) per block
//   Q5_0: sum((q-16)*x) = sum(q*x) - 16*sum(x)      -> bias =  -16 * sum(x) per block
//   IQ4_NL: sum(v*x) = sum((v+128)*x) - 128*sum(x)  -> bias = -128 * sum(x) per block
//   Q4_1/Q5_1: sum((d*q + m)*x) = d*sum(q*x) + m*sum(x) -> bias = sum(x), times m
// and the dot product accumulator of each block starts at the bias (Q4_1/Q5_1: scaled by m).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "kernels/prefetch.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"

namespace llama::kernels::detail {

// The offset of the activation bias of 32-value block types (above); -1 for Q4_1/Q5_1, whose bias
// is the plain block sum.
inline int32_t activation_offset(DType type) {
    switch (type) {
        case DType::Q8_0:
        case DType::IQ4_NL:
            return 128;
        case DType::Q4_0:
            return 8;
        case DType::Q5_0:
            return 16;
        default:
            return -1;
    }
}

// y[t * ldy + r] = dot(row r, x[t]) for r < rows, t < n_tokens.
struct QuantMatvecArgs {
    DType dtype;
    const std::byte* weights;
    int64_t rows;
    int64_t cols;
    int64_t row_stride;
    const QuantizedActivations* x;  // n_tokens of them
    int64_t n_tokens;
    float* y;
    int64_t ldy;
};

// Row-major over the weights: each row is read once, start to end as one sequential stream
// (which the hardware prefetcher follows best), and stays in L1 for all the tokens.
template <class Block, float (*Dot)(const Block*, const QuantizedActivations&)>
void rows_loop(const QuantMatvecArgs& args) {
    for (int64_t r = 0; r < args.rows; ++r) {
        const auto* row = reinterpret_cast<const Block*>(args.weights + r * args.row_stride);
        for (int64_t t = 0; t < args.n_tokens; ++t) {
            args.y[t * args.ldy + r] = Dot(row, args.x[t]);
        }
    }
}

// rows_loop for kernels that take several tokens at once: dots[T - 1] computes the row's dot
// product with T tokens (T <= kMaxTokens), each token's arithmetic exactly that of the one-token
// kernel dots[0], so a token's result does not depend on what else is in the batch (the server's
// reproducible mode relies on it); what the tokens share, such as unpacking the weights, is done
// once.
template <class Block>
using MultiTokenDot = void (*)(const Block* row, const QuantizedActivations* x, float* out);

template <class Block, size_t kMaxTokens>
void rows_loop_tokens(const QuantMatvecArgs& args,
                      const std::array<MultiTokenDot<Block>, kMaxTokens>& dots) {
    for (int64_t r = 0; r < args.rows; ++r) {
        const auto* row = reinterpret_cast<const Block*>(args.weights + r * args.row_stride);
        for (int64_t t0 = 0; t0 < args.n_tokens; t0 += static_cast<int64_t>(kMaxTokens)) {
            const int64_t count = std::min<int64_t>(kMaxTokens, args.n_tokens - t0);
            float out[kMaxTokens];
            dots[count - 1](row, args.x + t0, out);
            for (int64_t t = 0; t < count; ++t) args.y[(t0 + t) * args.ldy + r] = out[t];
        }
    }
}

// Software prefetch, for the interleaved kernels' multi-token variants, of the block group of
// `bytes` that starts kPrefetchAheadBytes after `group` (every cache line of it). With several
// tokens they take long enough over each block group that the hardware prefetcher falls behind:
// from DRAM, Q4_0 with 8 tokens (a llama-server step with 8 clients) ran at a third of its speed
// in cache. About 2 KB ahead (llama-bench -b 8, 8-layer 7B-shape Q4_0 file, 2 threads, AVX-512):
// 89-92 -> 128-145 t/s (4.6 KB ahead: 119-125). One token prefetches as the other decode kernels
// do (prefetch.h): on Zen 4 that measured no different from the hardware prefetcher alone, on an
// Intel Xeon 9.7 -> 12.8 GB/s a thread (Q4_0, AVX-512), 8.6 -> 11.7 (AVX2).
inline constexpr int64_t kPrefetchAheadBytes = 2304;  // 8 Q4_0 groups, 1 Q4_K group
template <int T>
inline void prefetch_group_ahead(const std::byte* group, int64_t bytes) {
    if constexpr (T == 1) {
        prefetch_stream_lines(group, bytes);
    } else {
        prefetch_lines<kPrefetchAheadBytes, 3>(group, bytes);
    }
}

// The one-token 32-value block kernels (interleaved Q4_0 / IQ4_NL / Q8_0, 288 or 544 bytes a
// group) also prefetch into L1 (T0) kL1AheadBytes ahead, lines the L2 prefetch 4 KB ahead has
// mostly brought in by then, so the loads wait less. Intel Xeon with AMX, 8-layer 7B-shape files,
// 2 threads, llama-bench tg, alternating, 3 rounds, t/s: AVX-512 Q4_0 26.8-27.6 -> 28.1-29.0,
// Q8_0 15.5-16.0 -> 16.1-16.5; --isa avx2 Q4_0 24.0-24.3 -> 25.7-26.6, Q8_0 14.7 -> 15.1-15.8.
// 320 and 640 bytes ahead gained less, 2048 as much, 3072 less. For Q4_K and Q6_K (2304 and
// 3360-byte groups, prefetched in quarters) the same at 640 or 1152 bytes measured 2-3% slower.
inline constexpr int64_t kL1AheadBytes = 1152;
template <int T>
inline void prefetch_block32_group(const std::byte* group, int64_t bytes) {
    prefetch_group_ahead<T>(group, bytes);
    if constexpr (T == 1) prefetch_lines<kL1AheadBytes, 3>(group, bytes);
}

// A Q4_K group's prefetch (2304 bytes, 36 lines), a quarter at a time: the kernels read the group
// in quarters of 64 values and each quarter prefetches its own lines as it starts, where issuing
// all 36 at the group's start stalled the loop. Intel Xeon with AMX, one token, one thread, 11008 x
// 4096 from DRAM (quant_bench): AVX-512 11.3 -> 12.5 GB/s (35 -> 43 GB/s from L2), AVX2 9.0 ->
// 10.0-10.5; 8-layer Q4_K_M decode, 2 threads: 20.0 -> 23.1 t/s (AVX-512), 17.1 -> 19.4 (level
// avx2); batches of 2 / 4 tokens (llama-bench -b): 35.6 -> 38.3 / 60.5 -> 67.2 t/s (AVX-512),
// 28.8 -> 30.9 / 38.1 -> 43.0 (avx2).
template <int T>
inline void prefetch_q4_k_quarter(const std::byte* group, int quarter) {
    constexpr int64_t kQuarter = kQ4_KR16Group / 4;
    prefetch_group_ahead<T>(group + quarter * kQuarter, kQuarter);
}

// A Q6_K group's prefetch (3360 bytes) in quarters as the kernels read it: 4 chunks each (the d
// and scales with the first).
template <int T>
inline void prefetch_q6_k_quarter(const std::byte* group, int quarter) {
    constexpr int64_t kQuarter = 4 * kQ6_KR16ChunkBytes;
    if (quarter == 0) prefetch_group_ahead<T>(group, kQ6_KR16Chunks);
    prefetch_group_ahead<T>(group + kQ6_KR16Chunks + quarter * kQuarter, kQuarter);
}

// A Q5_K group's prefetch (2816 bytes) in quarters as the kernels read it: 64 values of qs each
// (the d, dmin, scales and qh with the first).
template <int T>
inline void prefetch_q5_k_quarter(const std::byte* group, int quarter) {
    constexpr int64_t kQuarter = (kQ5_KR16Group - kQ5_KR16Qs) / 4;
    if (quarter == 0) prefetch_group_ahead<T>(group, kQ5_KR16Qs);
    prefetch_group_ahead<T>(group + kQ5_KR16Qs + quarter * kQuarter, kQuarter);
}

// Row-interleaved weights (quant_interleave.h): kernels[T - 1] computes the 16 rows of one group
// with T tokens, y[t * ldy + i] for row i of the group; rows is a multiple of 16.
using R16GroupKernel = void (*)(const std::byte* group, int64_t n_blocks,
                                const QuantizedActivations* x, float* y, int64_t ldy);

// kernels[T - 1] for up to kernels.size() tokens at a time.
inline void r16_groups_loop(const QuantMatvecArgs& args, int64_t block_values,
                            std::span<const R16GroupKernel> kernels) {
    const int64_t n_blocks = args.cols / block_values;
    const auto max_tokens = static_cast<int64_t>(kernels.size());
    for (int64_t r = 0; r < args.rows; r += kInterleaveRows) {
        const std::byte* group = args.weights + r * args.row_stride;
        for (int64_t t0 = 0; t0 < args.n_tokens; t0 += max_tokens) {
            const int64_t count = std::min<int64_t>(max_tokens, args.n_tokens - t0);
            kernels[count - 1](group, n_blocks, args.x + t0, args.y + t0 * args.ldy + r, args.ldy);
        }
    }
}

// The interleaved types' group kernels of one instruction set.
struct R16Kernels {
    std::span<const R16GroupKernel> q4_0, q4_k, iq4_nl, q8_0, q6_k, q5_k;
};

inline void r16_dispatch(const QuantMatvecArgs& args, const R16Kernels& kernels) {
    switch (args.dtype) {
        case DType::Q4_0_R16:
            return r16_groups_loop(args, 32, kernels.q4_0);
        case DType::IQ4_NL_R16:
            return r16_groups_loop(args, 32, kernels.iq4_nl);
        case DType::Q4_K_R16:
            return r16_groups_loop(args, 256, kernels.q4_k);
        case DType::Q8_0_R16:
            return r16_groups_loop(args, 32, kernels.q8_0);
        case DType::Q6_K_R16:
            return r16_groups_loop(args, 256, kernels.q6_k);
        case DType::Q5_K_R16:
            return r16_groups_loop(args, 256, kernels.q5_k);
        default:
            break;  // matvec_quant checked the type
    }
}

void quant_matvec_scalar(const QuantMatvecArgs& args);
// Row-interleaved weights through the portable kernels, each 16-row group taken back to rows (the
// reference the SIMD paths are tested against; quant_matvec_r16_deinterleaved does the same with
// any kernel for the base layout).
void quant_matvec_r16_scalar(const QuantMatvecArgs& args);
void quant_matvec_r16_deinterleaved(const QuantMatvecArgs& args,
                                    void (*base_matvec)(const QuantMatvecArgs&));
void quant_matvec_r16_avx2(const QuantMatvecArgs& args);
void quant_matvec_r16_avx512(const QuantMatvecArgs& args);
void quant_matvec_avx2(const QuantMatvecArgs& args);
void quant_matvec_avx512(const QuantMatvecArgs& args);
// Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q2_K, Q3_K on AVX2 (quant_avx2_more.cpp), for both SIMD paths.
void quant_matvec_avx2_more_types(const QuantMatvecArgs& args);

// 127 / amax for an activation block whose largest magnitude is amax, or 0 when that is not a
// finite number: all-zero, vanishingly small (subnormal) and non-finite blocks quantize to zeros
// (a non-finite block still has a non-finite scale, so it shows up in the result).
inline float activation_inverse(float amax) {
    const float inverse = 127.0f / amax;
    return inverse <= std::numeric_limits<float>::max() ? inverse : 0.0f;
}

// AVX-512 (F, BW, VL) dequantization of one row of n values, and the activation quantizer of one
// block (bit-identical to the portable one).
void dequantize_row_avx512(DType type, const std::byte* row, int64_t n, float* out);
inline bool has_avx512_dequantize(DType type) {
    return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q4_K ||
           type == DType::Q5_K || type == DType::Q6_K;
}
float quantize_block_avx512(const float* x, int64_t count, int8_t* q);
float quantize_block_avx2(const float* x, int64_t count, int8_t* q);

}  // namespace llama::kernels::detail
