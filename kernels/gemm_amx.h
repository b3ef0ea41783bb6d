#pragma once

// Prompt-processing matrix multiply on Intel AMX-BF16: y[t, r] = dot(x[t, :], W[r, :]).
//
// Both operands are converted to bf16 (round to nearest even, like f32_to_bf16) and packed into
// the layouts the tile loads want, so every tile load reads 1 KB of contiguous memory:
//   activations: blocks of 16 tokens x 32 columns, [token][column]          (the A operand)
//   weights:     blocks of 16 rows x 32 columns in VNNI order, [column pair][row][2] (B operand)
// Blocks run along the columns first: block (b, s) starts at (b * ksteps + s) * 512 values, where
// ksteps = ceil(cols / 32). Tokens, rows and columns are zero-padded up to the block sizes, so any
// shape works; padded outputs are never written.
//
// Products of bf16 values are exact in fp32 and the tiles accumulate in fp32, so results differ
// from a float64 product of the rounded inputs only by accumulation order. The tile unit treats
// subnormal bf16 inputs as zero.
//
// The AMX and AVX512-BF16 code is compiled with target attributes and chosen at run time: call
// gemm_bf16_amx only when amx_bf16_available() is true, gemm_bf16_avx512 only when
// avx512_bf16_available() is. The packing functions run everywhere (AVX-512 or scalar).

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <vector>

#include "llama/tensor.h"

namespace llama::kernels {

inline constexpr int64_t kAmxTokenBlock = 16;   // tokens per activation block (tile rows)
inline constexpr int64_t kAmxRowBlock = 16;     // weight rows per block (tile columns of C)
inline constexpr int64_t kAmxColumnStep = 32;   // bf16 columns per block (one tile's K)
inline constexpr size_t kPackedAlignment = 64;  // bytes; see PackedBuffer

// Storage for packed operands. The kernels require them 64-byte aligned: a tile row that
// straddles two cache lines makes every tile load about 6x slower (measured on Sapphire Rapids),
// and malloc only promises 16 bytes.
template <class T>
struct CacheAlignedAllocator {
    using value_type = T;
    CacheAlignedAllocator() = default;
    template <class U>
    CacheAlignedAllocator(const CacheAlignedAllocator<U>&) {}
    T* allocate(size_t n) {
        return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kPackedAlignment}));
    }
    void deallocate(T* p, size_t) { ::operator delete (p, std::align_val_t{kPackedAlignment}); }
    friend bool operator==(const CacheAlignedAllocator&, const CacheAlignedAllocator&) {
        return true;
    }
};
using PackedBuffer = std::vector<uint16_t, CacheAlignedAllocator<uint16_t>>;

// True when the CPU has AMX-TILE and AMX-BF16 and the kernel granted this process the tile data
// state (Linux arch_prctl). Checked once per process; safe to call from any thread.
bool amx_bf16_available();

// Sizes, in uint16_t values, of the packed operands.
int64_t packed_activations_size(int64_t n_tokens, int64_t cols);
int64_t packed_weights_size(int64_t rows, int64_t cols);
// Floats of scratch that pack_weights_bf16 needs (rows of types it widens via dequantize_rows).
int64_t pack_weights_scratch_size(int64_t cols);

// Packs x ([n_tokens, cols] row-major floats) as the A operand. Token blocks are independent, so
// callers may pack tokens [16 * i, 16 * j) into the slice starting at packed_activations_size(16 *
// i, cols) to split the work.
void pack_activations_bf16(std::span<const float> x, int64_t n_tokens, int64_t cols,
                           std::span<uint16_t> packed);

// Packs `rows` rows of a weight matrix of any DType (row-major, row_bytes(type, cols) apart) as the
// B operand. F32/F16/BF16 are converted directly; other types are widened 16 rows at a time with
// dequantize_rows into `scratch` (pack_weights_scratch_size(cols) floats).
void pack_weights_bf16(DType type, const std::byte* w, int64_t rows, int64_t cols,
                       std::span<uint16_t> packed, std::span<float> scratch);

// y[t * ldy + r] = sum_k x[t, k] * W[r, k] for t < n_tokens, r < rows, from the packed operands,
// which must start 64-byte aligned (PackedBuffer, or a slice of one at a block boundary).
// Single-threaded; the calling thread configures its own tiles and releases them on return.
// Requires amx_bf16_available(). `prefetch`, if not empty, is memory the caller reads next (the
// next tile's weight rows): its cache lines are prefetched into L2 a few a column step.
void gemm_bf16_amx(std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                   std::span<const uint16_t> packed_w, int64_t rows, std::span<float> y,
                   int64_t ldy, std::span<const std::byte> prefetch = {});

// True when the CPU has AVX512-BF16 (VDPBF16PS) with AVX512F/BW/VL.
bool avx512_bf16_available();

// The same product from the same packed operands with AVX512-BF16 dot products, for CPUs without
// AMX (Zen 4, Cooper Lake); results match gemm_bf16_amx up to accumulation order. Single-threaded.
// Requires avx512_bf16_available(). `prefetch` as for gemm_bf16_amx.
void gemm_bf16_avx512(std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                      std::span<const uint16_t> packed_w, int64_t rows, std::span<float> y,
                      int64_t ldy, std::span<const std::byte> prefetch = {});

namespace detail {
// The portable packing paths, exposed so the tests can compare them with the AVX-512 ones.
void pack_activations_bf16_scalar(std::span<const float> x, int64_t n_tokens, int64_t cols,
                                  std::span<uint16_t> packed);
void pack_weights_bf16_scalar(DType type, const std::byte* w, int64_t rows, int64_t cols,
                              std::span<uint16_t> packed, std::span<float> scratch);
bool pack_avx512_available();
// The operand checks gemm_bf16_amx and gemm_bf16_avx512 share (n_tokens, rows, cols positive):
// ldy >= rows, packed_x / packed_w / y large enough, packed operands 64-byte aligned. Throws
// llama::Error naming `kernel` otherwise.
void check_packed_gemm_args(const char* kernel, std::span<const uint16_t> packed_x,
                            int64_t n_tokens, int64_t cols, std::span<const uint16_t> packed_w,
                            int64_t rows, std::span<const float> y, int64_t ldy);
// gemm_bf16_amx with the number of 32-column steps per cache chunk chosen by the caller.
void gemm_bf16_amx_chunked(std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                           std::span<const uint16_t> packed_w, int64_t rows, std::span<float> y,
                           int64_t ldy, int64_t chunk_steps,
                           std::span<const std::byte> prefetch = {});
}  // namespace detail

}  // namespace llama::kernels
