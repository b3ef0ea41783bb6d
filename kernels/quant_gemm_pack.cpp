// Portable widening of quantized weight rows into gemm_quant's panel (layout in
// quant_gemm_impl.h), used by the scalar and AVX2 paths and for partial panels: plain C++ on
// 32-bit words (four values at a time) into a row-major staging tile, which the instruction set's
// transposer turns into the panel's groups. A panel is packed once and read by every token of
// the batch (measured 3-4% of an AVX2 4096 x 4096 x 128-token product).

#include <algorithm>
#include <cstring>

#include "kernels/fp16_scalar.h"
#include "kernels/quant_gemm_impl.h"

namespace llama::kernels::detail {

namespace {

constexpr uint32_t kLowNibbles = 0x0F0F0F0Fu;
constexpr uint32_t kTwoBits = 0x03030303u;
constexpr uint32_t kOneBit = 0x01010101u;

uint32_t load_word(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The values of one row are first unpacked in order, 4 to a word (words[k] = values 4k..4k+3),
// into a staging tile of kPanelRows rows; the ISA's transposer then writes the tile's columns as
// the panel's groups.
void store_group(uint32_t* words, int k, uint32_t values) { words[k] = values; }

void store_float(std::byte* at, int row, float v) { std::memcpy(at + row * 4, &v, 4); }
void store_int(std::byte* at, int row, int32_t v) { std::memcpy(at + row * 4, &v, 4); }

int32_t int16_pair(int low, int high) {
    return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(low)) |
                                (static_cast<uint32_t>(static_cast<uint16_t>(high)) << 16));
}

void pack_q8_0(const BlockQ8_0& src, int row, std::byte* block, uint32_t* words) {
    for (int k = 0; k < 8; ++k) {
        store_group(words, k, load_word(reinterpret_cast<const uint8_t*>(src.qs) + 4 * k));
    }
    store_float(block + 512, row, f16_to_f32_scalar(src.d));
}

void pack_q4_0(const BlockQ4_0& src, int row, std::byte* block, uint32_t* words) {
    for (int k = 0; k < 4; ++k) {
        const uint32_t packed = load_word(src.qs + 4 * k);
        store_group(words, k, packed & kLowNibbles);             // values 4k..4k+3
        store_group(words, k + 4, (packed >> 4) & kLowNibbles);  // values 16+4k..
    }
    store_float(block + 512, row, f16_to_f32_scalar(src.d));
}

// Q4_1 and Q5_1: their unsigned codes (as Q4_0's nibbles, Q5_1 with the fifth bit), d and m.
template <class Block>
void pack_min_32(const Block& src, int row, std::byte* block, uint32_t* words) {
    uint8_t codes[32];
    for (int j = 0; j < 32; ++j) {
        if constexpr (sizeof(Block) == sizeof(BlockQ5_1)) {
            codes[j] = static_cast<uint8_t>(q5_code(src.qs, src.qh, j));
        } else {
            codes[j] = j < 16 ? (src.qs[j] & 0xF) : (src.qs[j - 16] >> 4);
        }
    }
    for (int k = 0; k < 8; ++k) store_group(words, k, load_word(codes + 4 * k));
    store_float(block + 512, row, f16_to_f32_scalar(src.d));
    store_float(block + 576, row, f16_to_f32_scalar(src.m));
}

// Q4_K and Q5_K: 64-value group g uses qs[32g..32g+31], low nibbles first (sub-block 2g), high
// nibbles next (2g+1); Q5_K's fifth bit of value l of sub-block s is bit s of qh[l].
template <class Block>
void pack_q45_k(const Block& src, int row, std::byte* block, uint32_t* words) {
    constexpr bool kFiveBit = sizeof(Block) == sizeof(BlockQ5_K);
    for (int g = 0; g < 4; ++g) {
        for (int i = 0; i < 8; ++i) {
            const uint32_t packed = load_word(src.qs + 32 * g + 4 * i);
            uint32_t low = packed & kLowNibbles;
            uint32_t high = (packed >> 4) & kLowNibbles;
            if constexpr (kFiveBit) {
                const uint32_t bits = load_word(src.qh + 4 * i);
                low |= ((bits >> (2 * g)) & kOneBit) << 4;
                high |= ((bits >> (2 * g + 1)) & kOneBit) << 4;
            }
            store_group(words, 16 * g + i, low);
            store_group(words, 16 * g + 8 + i, high);
        }
    }
    std::byte* scales = block + kKPanelScales;
    std::byte* mins = scales + 8 * 64;
    for (int j = 0; j < 8; ++j) {
        uint8_t sc;
        uint8_t m;
        unpack_q4k_scale_min(j, src.scales, &sc, &m);
        store_int(scales + 64 * j, row, sc);
        store_int(mins + 64 * j, row, int16_pair(m, m));  // both 16-value halves of sub-block j
    }
    store_float(mins + 512, row, f16_to_f32_scalar(src.d));
    store_float(mins + 576, row, f16_to_f32_scalar(src.dmin));
}

// Q6_K: half h uses ql[64h..], qh[32h..]; value 128h + 32q + l has its low 4 bits in
// ql[64h + l + 32(q%2)] (low nibble for q < 2) and its top 2 bits at bit 2q of qh[32h + l].
void pack_q6_k(const BlockQ6_K& src, int row, std::byte* block, uint32_t* words) {
    for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < 8; ++i) {
            const uint32_t ql0 = load_word(src.ql + 64 * h + 4 * i);
            const uint32_t ql1 = load_word(src.ql + 64 * h + 32 + 4 * i);
            const uint32_t qh = load_word(src.qh + 32 * h + 4 * i);
            const int k = 32 * h + i;
            store_group(words, k, (ql0 & kLowNibbles) | ((qh & kTwoBits) << 4));
            store_group(words, k + 8, (ql1 & kLowNibbles) | (((qh >> 2) & kTwoBits) << 4));
            store_group(words, k + 16, ((ql0 >> 4) & kLowNibbles) | (((qh >> 4) & kTwoBits) << 4));
            store_group(words, k + 24, ((ql1 >> 4) & kLowNibbles) | (((qh >> 6) & kTwoBits) << 4));
        }
    }
    std::byte* scales = block + kKPanelScales;
    std::byte* mins = scales + 16 * 64;
    for (int g = 0; g < 16; ++g) store_int(scales + 64 * g, row, src.scales[g]);
    for (int i = 0; i < 8; ++i) {
        store_int(mins + 64 * i, row,
                  int16_pair(32 * src.scales[2 * i], 32 * src.scales[2 * i + 1]));
    }
    const float d = f16_to_f32_scalar(src.d);
    store_float(mins + 512, row, d);
    store_float(mins + 576, row, d);
}

// Q5_0 and IQ4_NL as Q8_0: their signed values, q - 16 or the grid's.
template <class Block>
void pack_signed_32(const Block& src, int row, std::byte* block, uint32_t* words) {
    int8_t values[32];
    for (int j = 0; j < 32; ++j) {
        if constexpr (sizeof(Block) == sizeof(BlockQ5_0)) {
            values[j] = static_cast<int8_t>(q5_code(src.qs, src.qh, j) - 16);
        } else {
            values[j] = kIq4nlValues[j < 16 ? (src.qs[j] & 0xF) : (src.qs[j - 16] >> 4)];
        }
    }
    for (int k = 0; k < 8; ++k) {
        store_group(words, k, load_word(reinterpret_cast<const uint8_t*>(values) + 4 * k));
    }
    store_float(block + 512, row, f16_to_f32_scalar(src.d));
}

// IQ4_XS as Q8_0: each sub-block of 32 is a Q8_0 panel block of grid values with the fp32 scale
// d * (ls - 32) (exact: an f16 times a 6-bit integer).
void pack_iq4_xs(const BlockIQ4_XS& src, int row, std::byte* block, uint32_t* words) {
    const float d = f16_to_f32_scalar(src.d);
    for (int s = 0; s < 8; ++s) {
        const uint8_t* qs = src.qs + 16 * s;
        int8_t values[32];
        for (int j = 0; j < 16; ++j) {
            values[j] = kIq4nlValues[qs[j] & 0xF];
            values[j + 16] = kIq4nlValues[qs[j] >> 4];
        }
        for (int k = 0; k < 8; ++k) {
            store_group(words, 8 * s + k,
                        load_word(reinterpret_cast<const uint8_t*>(values) + 4 * k));
        }
        store_float(block + s * kQ32PanelBlock + 512, row,
                    d * static_cast<float>(iq4xs_scale(src, s)));
    }
}

// Q2_K and Q3_K as Q6_K: element 128h + 32k + l has its low 2 bits at bit 2k of qs[32h + l]
// (Q3_K's third bit at bit 4h + k of hmask[l]), so each shift of a code word gives 4 consecutive
// elements. Q2_K: value d * sc * q - dmin * m; Q3_K: d * sc * (q - 4), the offset as 4 * sc.
template <class Block>
void pack_q23_k(const Block& src, int row, std::byte* block, uint32_t* words) {
    constexpr bool kThreeBit = sizeof(Block) == sizeof(BlockQ3_K);
    for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < 8; ++i) {
            const uint32_t codes = load_word(src.qs + 32 * h + 4 * i);
            for (int k = 0; k < 4; ++k) {
                uint32_t q = (codes >> (2 * k)) & kTwoBits;
                if constexpr (kThreeBit) {
                    q |= ((load_word(src.hmask + 4 * i) >> (4 * h + k)) & kOneBit) << 2;
                }
                store_group(words, 32 * h + 8 * k + i, q);
            }
        }
    }
    std::byte* scales = block + kKPanelScales;
    std::byte* mins = scales + 16 * 64;
    int sc[16];
    int m[16];
    for (int g = 0; g < 16; ++g) {
        if constexpr (kThreeBit) {
            sc[g] = q3k_scale(src.scales, g);
            m[g] = 4 * sc[g];
        } else {
            sc[g] = src.scales[g] & 0xF;
            m[g] = src.scales[g] >> 4;
        }
        store_int(scales + 64 * g, row, sc[g]);
    }
    for (int i = 0; i < 8; ++i) store_int(mins + 64 * i, row, int16_pair(m[2 * i], m[2 * i + 1]));
    const float d = f16_to_f32_scalar(src.d);
    store_float(mins + 512, row, d);
    if constexpr (kThreeBit) {
        store_float(mins + 576, row, d);
    } else {
        store_float(mins + 576, row, f16_to_f32_scalar(src.dmin));
    }
}

// Rows of Block, kChunk blocks (kChunk * words_per_block <= kStageWords words) staged at a time.
// Each 8 words of a block's stage become 8 panel groups, group8_bytes apart in the panel block
// (512: one after the other; IQ4_XS: one Q8_0 panel block each).
template <class Block, void (*Pack)(const Block&, int, std::byte*, uint32_t*)>
void pack_rows(const std::byte* rows, int64_t row_stride, int n_rows, int64_t n_blocks,
               int64_t block_bytes, int words_per_block, Transpose16x8 transpose, std::byte* panel,
               int64_t group8_bytes = 512) {
    constexpr int kStageWords = 64;
    constexpr int kPrefetchChunks = 4;                         // 0.6-1 KB ahead in each row
    alignas(64) uint32_t stage[kPanelRows][kStageWords] = {};  // rows past n_rows stay zero
    const int chunk = kStageWords / words_per_block;
    for (int64_t b0 = 0; b0 < n_blocks; b0 += chunk) {
        const int count = static_cast<int>(std::min<int64_t>(chunk, n_blocks - b0));
        for (int r = 0; r < n_rows; ++r) {
            const auto* src = reinterpret_cast<const Block*>(rows + r * row_stride) + b0;
            // Sixteen short strided reads defeat the hardware prefetcher: without this the pack
            // waits on memory (measured: 57% of its samples on one load).
            const char* ahead = reinterpret_cast<const char*>(src + kPrefetchChunks * chunk);
            for (int64_t offset = 0; offset < chunk * static_cast<int64_t>(sizeof(Block));
                 offset += 64) {
                __builtin_prefetch(ahead + offset);
            }
            for (int b = 0; b < count; ++b) {
                Pack(src[b], r, panel + (b0 + b) * block_bytes, stage[r] + b * words_per_block);
            }
        }
        for (int b = 0; b < count; ++b) {
            for (int u = 0; u < words_per_block; u += 8) {
                transpose(&stage[0][b * words_per_block + u], kStageWords,
                          panel + (b0 + b) * block_bytes + group8_bytes * (u / 8));
            }
        }
    }
}

}  // namespace

void transpose_16x8_portable(const uint32_t* rows, int64_t row_stride, std::byte* out) {
    for (int k = 0; k < 8; ++k) {
        for (int r = 0; r < kPanelRows; ++r) {
            std::memcpy(out + (k * kPanelRows + r) * 4, rows + r * row_stride + k, 4);
        }
    }
}

void pack_panel(DType type, const std::byte* rows, int64_t row_stride, int n_rows, int64_t n_blocks,
                Transpose16x8 transpose, std::byte* panel) {
    const int64_t block_bytes = panel_block_bytes(type);
    // Rows past the matrix: zero values and scales, so they add nothing (and nothing non-finite).
    if (n_rows < kPanelRows) std::memset(panel, 0, static_cast<size_t>(n_blocks * block_bytes));
    switch (type) {
        case DType::Q8_0:
            pack_rows<BlockQ8_0, pack_q8_0>(rows, row_stride, n_rows, n_blocks, block_bytes, 8,
                                            transpose, panel);
            break;
        case DType::Q4_0:
            pack_rows<BlockQ4_0, pack_q4_0>(rows, row_stride, n_rows, n_blocks, block_bytes, 8,
                                            transpose, panel);
            break;
        case DType::Q4_K:
            pack_rows<BlockQ4_K, pack_q45_k<BlockQ4_K>>(rows, row_stride, n_rows, n_blocks,
                                                        block_bytes, 64, transpose, panel);
            break;
        case DType::Q5_K:
            pack_rows<BlockQ5_K, pack_q45_k<BlockQ5_K>>(rows, row_stride, n_rows, n_blocks,
                                                        block_bytes, 64, transpose, panel);
            break;
        case DType::Q6_K:
            pack_rows<BlockQ6_K, pack_q6_k>(rows, row_stride, n_rows, n_blocks, block_bytes, 64,
                                            transpose, panel);
            break;
        case DType::Q5_0:
            pack_rows<BlockQ5_0, pack_signed_32<BlockQ5_0>>(rows, row_stride, n_rows, n_blocks,
                                                            block_bytes, 8, transpose, panel);
            break;
        case DType::IQ4_NL:
            pack_rows<BlockIQ4_NL, pack_signed_32<BlockIQ4_NL>>(rows, row_stride, n_rows, n_blocks,
                                                                block_bytes, 8, transpose, panel);
            break;
        case DType::Q2_K:
            pack_rows<BlockQ2_K, pack_q23_k<BlockQ2_K>>(rows, row_stride, n_rows, n_blocks,
                                                        block_bytes, 64, transpose, panel);
            break;
        case DType::Q3_K:
            pack_rows<BlockQ3_K, pack_q23_k<BlockQ3_K>>(rows, row_stride, n_rows, n_blocks,
                                                        block_bytes, 64, transpose, panel);
            break;
        case DType::Q4_1:
            pack_rows<BlockQ4_1, pack_min_32<BlockQ4_1>>(rows, row_stride, n_rows, n_blocks,
                                                         block_bytes, 8, transpose, panel);
            break;
        case DType::Q5_1:
            pack_rows<BlockQ5_1, pack_min_32<BlockQ5_1>>(rows, row_stride, n_rows, n_blocks,
                                                         block_bytes, 8, transpose, panel);
            break;
        case DType::IQ4_XS:  // n_blocks counts the Q8_0 panel blocks, 8 to a super-block
            pack_rows<BlockIQ4_XS, pack_iq4_xs>(rows, row_stride, n_rows, n_blocks / 8,
                                                8 * block_bytes, 64, transpose, panel,
                                                kQ32PanelBlock);
            break;
        default:
            break;  // gemm_quant checked the type
    }
}

}  // namespace llama::kernels::detail
