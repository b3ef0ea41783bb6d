// gemm_quant's panels (quant_gemm_impl.h) straight from row-interleaved Q4_0 / Q4_K / Q5_K / IQ4_NL
// / Q8_0 / Q6_K groups (quant_interleave.h): the weight bytes are already transposed 4 at a time,
// so a panel group is a masked or shifted copy of an interleaved one, and only the scales are
// widened row by row. Plain C++ the compiler vectorizes, for every path; the panel is the one
// pack_panel makes from the same rows in the file's layout, byte for byte.

#include <cstring>

#include "kernels/fp16_scalar.h"
#include "kernels/quant_gemm_impl.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"

namespace llama::kernels::detail {

namespace {

// Panel groups `low` and `high` (64 bytes each) from the low and high nibbles of 64 bytes.
void split_nibbles(const std::byte* in, std::byte* low, std::byte* high) {
    for (int i = 0; i < 64; ++i) {
        const auto v = static_cast<uint8_t>(in[i]);
        low[i] = static_cast<std::byte>(v & 0x0F);
        high[i] = static_cast<std::byte>(v >> 4);
    }
}

void store_f16_as_f32(const std::byte* halves, std::byte* floats) {
    for (int r = 0; r < kInterleaveRows; ++r) {
        uint16_t h;
        std::memcpy(&h, halves + 2 * r, 2);
        const float v = f16_to_f32_scalar(h);
        std::memcpy(floats + 4 * r, &v, 4);
    }
}

void pack_q4_0_r16(const std::byte* group, int64_t n_blocks, std::byte* panel) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* in = group + b * kQ4_0R16Group;
        std::byte* out = panel + b * kQ32PanelBlock;
        for (int k = 0; k < 4; ++k) {
            split_nibbles(in + kQ4_0R16Qs + 64 * k, out + 64 * k, out + 64 * (k + 4));
        }
        store_f16_as_f32(in + kQ4_0R16D, out + 512);
    }
}

// IQ4_NL as Q8_0's panel: the grid values of the nibbles, signed.
void pack_iq4_nl_r16(const std::byte* group, int64_t n_blocks, std::byte* panel) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* in = group + b * kQ4_0R16Group;
        std::byte* out = panel + b * kQ32PanelBlock;
        for (int k = 0; k < 4; ++k) {
            for (int i = 0; i < 64; ++i) {
                const auto v = static_cast<uint8_t>(in[kQ4_0R16Qs + 64 * k + i]);
                out[64 * k + i] = static_cast<std::byte>(kIq4nlValues[v & 0x0F]);
                out[64 * (k + 4) + i] = static_cast<std::byte>(kIq4nlValues[v >> 4]);
            }
        }
        store_f16_as_f32(in + kQ4_0R16D, out + 512);
    }
}

// Q4_K and Q5_K (kFiveBit: bits 2g and 2g + 1 of qh word k are the fifth bits of chunk 8g + k's
// low and high nibbles).
template <bool kFiveBit>
void pack_q45_k_r16(const std::byte* group, int64_t n_blocks, std::byte* panel) {
    const int64_t block_bytes = panel_block_bytes(kFiveBit ? DType::Q5_K : DType::Q4_K);
    const int64_t group_bytes = kFiveBit ? kQ5_KR16Group : kQ4_KR16Group;
    const int64_t qs = kFiveBit ? kQ5_KR16Qs : kQ4_KR16Qs;
    constexpr uint32_t kLow = 0x0F0F0F0F;
    constexpr uint32_t kOne = 0x01010101;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* in = group + b * group_bytes;
        std::byte* out = panel + b * block_bytes;
        // Chunk 8g + k: low nibbles are values 64g + 4k.. (panel group 16g + k), high nibbles
        // 64g + 32 + 4k.. (group 16g + 8 + k).
        for (int g = 0; g < 4; ++g) {
            for (int k = 0; k < 8; ++k) {
                const std::byte* nibbles = in + qs + 64 * (8 * g + k);
                std::byte* low = out + 64 * (16 * g + k);
                std::byte* high = out + 64 * (16 * g + 8 + k);
                if constexpr (!kFiveBit) {
                    split_nibbles(nibbles, low, high);
                    continue;
                }
                // A word (4 bytes of a row) at a time, as the compiler vectorizes it.
                for (int r = 0; r < kInterleaveRows; ++r) {
                    uint32_t v, bits;
                    std::memcpy(&v, nibbles + 4 * r, 4);
                    std::memcpy(&bits, in + kQ5_KR16Qh + 64 * k + 4 * r, 4);
                    const uint32_t lo = (v & kLow) | ((bits >> (2 * g)) & kOne) << 4;
                    const uint32_t hi = ((v >> 4) & kLow) | ((bits >> (2 * g + 1)) & kOne) << 4;
                    std::memcpy(low + 4 * r, &lo, 4);
                    std::memcpy(high + 4 * r, &hi, 4);
                }
            }
        }
        std::byte* scales = out + kKPanelScales;
        std::byte* mins = scales + 8 * 64;
        for (int r = 0; r < kInterleaveRows; ++r) {
            uint8_t packed[12];
            for (int w = 0; w < 3; ++w) {
                std::memcpy(packed + 4 * w, in + kQ4_KR16Scales + 64 * w + 4 * r, 4);
            }
            for (int j = 0; j < 8; ++j) {
                uint8_t sc;
                uint8_t m;
                unpack_q4k_scale_min(j, packed, &sc, &m);
                const int32_t scale = sc;
                const uint32_t pair = static_cast<uint32_t>(m) | static_cast<uint32_t>(m) << 16;
                std::memcpy(scales + 64 * j + 4 * r, &scale, 4);
                std::memcpy(mins + 64 * j + 4 * r, &pair, 4);
            }
        }
        store_f16_as_f32(in + kQ4_KR16D, mins + 512);
        store_f16_as_f32(in + kQ4_KR16Dmin, mins + 576);
    }
}

// Q8_0: the panel's values are the group's bytes as they are.
void pack_q8_0_r16(const std::byte* group, int64_t n_blocks, std::byte* panel) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* in = group + b * kQ8_0R16Group;
        std::byte* out = panel + b * kQ32PanelBlock;
        std::memcpy(out, in + kQ8_0R16Qs, 512);
        store_f16_as_f32(in + kQ8_0R16D, out + 512);
    }
}

// Q6_K: chunk 8h + k's three words per row (ql at +4k, ql at +32+4k, qh) give panel groups
// 32h + k, + 8, + 16, + 24 (values 128h + 4k.., + 32, + 64, + 96) as pack_panel's pack_q6_k
// makes them; the int8 scales sign-extended, 32 x each pair as the offsets, d twice.
void pack_q6_k_r16(const std::byte* group, int64_t n_blocks, std::byte* panel) {
    const int64_t block_bytes = panel_block_bytes(DType::Q6_K);
    constexpr uint32_t kLow = 0x0F0F0F0F;
    constexpr uint32_t kTwo = 0x03030303;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const std::byte* in = group + b * kQ6_KR16Group;
        std::byte* out = panel + b * block_bytes;
        for (int h = 0; h < 2; ++h) {
            for (int k = 0; k < 8; ++k) {
                const std::byte* chunk = in + kQ6_KR16Chunks + kQ6_KR16ChunkBytes * (8 * h + k);
                std::byte* groups = out + 64 * (32 * h + k);
                for (int r = 0; r < kInterleaveRows; ++r) {
                    uint32_t a, bq, hb;
                    std::memcpy(&a, chunk + 4 * r, 4);
                    std::memcpy(&bq, chunk + 64 + 4 * r, 4);
                    std::memcpy(&hb, chunk + 128 + 4 * r, 4);
                    const uint32_t q[4] = {(a & kLow) | ((hb & kTwo) << 4),
                                           (bq & kLow) | (((hb >> 2) & kTwo) << 4),
                                           ((a >> 4) & kLow) | (((hb >> 4) & kTwo) << 4),
                                           ((bq >> 4) & kLow) | (((hb >> 6) & kTwo) << 4)};
                    for (int i = 0; i < 4; ++i) std::memcpy(groups + 64 * 8 * i + 4 * r, &q[i], 4);
                }
            }
        }
        std::byte* scales = out + kKPanelScales;
        std::byte* mins = scales + 16 * 64;
        for (int r = 0; r < kInterleaveRows; ++r) {
            int8_t sc[16];
            for (int w = 0; w < 4; ++w)
                std::memcpy(sc + 4 * w, in + kQ6_KR16Scales + 64 * w + 4 * r, 4);
            for (int g = 0; g < 16; ++g) {
                const int32_t scale = sc[g];
                std::memcpy(scales + 64 * g + 4 * r, &scale, 4);
            }
            for (int i = 0; i < 8; ++i) {
                const uint32_t pair =
                    static_cast<uint16_t>(32 * sc[2 * i]) |
                    static_cast<uint32_t>(static_cast<uint16_t>(32 * sc[2 * i + 1])) << 16;
                std::memcpy(mins + 64 * i + 4 * r, &pair, 4);
            }
        }
        store_f16_as_f32(in + kQ6_KR16D, mins + 512);
        store_f16_as_f32(in + kQ6_KR16D, mins + 576);
    }
}

}  // namespace

void pack_panel_r16(DType type, const std::byte* group, int64_t n_blocks, std::byte* panel) {
    switch (type) {
        case DType::Q4_0_R16:
            return pack_q4_0_r16(group, n_blocks, panel);
        case DType::Q4_K_R16:
            return pack_q45_k_r16<false>(group, n_blocks, panel);
        case DType::Q5_K_R16:
            return pack_q45_k_r16<true>(group, n_blocks, panel);
        case DType::IQ4_NL_R16:
            return pack_iq4_nl_r16(group, n_blocks, panel);
        case DType::Q8_0_R16:
            return pack_q8_0_r16(group, n_blocks, panel);
        case DType::Q6_K_R16:
            return pack_q6_k_r16(group, n_blocks, panel);
        default:
            throw Error("pack_panel_r16: " + std::string(dtype_name(type)) +
                        " is not an interleaved type");
    }
}

}  // namespace llama::kernels::detail
