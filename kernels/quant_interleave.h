#pragma once

// Row-interleaved quantized weights: Q4_0, Q4_K, Q5_K, IQ4_NL, Q8_0 and Q6_K with every 16 rows
// stored side by side, block column by block column, so that one 512-bit load holds the next 4
// bytes of all 16 rows (lane i = row i, the layout VPDPBUSD multiplies against 4 broadcast
// activation values). A matrix-vector product then reads one stream, keeps one accumulator lane per
// row (no horizontal sums), unpacks each block's scales for 16 rows at once, and shares every
// unpacked weight vector between the tokens of a small batch. The layout is llama.cpp's and
// ik_llama.cpp's "repacked" weights, made at load time: the bytes of 16 rows are permuted in place,
// nothing is widened, so a matrix takes exactly the memory its file type does.
//
// A group of 16 rows is n_blocks block groups, one per block column b, each the 16 rows' block b
// split into fields, every field stored as [words][16 rows][word bytes], the scales first so that
// a kernel reads each group front to back (one forward stream for the hardware prefetcher):
//   Q4_0_R16 (288 bytes):  d[16]          f16
//                          qs[4][16][4]   bytes 4k..4k+3 of each row's qs (low nibbles: values
//                                         4k..4k+3, high nibbles: values 16+4k..16+4k+3)
//   IQ4_NL_R16 (288 bytes): as Q4_0_R16 (its nibbles index the non-linear grid)
//   Q8_0_R16 (544 bytes):  d[16]          f16
//                          qs[8][16][4]   bytes 4k..4k+3 of each row's qs (values 4k..4k+3)
//   Q4_K_R16 (2304 bytes): d[16], dmin[16] f16
//                          scales[3][16][4] the 12 packed scale bytes, 4 at a time
//                          qs[32][16][4]  chunk c = 8g + k: bytes 32g+4k.. of each row's qs (low
//                                         nibbles: values 64g+4k.., high: 64g+32+4k..)
//   Q5_K_R16 (2816 bytes): as Q4_K_R16 with qh[8][16][4] between the scales and qs: word k is
//                          bytes 4k..4k+3 of each row's qh (bit s: the fifth bit of value 32s+4k..)
//   Q6_K_R16 (3360 bytes): d[16]          f16
//                          scales[4][16][4] the 16 int8 scales, 4 at a time
//                          chunks[16][3][16][4] chunk c = 8h + k: bytes 64h+4k.. and 64h+32+4k..
//                                         of each row's ql (low 4 bits of values 128h+4k.. and
//                                         128h+64+4k.. / 128h+32+4k.. and 128h+96+4k..), bytes
//                                         32h+4k.. of its qh (their top 2 bits)
// Rows past the last whole group of 16 keep the base type's layout (never the case for the
// matrices the loader interleaves, whose row counts are multiples of 16).

#include <cstddef>
#include <cstdint>

#include "llama/tensor.h"

namespace llama::kernels {

inline constexpr int64_t kInterleaveRows = 16;

// Whether `type` is a row-interleaved type.
inline bool is_interleaved(DType type) {
    return type == DType::Q4_0_R16 || type == DType::Q4_K_R16 || type == DType::IQ4_NL_R16 ||
           type == DType::Q8_0_R16 || type == DType::Q6_K_R16 || type == DType::Q5_K_R16;
}
// The file type an interleaved type holds (itself for the others): its blocks, activations and
// results are the base type's.
inline DType interleaved_base(DType type) {
    switch (type) {
        case DType::Q4_0_R16:
            return DType::Q4_0;
        case DType::Q4_K_R16:
            return DType::Q4_K;
        case DType::IQ4_NL_R16:
            return DType::IQ4_NL;
        case DType::Q8_0_R16:
            return DType::Q8_0;
        case DType::Q6_K_R16:
            return DType::Q6_K;
        case DType::Q5_K_R16:
            return DType::Q5_K;
        default:
            return type;
    }
}
// The interleaved type for weights of `type`, or `type` itself where there is none.
inline DType interleaved_type(DType type) {
    switch (type) {
        case DType::Q4_0:
            return DType::Q4_0_R16;
        case DType::Q4_K:
            return DType::Q4_K_R16;
        case DType::IQ4_NL:
            return DType::IQ4_NL_R16;
        case DType::Q8_0:
            return DType::Q8_0_R16;
        case DType::Q6_K:
            return DType::Q6_K_R16;
        case DType::Q5_K:
            return DType::Q5_K_R16;
        default:
            return type;
    }
}

// Bytes of one block group (16 rows' block b), and the offsets of the fields inside one.
inline constexpr int64_t kQ4_0R16Group = 288;  // IQ4_NL_R16 as well
inline constexpr int64_t kQ4_KR16Group = 2304;
inline constexpr int64_t kQ8_0R16Group = 544;
inline constexpr int64_t kQ4_0R16D = 0;
inline constexpr int64_t kQ4_0R16Qs = 32;
inline constexpr int64_t kQ4_KR16D = 0;
inline constexpr int64_t kQ4_KR16Dmin = 32;
inline constexpr int64_t kQ4_KR16Scales = 64;
inline constexpr int64_t kQ4_KR16Qs = 256;
inline constexpr int64_t kQ8_0R16D = 0;
inline constexpr int64_t kQ8_0R16Qs = 32;
inline constexpr int64_t kQ6_KR16Group = 3360;
inline constexpr int64_t kQ6_KR16D = 0;
inline constexpr int64_t kQ6_KR16Scales = 32;
inline constexpr int64_t kQ6_KR16Chunks = 288;      // 16 chunks:
inline constexpr int64_t kQ6_KR16ChunkBytes = 192;  // ql word, ql word, qh word of 16 rows
inline constexpr int64_t kQ5_KR16Group = 2816;      // d, dmin, scales as Q4_K_R16, then:
inline constexpr int64_t kQ5_KR16Qh = 256;
inline constexpr int64_t kQ5_KR16Qs = 768;

// 16 rows of n_blocks blocks of `base` (Q4_0, Q4_K, Q5_K, IQ4_NL, Q8_0 or Q6_K), rows row_stride
// bytes apart, as one interleaved group at `group` (16 * n_blocks * block bytes), and back.
void interleave_rows(DType base, const std::byte* rows, int64_t row_stride, int64_t n_blocks,
                     std::byte* group);
void deinterleave_rows(DType base, const std::byte* group, int64_t n_blocks, std::byte* rows,
                       int64_t row_stride);

// Rewrites a [rows, cols] matrix of `base` in place as its interleaved type (rows a multiple of
// 16), or back. Throws llama::Error for other types or shapes.
void interleave_matrix(DType base, std::byte* data, int64_t rows, int64_t cols);
void deinterleave_matrix(DType interleaved, std::byte* data, int64_t rows, int64_t cols);

// Throws llama::Error naming `what` if the interleaved matrix w is not whole groups of 16 rows
// (the products and the GEMM read group by group).
void check_whole_groups(const Matrix& w, const char* what);

// Rows [row0, row0 + n_rows) of an interleaved matrix (row0 a multiple of 16, any n_rows) in the
// base type's layout, row after row at `out` (n_rows * row_bytes).
void deinterleave_slice(const Matrix& w, int64_t row0, int64_t n_rows, std::byte* out);

}  // namespace llama::kernels
