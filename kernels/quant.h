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
//   Q4_1: 32 values  = f16 d, f16 m, u8 qs[16];              value = d * nibble + m (nibbles as
//                      Q4_0)
//   Q5_0: 32 values  = f16 d, u8 qh[4], u8 qs[16];           value = d * (q - 16), q = nibble (as
//                      Q4_0) | bit j of the little-endian uint32 qh << 4
//   Q5_1: 32 values  = f16 d, f16 m, u8 qh[4], u8 qs[16];    value = d * q + m (q as Q5_0)
//   IQ4_NL: 32 values = f16 d, u8 qs[16];                    value = d * kIq4nlValues[nibble]
//   IQ4_XS: 256 values = f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128]: 8 sub-blocks of 32 with
//                      6-bit scale ls (low 4 bits in nibble j%2 of scales_l[j/2], top 2 in bits
//                      2j of scales_h); value = d * (ls - 32) * kIq4nlValues[nibble], each
//                      sub-block's 16 bytes laid out as Q4_0's.
//   Q2_K: 256 values = u8 scales[16], u8 qs[64], f16 d, f16 dmin: 16 sub-blocks of 16 with 4-bit
//                      scale (low nibble) and min (high nibble); value = d*sc * q - dmin*m, q 2
//                      bits. Element e = 128h + 32k + l (l < 32) is bits 2k of qs[32h + l]; its
//                      sub-block is e / 16.
//   Q3_K: 256 values = u8 hmask[32], u8 qs[64], u8 scales[12], f16 d: 16 sub-blocks of 16 with
//                      6-bit signed scale (see q3k_scale); value = d * (sc - 32) * (q - 4), q's
//                      low 2 bits as Q2_K's and its high bit, bit e / 32 of hmask[e % 32].

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
struct BlockQ4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[16];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[16];
};
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[4];
    uint8_t qs[128];
};
struct BlockQ2_K {
    uint8_t scales[16];
    uint8_t qs[64];
    uint16_t d;
    uint16_t dmin;
};
struct BlockQ3_K {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 &&
              sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockQ2_K) == 84 &&
              sizeof(BlockQ3_K) == 110);

// IQ4_NL's and IQ4_XS's 16 code values (ggml's kvalues_iq4nl): a non-uniform grid, denser near 0.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// The 5-bit code of element j (0..31) of a Q5_0/Q5_1 block.
inline int q5_code(const uint8_t* qs, const uint8_t* qh, int j) {
    const uint32_t high = static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
                          static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
    const int nibble = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return nibble | static_cast<int>((high >> j) & 1) << 4;
}

// Signed scale (-32..31) of sub-block j (0..15) of a Q3_K block: low 4 bits in nibble j / 8 of
// byte j % 8, top 2 bits in bits 2 * (j / 4) of byte 8 + j % 4.
inline int q3k_scale(const uint8_t* packed, int j) {
    const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | high << 4) - 32;
}

// Signed scale (-32..31) of sub-block j (0..7) of an IQ4_XS block.
inline int iq4xs_scale(const BlockIQ4_XS& block, int j) {
    const int low = (block.scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
    const int high = (block.scales_h >> (2 * j)) & 3;
    return (low | high << 4) - 32;
}

// Whether `type` is one of the block-quantized types (not F32/F16/BF16).
inline bool is_quantized_type(DType type) {
    return type != DType::F32 && type != DType::F16 && type != DType::BF16;
}
// Values per activation block for weights of `type`: 256 for the super-block types (K-quants and
// IQ4_XS), 32 for the others.
inline int64_t activation_block(DType type) {
    switch (type) {
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
        case DType::IQ4_XS:
            return kSuperBlockSize;
        default:
            return kQ8_0BlockSize;
    }
}

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
void dequantize_row_q4_1(const BlockQ4_1* blocks, int64_t n, float* out);
void dequantize_row_q5_0(const BlockQ5_0* blocks, int64_t n, float* out);
void dequantize_row_q5_1(const BlockQ5_1* blocks, int64_t n, float* out);
void dequantize_row_iq4_nl(const BlockIQ4_NL* blocks, int64_t n, float* out);
void dequantize_row_iq4_xs(const BlockIQ4_XS* blocks, int64_t n, float* out);
void dequantize_row_q2_k(const BlockQ2_K* blocks, int64_t n, float* out);
void dequantize_row_q3_k(const BlockQ3_K* blocks, int64_t n, float* out);
// Any quantized type, one row of n values (a whole number of blocks).
void dequantize_row(DType type, const std::byte* row, int64_t n, float* out);

// `rows` rows of `cols` values of a quantized type to fp32 (out is [rows, cols]). Throws
// llama::Error for non-quantized types or cols that are not whole blocks.
void dequantize_rows_quant(DType type, const std::byte* data, int64_t rows, int64_t cols,
                           float* out);

// ---- Quantization (llama-quantize) ----------------------------------------------------------
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: ggml's reference rounding. The K-quants search each sub-block's
// scale (and min) for the least (weighted) squared error as ggml's reference quantizers do;
// IQ4_NL/IQ4_XS search the scale over the non-linear grid (kernels/quantize_k.cpp,
// kernels/quantize_iq4.cpp).
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out);
void quantize_row_q4_1(const float* x, int64_t n, BlockQ4_1* out);
void quantize_row_q5_0(const float* x, int64_t n, BlockQ5_0* out);
void quantize_row_q5_1(const float* x, int64_t n, BlockQ5_1* out);
void quantize_row_q2_k(const float* x, int64_t n, BlockQ2_K* out);
void quantize_row_q3_k(const float* x, int64_t n, BlockQ3_K* out);
void quantize_row_q4_k(const float* x, int64_t n, BlockQ4_K* out);
void quantize_row_q5_k(const float* x, int64_t n, BlockQ5_K* out);
void quantize_row_q6_k(const float* x, int64_t n, BlockQ6_K* out);
void quantize_row_iq4_nl(const float* x, int64_t n, BlockIQ4_NL* out);
void quantize_row_iq4_xs(const float* x, int64_t n, BlockIQ4_XS* out);
// Whole rows of `cols` values into `type` (any quantized type); out holds
// rows * row_bytes(type, cols).
void quantize_rows(DType type, const float* x, int64_t rows, int64_t cols, std::byte* out);

// ---- Activations quantized for the integer dot products --------------------------------------
// The 32-value block types pair with 32-value blocks, the K-quants and IQ4_XS with 256-value
// blocks (ggml's Q8_K): int8 values q with one float scale per block, x ~= scale * q, |q| <= 127.
struct QuantizedActivations {
    DType weight_type = DType::Q8_0;  // the weight format these activations are laid out for
    int64_t n = 0;
    std::vector<int8_t> qs;     // n values
    std::vector<float> scales;  // one per block
    // 32-value blocks: -offset * block sum, offset Q8_0 128, Q4_0 8, Q5_0 16, IQ4_NL 128 (see
    // quant_impl.h); Q4_1/Q5_1: the block sum itself (it multiplies the block's min m).
    std::vector<int32_t> bias;
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
// is used. Tests and benchmarks run each path the CPU supports explicitly. AvxVnni is level
// avx2-vnni (AVX2 + AVX-VNNI): the integer GEMM's Q8_0 / Q4_0 tiles use VPDPBUSD, everything else
// is the AVX2 path.
enum class QuantPath { Scalar, Avx2, Avx512Vnni, AvxVnni };
bool quant_path_supported(QuantPath path);  // the CPU can run it, whatever the cap
QuantPath best_quant_path();
// The layout the loader keeps quantized weights of `file_type` in: their row-interleaved type
// (quant_interleave.h) where the active ISA level has a kernel for it, else the file's type.
// Q6_K is interleaved only where a SIMD kernel for it runs (AVX2, AVX-512), not on the portable
// path.
DType load_layout(DType file_type);
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
