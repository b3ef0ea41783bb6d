#pragma once

// Quantized weights times many tokens (prompt processing): an integer GEMM.
//
// The activations of all tokens are quantized once (QuantizedBatch, the same 8-bit values and
// scales as quantize_activations gives each token), with the tokens of each block side by side so
// a micro-kernel finds a tile of tokens in one place. Each thread widens 16 weight rows at a time
// into a panel in cache (bytes transposed so that 32-bit lane i of a vector holds 4 values of row
// i, integer sub-block scales, fp32 block scales) and runs every token over it with integer dot
// products (VPDPBUSD on AVX-512 VNNI, VPMADDUBSW on AVX2), holding a 16-row x T-token tile of
// accumulators in registers: each weight vector loaded feeds T tokens and each broadcast token
// value feeds 16 rows. The integer sums are exact, so every path gives the same result up to the
// order of the float accumulation.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/gemm_amx.h"  // CacheAlignedAllocator
#include "kernels/quant.h"
#include "llama/tensor.h"

namespace llama::kernels {

// Whether gemm_quant runs weights of `type`: Q8_0, Q4_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, and Q5_0,
// IQ4_NL, IQ4_XS, Q2_K, Q3_K widened exactly into the panels of Q8_0 / Q6_K: every quantized type.
bool gemm_quant_supports(DType type);

// x quantized for gemm_quant. For Q8_0/Q4_0 blocks are 32 values, for the K-quants 256.
//
// The tokens are stored in groups of `group` (the last group may be shorter), and each group
// block-major: block b of the group's tokens one after the other, then block b + 1. A group is
// the token tile of the path's micro-kernel, so a tile reads its activations as one sequential
// stream; with one block-major array over all tokens, a tile's next block was n_tokens blocks
// away (32 KB for 128 tokens of a K-quant), one page and the same cache sets each time.
// slot(b, t) is the index of token t's block b in scales, bias (and, times the block size or
// 16, in qs and bsums).
struct QuantizedBatch {
    DType weight_type = DType::Q8_0;  // the panel type of the weights (Q8_0 for Q5_0, ...)
    int64_t n = 0;                    // values per token
    int64_t n_tokens = 0;             // tokens
    int64_t block = 0;                // values per block
    int64_t group = 1;                // tokens per group
    std::vector<int8_t> qs;           // [slot][block]
    std::vector<float> scales;        // [slot]
    std::vector<int32_t> bias;        // Q8_0/Q4_0: [slot], as QuantizedActivations::bias
    std::vector<int16_t> bsums;       // K-quants: [slot][16], sums of 16 values

    int64_t n_blocks() const { return n / block; }
    // Tokens in the group that starts at token g0.
    int64_t group_size(int64_t g0) const { return n_tokens - g0 < group ? n_tokens - g0 : group; }
    // slot(b, t) - slot(b - 1, t): the size of t's group.
    int64_t slot_stride(int64_t t) const { return group_size(t - t % group); }
    int64_t slot(int64_t b, int64_t t) const {
        const int64_t g0 = t - t % group;
        return g0 * n_blocks() + b * slot_stride(t) + (t - g0);
    }
};

// Quantizes x ([n_tokens, n] row-major) for weights of `weight_type`; the values and scales are
// those quantize_activations gives each token. Reuses out's buffers.
void quantize_batch(QuantPath path, DType weight_type, std::span<const float> x, int64_t n_tokens,
                    QuantizedBatch& out);
void quantize_batch(DType weight_type, std::span<const float> x, int64_t n_tokens,
                    QuantizedBatch& out);
// The same in two steps, so that threads can quantize disjoint token ranges: size out, then
// quantize tokens [t_begin, t_end) of x (all n_tokens of them, as prepared) into it. The groups
// are the tiles of `path`'s kernel (any path's gemm_quant runs any batch; its own is fastest).
void prepare_batch(QuantPath path, DType weight_type, int64_t n, int64_t n_tokens,
                   QuantizedBatch& out);
void prepare_batch(DType weight_type, int64_t n, int64_t n_tokens, QuantizedBatch& out);
void quantize_batch_tokens(QuantPath path, std::span<const float> x, int64_t t_begin, int64_t t_end,
                           QuantizedBatch& out);

// Per-thread buffer for the widened weight panel.
using QuantPanelBuffer = std::vector<std::byte, CacheAlignedAllocator<std::byte>>;

// y[t * ldy + r] = dot(row r of w, token t of x) for r < w.rows, t < x.n_tokens. w is a quantized
// matrix (usually a row slice), x quantized for w.dtype with w.cols values per token, ldy >=
// w.rows. Single-threaded: callers split the rows. Throws llama::Error on mismatched shapes or a
// path this CPU cannot run.
void gemm_quant(QuantPath path, const Matrix& w, const QuantizedBatch& x, std::span<float> y,
                int64_t ldy, QuantPanelBuffer& panel);
void gemm_quant(const Matrix& w, const QuantizedBatch& x, std::span<float> y, int64_t ldy,
                QuantPanelBuffer& panel);

}  // namespace llama::kernels
