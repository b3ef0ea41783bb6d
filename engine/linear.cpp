#include "engine/linear.h"

#include <cblas.h>

#include <algorithm>

#include "kernels/cpu_features.h"
#include "kernels/gemm_fma.h"
#include "kernels/gemm_int16.h"
#include "kernels/kernels.h"
#include "kernels/quant_gemm.h"
#include "kernels/quant_interleave.h"

namespace llama {

namespace {

// Up to this many tokens, reading the weights once with the matrix-vector kernels beats widening
// them for a GEMM.
constexpr int64_t kSmallBatch = 4;
// Float weights on the fp32 FMA tiles (gemm_fma.h): from 4 tokens on the blocked GEMM beats
// reading the weights once with the matrix-vector kernels (Xeon with AMX, 8-layer F16, 2 threads,
// llama-bench -b 4 at --isa avx512-vnni: 19.5 against 16.8-16.9 t/s; -b 3 level, -b 2 10.5
// against 12.7).
constexpr int64_t kSmallBatchFma = 3;
// Quantized weights on the integer GEMM (no AMX): from 3 tokens on, packing 16-row panels once
// and running every token over them beats reading the weights once per row group with the
// matrix-vector kernels (measured on Zen 4, AVX-512 path, one 4096 x 4096 projection, one
// thread: Q4_0/Q8_0/Q4_K 1.0-1.5x faster at 3 tokens, 1.3-1.8x at 4, 1.5-2x at 6-8; at 1 token
// the matrix-vector path is 1.6-4x faster, at 2 tokens it depends on the type).
constexpr int64_t kSmallBatchIntGemm = 2;
// Row-interleaved weights (kernels/quant_interleave.h): their small-batch kernels share each
// unpacked weight vector between up to 8 tokens with no horizontal sums and give each token its
// one-token result; up to this many tokens they are at least as fast as the integer GEMM
// (measured on Zen 4, Q4_0, 8 layers, 2 threads: llama-bench -b 8 / -b 16 86.9 / 115.5 t/s,
// the GEMM on the file's layout 83.9 / 116.6).
constexpr int64_t kSmallBatchInterleaved = 16;
// The AVX-512 VNNI kernels of interleaved weights (8 tokens a pass for the 32-value types, 4 for
// the K-quants) stay ahead of both the integer GEMM and AMX tiles for longer (Intel Xeon with AMX,
// 8-layer files, 2 threads, prompts of 24 / 32 tokens on them against the GEMMs, t/s: amx Q4_0
// 126 -> 198 / 159 -> 207, Q4_K_M 101 -> 158 / 132 -> 170, Q5_K_M 96 -> 125 / level; avx512-vnni
// Q4_0 155 -> 191 / 169 -> 198, Q4_K_M 119 -> 157 / 133 -> 155, Q8_0 136 -> 151 at 32, Q5_K_M
// level at 32; at 48 tokens Q5_K_M and at amx Q4_0 / Q4_K_M lose). The AVX2 kernels (4 tokens a
// pass) lost to the AVX2 GEMM at 24 tokens (Q4_K_M 84 -> 74).
constexpr int64_t kSmallBatchInterleavedAvx512 = 32;
// Interleaved Q8_0 on the 16-bit integer GEMM (levels avx2 and avx512, no VNNI): it passes their
// small-batch kernels between 10 and 12 tokens (Zen 5, 8 layers, 2 threads, t/s small-batch /
// GEMM: avx2 8 tokens 75.5 / 69.8, 10 77.9 / 74.6, 12 79.6 / 84.3, 16 79.3 / 91.1; avx512 8 77.2 /
// 74.9, 12 78.3 / 97.7, 16 81.2 / 112.2).
constexpr int64_t kSmallBatchInterleavedInt16 = 11;
// Rows of a block that stays in cache while every token of a small batch reads it.
constexpr int64_t kMatvecRows = 32;
// Quantized weights must be dequantized to be packed for AMX; up to this many tokens the
// small-batch integer path, which reads the compact weights once, is faster (measured crossover
// about 8 tokens).
constexpr int64_t kAmxSmallBatchQuantized = 8;
// 64 rows x 4096 columns of bf16 (512 KB) stay in L2 beside a pair of token blocks and the next
// tile's rows, prefetched while this one runs. (Without that prefetch, 128 rows had measured ~10%
// faster than 64.) Intel Xeon with AMX, 8-layer files, prompt t/s over 3 alternating rounds, 128
// rows / 64 rows with the prefetch: 16 threads, prompt 128: F16 694 / 771, Q8_0 803 / 979; prompt
// 512: F16 798 / 839, Q4_K_M 873 / 963, Q8_0 936 / 1044; 2 threads (noisy there) no slower.
constexpr int64_t kAmxTileRows = 64;
// AVX512-BF16 dot products run a tile in register blocks of 48 rows over column passes
// (gemm_avx512bf16.cpp), which stream every token once a register block whatever the tile's size;
// a tile of one register block leaves L2 room for the next tile's rows, prefetched while it runs.
// Zen 5, F16, 8 layers, 2 threads, prompt 128 / 512, t/s, alternating: 128 rows 224.5 / 253.7,
// 216.7 / 246.6; 96 rows 227.0 / 245.0, 228.5 / 256.2; 48 rows 230.2 / 264.5, 228.1 / 262.3.
constexpr int64_t kBf16TileRows = 48;
// Rows per widened tile: big enough that BLAS's repacking of the activations is amortised over
// many weight rows, small enough that a thread's tile stays a few MB.
constexpr int64_t kTileRows = 256;

void linear_small_batch(ThreadPool& pool, const Matrix& w, std::span<const float> x,
                        int64_t n_tokens, std::span<float> y, LinearScratch& scratch) {
    const bool quantized = dtype_traits(w.dtype).block_elements > 1;
    if (quantized) {
        scratch.activations.resize(n_tokens);
        const auto quantize = [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                kernels::quantize_activations(w.dtype, x.subspan(t * w.cols, w.cols),
                                              scratch.activations[t]);
            }
        };
        // Several tokens over the threads: one thread quantizing a server step's 8 tokens while
        // the others waited was 2% of the step (whole 7B Q4_0, 2 threads), and as much again idle.
        if (n_tokens > 1) {
            pool.parallel_for(n_tokens, 1, quantize);
        } else {
            quantize(0, n_tokens, 0);
        }
    }
    const auto activations = std::span<const kernels::QuantizedActivations>(scratch.activations)
                                 .first(quantized ? n_tokens : 0);
    // F16 weights: the activations in f16 unless one is out of f16's range.
    bool half = false;
    if (w.dtype == DType::F16 && scratch.half_activations) {
        scratch.x_half.resize(static_cast<size_t>(n_tokens * w.cols));
        half = kernels::round_to_f16(x.first(n_tokens * w.cols), scratch.x_half);
    }
    const std::span<const uint16_t> x_half(scratch.x_half);
    // Blocks of rows handed out as threads come free, each a share of the rows left (multiples of
    // kMatvecRows): the last ones, of kMatvecRows, even out what other processes or interrupts
    // took from a thread. Fixed blocks of rows / (8 x threads) left one thread waiting at the end
    // of each product for up to a block (perf over 256 decode steps of the 8-layer 7B-shape Q4_0
    // file, 2 threads, Intel Xeon: 4.1% of the samples waiting in the pool, 1.4% with these).
    pool.parallel_for_guided(w.rows, kMatvecRows, [&](int64_t begin, int64_t end, int) {
        if (quantized) {
            kernels::matmul_quant(w.slice_rows(begin, end - begin), activations, y.subspan(begin),
                                  w.rows);
            return;
        }
        for (int64_t row = begin; row < end; row += kMatvecRows) {
            const int64_t rows = std::min(kMatvecRows, end - row);
            for (int64_t t = 0; t < n_tokens; ++t) {
                if (half) {
                    kernels::matvec(w.slice_rows(row, rows), x_half.subspan(t * w.cols, w.cols),
                                    y.subspan(t * w.rows + row, rows));
                } else {
                    kernels::matvec(w.slice_rows(row, rows), x.subspan(t * w.cols, w.cols),
                                    y.subspan(t * w.rows + row, rows));
                }
            }
        }
    });
}

void linear_gemm(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                 std::span<float> y, LinearScratch& scratch) {
    scratch.tiles.resize(pool.size());
    // Whole 16-row groups for row-interleaved weights (any tile is dequantized group by group).
    const int64_t tile_rows =
        std::min<int64_t>(kTileRows, ((w.rows + pool.size() - 1) / pool.size() + 15) / 16 * 16);
    const int64_t n_tiles = (w.rows + tile_rows - 1) / tile_rows;
    pool.parallel_for(n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end, int thread) {
        for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
            const int64_t row0 = tile * tile_rows;
            const int64_t rows = std::min(tile_rows, w.rows - row0);
            const float* b = reinterpret_cast<const float*>(w.row(row0));
            if (w.dtype != DType::F32) {
                std::vector<float>& buffer = scratch.tiles[thread];
                buffer.resize(tile_rows * w.cols);
                kernels::dequantize_rows(w.dtype, w.row(row0), rows, w.cols, buffer);
                b = buffer.data();
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_tokens, rows, w.cols, 1.0f,
                        x.data(), w.cols, b, w.cols, 0.0f, y.data() + row0, w.rows);
        }
    });
}

// fn(row0, rows, thread) over blocks of up to max_rows rows (multiples of 32, at least 4 a thread),
// handed to threads as they come free.
template <class Fn>
void for_each_row_block(ThreadPool& pool, int64_t n_rows, int64_t max_rows, Fn fn) {
    const int64_t block_rows =
        std::clamp<int64_t>(n_rows / (4 * pool.size()) / 32 * 32, 32, max_rows);
    const int64_t n_blocks = (n_rows + block_rows - 1) / block_rows;
    pool.parallel_for_dynamic(n_blocks, 1, [&](int64_t begin, int64_t end, int thread) {
        for (int64_t block = begin; block < end; ++block) {
            const int64_t row0 = block * block_rows;
            fn(row0, std::min(block_rows, n_rows - row0), thread);
        }
    });
}

// Float weights without bfloat16 dot products (or AMX), at AVX2 and up: fp32 FMA tiles blocked
// for the caches (gemm_fma.h), blocks of rows handed to threads as they come free (at least 4 per
// thread). Measured on Zen 4 at the AVX2 level (F16, 7B shape, 8 layers, 2 threads, prompt 128),
// unblocked 16-row panels: 56-59 t/s where widened tiles through BLAS sgemm ran 45-46 (llama.cpp's
// AVX2 build 65). The scalar level keeps sgemm.
void linear_fma(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                std::span<float> y, LinearScratch& scratch) {
    scratch.fma_x.resize(static_cast<size_t>(kernels::fma_activations_size(n_tokens, w.cols)));
    kernels::pack_fma_activations(x, n_tokens, w.cols, scratch.fma_x);
    scratch.fma.resize(pool.size());
    for_each_row_block(pool, w.rows, kernels::kFmaBlockRows,
                       [&](int64_t row0, int64_t rows, int thread) {
                           kernels::gemm_fma_rows({.type = w.dtype,
                                                   .rows = w.row(row0),
                                                   .row_stride = w.row_stride(),
                                                   .n_rows = rows,
                                                   .cols = w.cols,
                                                   .packed_x = scratch.fma_x,
                                                   .n_tokens = n_tokens,
                                                   .y = y.data() + row0,
                                                   .ldy = w.rows},
                                                  scratch.fma[thread]);
                       });
}

// F16 / BF16 weights without bf16 dot products, and Q8_0 without VNNI: 16-bit integer dot products
// (gemm_int16.h), twice the products an instruction of fp32 FMA, on the activations quantized once
// for all threads; blocks of rows handed to threads as they come free, as linear_fma does. Zen 5,
// 7B-shape, 8 layers, 2 threads, prompt 128, t/s: F16 against the fp32 FMA tiles avx2 72.4 / 73.5
// -> 108.7 / 105.1, avx2-vnni 73.1 / 71.2 -> 124.9 / 121.1, avx512-vnni 128.5 / 133.7 -> 173.7 /
// 175.0 (and the Intel Xeon's figures at gemm_int16_beats_fma, which leaves the plain avx512 level
// out); Q8_0 against gemm_quant's 8-bit kernels avx2 92.1 / 93.6 -> 111.5 / 112.3, avx512 (its
// ymm kernel there) 92.4 / 94.1 -> 163.6 / 167.2. At the plain avx2 level Q8_0 asks for the
// activations' cross terms, which put gemm_int16_rows_avx2 on its Winograd tile: prompt 128 / 512
// against the plain tile, 9 rounds alternating, means 118.8 / 119.4 -> 121.3 / 121.1 (the tile's
// first version; the final one, 3 rounds, 118.4 / 119.4 -> 121.5 / 120.1).
void linear_int16(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                  std::span<float> y, LinearScratch& scratch) {
    kernels::Int16Activations& x_int = scratch.int16_x;
    kernels::prepare_int16_activations(n_tokens, w.cols, x_int,
                                       kernels::gemm_int16_wants_cross_terms(w.dtype));
    pool.parallel_for(x_int.n_tiles(), 1, [&](int64_t begin, int64_t end, int) {
        kernels::quantize_int16_activations(x.first(n_tokens * w.cols), begin, end, x_int);
    });
    scratch.int16.resize(pool.size());
    for_each_row_block(pool, w.rows, kernels::kInt16BlockRows,
                       [&](int64_t row0, int64_t rows, int thread) {
                           kernels::gemm_int16_rows({.type = w.dtype,
                                                     .rows = w.row(row0),
                                                     .row_stride = w.row_stride(),
                                                     .n_rows = rows,
                                                     .x = &x_int,
                                                     .y = y.data() + row0,
                                                     .ldy = w.rows},
                                                    scratch.int16[thread]);
                       });
}

// Quantized weights: the integer GEMM over 16-row panels, the activations quantized once for all
// threads; each thread takes a contiguous range of panels.
void linear_quant_gemm(ThreadPool& pool, const Matrix& w, std::span<const float> x,
                       int64_t n_tokens, std::span<float> y, LinearScratch& scratch) {
    // Quantizing is a few percent of the product: split over the threads too.
    const auto path = kernels::best_quant_path();
    kernels::prepare_batch(path, w.dtype, w.cols, n_tokens, scratch.batch);
    pool.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
        kernels::quantize_batch_tokens(path, x.first(n_tokens * w.cols), begin, end, scratch.batch);
    });
    scratch.panels.resize(pool.size());
    constexpr int64_t kPanel = 16;
    const int64_t n_panels = (w.rows + kPanel - 1) / kPanel;
    pool.parallel_for(n_panels, 1, [&](int64_t begin, int64_t end, int thread) {
        const int64_t row0 = begin * kPanel;
        const int64_t rows = std::min(end * kPanel, w.rows) - row0;
        kernels::gemm_quant(w.slice_rows(row0, rows), scratch.batch, y.subspan(row0), w.rows,
                            scratch.panels[thread]);
    });
}

// Many tokens in bfloat16 with fp32 accumulation, on AMX tiles or with AVX512-BF16 dot products
// (the same packed operands for both).
void linear_bf16(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
                 std::span<float> y, LinearScratch& scratch, bool amx) {
    const int64_t cols = w.cols;
    constexpr int64_t kTokenBlock = kernels::kAmxTokenBlock;
    scratch.packed_x.resize(kernels::packed_activations_size(n_tokens, cols));
    const int64_t token_blocks = (n_tokens + kTokenBlock - 1) / kTokenBlock;
    pool.parallel_for(token_blocks, 1, [&](int64_t begin, int64_t end, int) {
        const int64_t t0 = begin * kTokenBlock;
        const int64_t count = std::min(end * kTokenBlock, n_tokens) - t0;
        kernels::pack_activations_bf16(
            x.subspan(t0 * cols, count * cols), count, cols,
            std::span(scratch.packed_x).subspan(kernels::packed_activations_size(t0, cols)));
    });
    const bool quantized = dtype_traits(w.dtype).block_elements > 1;
    // Small matrices: tiles of whole 16-row blocks, small enough that every thread gets some.
    const int64_t rows_per_thread = (w.rows + pool.size() - 1) / pool.size();
    const int64_t tile_rows =
        std::min(amx ? kAmxTileRows : kBf16TileRows, (rows_per_thread + 15) / 16 * 16);
    const int64_t n_tiles = (w.rows + tile_rows - 1) / tile_rows;
    scratch.packed_w.resize(pool.size());
    scratch.tiles.resize(pool.size());
    pool.parallel_for(n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end, int thread) {
        kernels::PackedBuffer& packed = scratch.packed_w[thread];
        packed.resize(kernels::packed_weights_size(tile_rows, cols));
        std::vector<float>& widened = scratch.tiles[thread];  // dequantized rows, 16 at a time
        if (quantized) widened.resize(kernels::pack_weights_scratch_size(cols));
        for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
            const int64_t row0 = tile * tile_rows;
            const int64_t rows = std::min(tile_rows, w.rows - row0);
            kernels::pack_weights_bf16(w.dtype, w.row(row0), rows, cols, packed, widened);
            // The next tile's rows, read from DRAM while these dot products run.
            const int64_t next_rows =
                tile + 1 < tile_end ? std::min(tile_rows, w.rows - row0 - tile_rows) : 0;
            const std::span<const std::byte> next(next_rows > 0 ? w.row(row0 + tile_rows) : nullptr,
                                                  static_cast<size_t>(next_rows * w.row_stride()));
            if (amx) {
                kernels::gemm_bf16_amx(scratch.packed_x, n_tokens, cols, packed, rows,
                                       y.subspan(row0), w.rows, next);
            } else {
                kernels::gemm_bf16_avx512(scratch.packed_x, n_tokens, cols, packed, rows,
                                          y.subspan(row0), w.rows, next);
            }
        }
    });
}

}  // namespace

LinearScratch::LinearScratch() = default;
LinearScratch::~LinearScratch() = default;

LinearPath linear_path(const Matrix& w, int64_t n_tokens, const LinearScratch& scratch) {
    const bool amx = scratch.bf16_gemm && kernels::isa_enabled(IsaLevel::Amx);
    const bool quantized = dtype_traits(w.dtype).block_elements > 1;
    // AMX tiles, else AVX512-BF16 dot products; but float weights stay on the fp32 FMA tiles
    // where VDPBF16PS is slower than they are.
    const bool bf16 = amx || (scratch.bf16_gemm && kernels::isa_enabled(IsaLevel::Avx512Bf16) &&
                              (quantized || kernels::cpu_bf16_dot_is_fast()));
    // Quantized weights without AMX: integer dot products on 8-bit activations, as decode does.
    const bool int_gemm =
        quantized && !amx && scratch.int_gemm && kernels::gemm_quant_supports(w.dtype);
    // Float weights without bf16 products, at AVX2 and up: fp32 FMA tiles, or for F16 / BF16
    // 16-bit integer dot products where those are faster.
    const bool fma =
        !quantized && !bf16 && scratch.bf16_gemm && kernels::isa_enabled(IsaLevel::Avx2);
    // Q8_0 where 8-bit products have no VNNI: 16-bit integer dot products (gemm_int16.h).
    const bool q8_0_int16 = int_gemm && kernels::gemm_int16_supports(w.dtype) &&
                            kernels::best_quant_path() == kernels::QuantPath::Avx2;
    const int64_t small_batch =
        kernels::is_interleaved(w.dtype)
            ? (q8_0_int16 ? kSmallBatchInterleavedInt16
               : kernels::best_quant_path() == kernels::QuantPath::Avx512Vnni
                   ? kSmallBatchInterleavedAvx512
                   : kSmallBatchInterleaved)
        : amx && quantized ? kAmxSmallBatchQuantized
        : int_gemm         ? kSmallBatchIntGemm
        : fma              ? kSmallBatchFma
                           : kSmallBatch;
    if (n_tokens <= small_batch || n_tokens <= scratch.matvec_max_tokens) {
        return LinearPath::SmallBatch;
    }
    if (int_gemm) return q8_0_int16 ? LinearPath::Int16 : LinearPath::QuantGemm;
    if (bf16) return amx ? LinearPath::Amx : LinearPath::Bf16;
    if (fma) {
        return kernels::gemm_int16_supports(w.dtype) && kernels::gemm_int16_beats_fma()
                   ? LinearPath::Int16
                   : LinearPath::Fma;
    }
    return LinearPath::Sgemm;
}

void linear(ThreadPool& pool, const Matrix& w, std::span<const float> x, int64_t n_tokens,
            std::span<float> y, LinearScratch& scratch) {
    switch (linear_path(w, n_tokens, scratch)) {
        case LinearPath::SmallBatch:
            return linear_small_batch(pool, w, x, n_tokens, y, scratch);
        case LinearPath::QuantGemm:
            return linear_quant_gemm(pool, w, x, n_tokens, y, scratch);
        case LinearPath::Int16:
            return linear_int16(pool, w, x, n_tokens, y, scratch);
        case LinearPath::Amx:
            return linear_bf16(pool, w, x, n_tokens, y, scratch, true);
        case LinearPath::Bf16:
            return linear_bf16(pool, w, x, n_tokens, y, scratch, false);
        case LinearPath::Fma:
            return linear_fma(pool, w, x, n_tokens, y, scratch);
        case LinearPath::Sgemm:
            return linear_gemm(pool, w, x, n_tokens, y, scratch);
    }
}

void linear_stacked(ThreadPool& pool, std::span<const Matrix> parts, std::span<const float> x,
                    int64_t n_tokens, std::span<float> y, LinearScratch& scratch) {
    if (parts.size() == 1) {
        linear(pool, parts[0], x, n_tokens, y, scratch);
        return;
    }
    int64_t total = 0;
    for (const Matrix& part : parts) total += part.rows;
    int64_t offset = 0;
    for (const Matrix& part : parts) {
        if (n_tokens == 1) {  // decode: the parts' outputs are already side by side
            linear(pool, part, x, 1, y.subspan(offset, part.rows), scratch);
        } else {
            scratch.stacked.resize(n_tokens * part.rows);
            linear(pool, part, x, n_tokens, scratch.stacked, scratch);
            for (int64_t t = 0; t < n_tokens; ++t) {
                std::copy_n(scratch.stacked.begin() + t * part.rows, part.rows,
                            y.begin() + t * total + offset);
            }
        }
        offset += part.rows;
    }
}

}  // namespace llama
