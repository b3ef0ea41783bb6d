#pragma once

// Quantized weight formats, bit for bit as ggml defines them (so GGUF files are used in place),
// their dequantization, ggml's reference quantizers for Q8_0/Q4_0, and the decode hot path: a
// matrix-vector product that quantizes the activations to 8 bits once and runs integer dot
// products (AVX-512 VNNI, AVX2 or portable C++, picked at run time from the CPU's features).
//
// Formats (all little-endian, scales are IEEE half floats):
//   Q8_0: 32 values  = f16 d, int8 q[32];                    value = d * q
//   Q4_0: 32 values  = f16 d, u8 qs[16];                     value = d * (nibble - 8); element
//                      j < 16 is the low nibble of qs[j], element j >= 16 the high nibble of
//                      qs[j-16]
//   Q4_K: 256 values = f16 d, f16 dmin, u8 scales[12], u8 qs[128]: 8 sub-blocks of 32 with 6-bit
//                      scale sc and min m packed in scales[] (see unpack_q4k_scale_min);
//                      value = d*sc * nibble - dmin*m. Each 64 values use qs[32]: the low
//                      nibbles are the first sub-block, the high nibbles the second.
//   Q5_K: 256 values = Q4_K plus u8 qh[32] (before qs) holding the fifth bit: bit 2i / 2i+1 of
//                      qh[l] is the high bit of element l of sub-block 2i / 2i+1.
//   Q6_K: 256 values = u8 ql[128], u8 qh[64], int8 scales[16], f16 d; 16 sub-blocks of 16,
//                      value = d * scales[e/16] * (q - 32), q 6 bits: 4 from ql, 2 from qh.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "llama/tensor.h"

namespace llama::kernels {

inline constexpr int64_t kQ8_0BlockSize = 32;
inline constexpr int64_t kQ4_0BlockSize = 32;
inline constexpr int64_t kSuperBlockSize = 256;  // QK_K

struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[32];
};
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[16];
};
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[128];
};
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
struct BlockQ6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Scale and min of sub-block j (0..7) from the 12 packed bytes of a Q4_K/Q5_K block (ggml's
// get_scale_min_k4): sub-blocks 0-3 keep their 6 bits in the low bits of bytes j and j+4;
// sub-blocks 4-7 keep their low 4 bits in byte j+4 and their top 2 bits in the spare top bits
// of bytes j-4 (scale) and j (min).
inline void unpack_q4k_scale_min(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
        *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

// ---- Dequantization: n values (a whole number of blocks) to fp32 ------------------------------
void dequantize_row_q8_0(const BlockQ8_0* blocks, int64_t n, float* out);
void dequantize_row_q4_0(const BlockQ4_0* blocks, int64_t n, float* out);
void dequantize_row_q4_k(const BlockQ4_K* blocks, int64_t n, float* out);
void dequantize_row_q5_k(const BlockQ5_K* blocks, int64_t n, float* out);
void dequantize_row_q6_k(const BlockQ6_K* blocks, int64_t n, float* out);

// `rows` rows of `cols` values of a quantized type to fp32 (out is [rows, cols]). Throws
// llama::Error for non-quantized types or cols that are not whole blocks.
void dequantize_rows_quant(DType type, const std::byte* data, int64_t rows, int64_t cols,
                           float* out);

// ---- Quantization (llama-quantize): ggml's reference quantizers, same rounding ---------------
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out);
// Whole rows of `cols` values into `type` (Q8_0 or Q4_0); out holds rows * row_bytes(type, cols).
void quantize_rows(DType type, const float* x, int64_t rows, int64_t cols, std::byte* out);

// ---- Activations quantized for the integer dot products --------------------------------------
// Q8_0/Q4_0 weights pair with 32-value blocks, the K-quants with 256-value blocks (ggml's Q8_K):
// int8 values q with one float scale per block, x ~= scale * q, |q| <= 127.
struct QuantizedActivations {
    DType weight_type = DType::Q8_0;  // the weight format these activations are laid out for
    int64_t n = 0;
    std::vector<int8_t> qs;      // n values
    std::vector<float> scales;   // one per block
    std::vector<int32_t> bias;   // Q8_0: -128 * block sum, Q4_0: -8 * block sum (see quant_impl.h)
    std::vector<int16_t> bsums;  // K-quants: sum of each 16 consecutive q
};

// Quantizes x for products with weights of `weight_type` (a quantized type). x.size() must be a
// whole number of the type's blocks. Reuses out's buffers.
void quantize_activations(DType weight_type, std::span<const float> x, QuantizedActivations& out);

// ---- Matrix-vector products -------------------------------------------------------------------
// y[r] = dot(row r of w, x) for every row of w (a quantized matrix, usually a row slice). The
// first form quantizes x itself; the second reuses activations quantized once for all slices
// (they must have been quantized for w.dtype and have w.cols values).
void matvec_quant(const Matrix& w, std::span<const float> x, std::span<float> y);
void matvec_quant(const Matrix& w, const QuantizedActivations& x, std::span<float> y);

// The same for several tokens at once (a small batch: batched decode, short prompts): each weight
// row is read once for all of them. y[t * ldy + r] = dot(row r of w, x[t]), ldy >= w.rows. From
// 3 tokens on, the integer GEMM of kernels/quant_gemm.h is faster.
void matmul_quant(const Matrix& w, std::span<const QuantizedActivations> x, std::span<float> y,
                  int64_t ldy);

// Instruction-set paths of matvec_quant; the widest one the active ISA level (llama/isa.h) allows
// is used. Tests and benchmarks run each path the CPU supports explicitly.
enum class QuantPath { Scalar, Avx2, Avx512Vnni };
bool quant_path_supported(QuantPath path);  // the CPU can run it, whatever the cap
QuantPath best_quant_path();
const char* quant_path_name(QuantPath path);
void matvec_quant(QuantPath path, const Matrix& w, const QuantizedActivations& x,
                  std::span<float> y);
void matmul_quant(QuantPath path, const Matrix& w, std::span<const QuantizedActivations> x,
                  std::span<float> y, int64_t ldy);
// The same choice for dequantization and activation quantization (AVX-512 or portable; the AVX2
// path uses the portable code). Activation quantization gives identical bytes on every path.
void dequantize_rows_quant(QuantPath path, DType type, const std::byte* data, int64_t rows,
                           int64_t cols, float* out);
void quantize_activations(QuantPath path, DType weight_type, std::span<const float> x,
                          QuantizedActivations& out);

}  // namespace llama::kernels
