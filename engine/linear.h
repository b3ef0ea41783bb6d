#pragma once

#include <span>
#include <vector>

#include "kernels/gemm_amx.h"
#include "kernels/gemm_fma.h"
#include "kernels/gemm_int16.h"
#include "kernels/quant.h"
#include "kernels/quant_gemm.h"
#include "llama/tensor.h"
#include "llama/thread_pool.h"

namespace llama {

// Buffers reused across calls, and how many-token products may be computed.
struct LinearScratch {
    // Out of line in linear.cpp, whose symbols a shared libengine keeps hidden: inline, the
    // destructor was emitted (and exported) by every file that destroys one.
    LinearScratch();
    ~LinearScratch();
    LinearScratch(const LinearScratch&) = delete;
    LinearScratch& operator=(const LinearScratch&) = delete;

    // Many-token products in bfloat16 (fp32 accumulation) on AMX tiles or with AVX512-BF16 dot
    // products where the active ISA level has them (for float weights only where VDPBF16PS
    // outruns fp32 FMA: kernels::cpu_bf16_dot_is_fast); else F16 / BF16 weights on 16-bit
    // integer dot products where those win (gemm_int16.h), other float weights on fp32 FMA tiles
    // (gemm_fma.h); false runs them all as BLAS sgemm on widened weights, the exact reference.
    bool bf16_gemm = true;
    // Many-token products of quantized weights (without AMX) as integer GEMM (gemm_quant; Q8_0
    // without VNNI gemm_int16); false widens them to fp32 tiles for BLAS sgemm instead.
    bool int_gemm = true;
    // Products of F16 weights with the matrix-vector kernels (decode, small batches) read the
    // activations rounded to f16, as llama.cpp does (kernels.h); false keeps them fp32.
    bool half_activations = true;
    // Up to this many tokens use the matrix-vector kernels whatever the weights (see
    // ContextParams::exact_batch_tokens).
    int64_t matvec_max_tokens = 0;
    std::vector<std::vector<float>> tiles;  // weight rows widened to fp32, one buffer per thread
    std::vector<kernels::QuantizedActivations> activations;  // one per token of a small batch
    std::vector<uint16_t> x_half;   // a small batch's activations rounded to f16 (F16 weights)
    kernels::QuantizedBatch batch;  // activations quantized for gemm_quant
    std::vector<kernels::QuantPanelBuffer> panels;  // one gemm_quant weight panel per thread
    kernels::PackedBuffer packed_x;                 // activations as bf16 tiles, shared by threads
    std::vector<kernels::PackedBuffer> packed_w;    // one packed bf16 weight tile per thread
    std::vector<kernels::FmaScratch> fma;           // one per thread (gemm_fma.h)
    std::vector<float> fma_x;                       // the activations in token tiles (gemm_fma.h)
    std::vector<kernels::Int16Scratch> int16;       // one per thread (gemm_int16.h)
    kernels::Int16Activations int16_x;              // the activations in 16-bit fixed point
    std::vector<float> stacked;                     // one part's output (linear_stacked)
};

// How linear() computes a product (the paragraph below).
enum class LinearPath {
    SmallBatch,  // the matrix-vector kernels, each weight row read once for all tokens
    QuantGemm,   // quantized weights: the integer GEMM on 8-bit activations (quant_gemm.h)
    Int16,       // F16 / BF16, and Q8_0 without VNNI: 16-bit integer dot products (gemm_int16.h)
    Amx,         // bf16 on AMX tiles (gemm_amx.h)
    Bf16,        // bf16 with AVX512-BF16 dot products (the same packed operands)
    Fma,         // float weights on fp32 FMA tiles (gemm_fma.h)
    Sgemm,       // weights widened to fp32 for BLAS sgemm
};
LinearPath linear_path(const Matrix& w, int64_t n_tokens, const LinearScratch& scratch);

// y[t, :] = W x[t, :] for t < n_tokens: x is [n_tokens, w.cols], y is [n_tokens, w.rows].
// A few tokens (decode, batched decode) read each weight row once for all of them with the
// matrix-vector kernels: that is memory-bound. More tokens multiply tiles of weight rows unpacked
// in cache, so 16-bit and quantized weights stay compact in memory: as bf16 on AMX (when allowed
// and available); else quantized weights run the integer GEMM (kernels/quant_gemm.h) on 8-bit
// activations (Q8_0 without VNNI the 16-bit one, kernels/gemm_int16.h), float weights bf16 dot
// products on AVX512-BF16 where those are fast, else F16 /
// BF16 weights 16-bit integer dot products where those win (kernels/gemm_int16.h) and other float
// weights fp32 FMA tiles (kernels/gemm_fma.h), and anything else is widened to fp32 for BLAS sgemm.
// Output rows are split across the pool's threads; each BLAS call runs on one thread.
void linear(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
            std::span<float> y, LinearScratch& scratch);

// The same for a weight kept as a stack of row blocks of their own types (q, k and v of a file
// whose attn_v has more bits): y is [n_tokens, sum of the parts' rows], each part's outputs after
// those of the parts before it, as if the parts were one matrix.
void linear_stacked(ThreadPool& pool, std::span<const Matrix> parts, std::span<const float> x,
                    int64_t n_tokens, std::span<float> y, LinearScratch& scratch);

}  // namespace llama
