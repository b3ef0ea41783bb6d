// 16-bit integer GEMM of F16 / BF16 weights (gemm_int16.h): the activation quantizer, the scalar
// reference and the dispatch to the AVX2 / AVX-VNNI kernels (gemm_int16_avx2.cpp) and the AVX-512
// ones (gemm_int16_avx512.cpp).

#include <cstring>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/gemm_int16_impl.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"

namespace llama::kernels {

namespace detail {
// The AVX2 activation quantizer (gemm_int16_avx2.cpp).
void quantize_int16_activations_avx2(std::span<const float> values, int64_t tile_begin,
                                     int64_t tile_end, Int16Activations& x);
}  // namespace detail

namespace {

// `values` (at most kInt16Block) to int16 at w_int[0..kInt16Block), the rest zeros, with the
// multiplier `scaling` (detail::weight_scaling or activation_scaling) gives for their largest
// magnitude (all zeros if that is not finite); returns the block's scale.
template <class Scaling>
float quantize_block(std::span<const float> values, Scaling scaling, int16_t* w_int) {
    uint32_t max_bits = 0;
    for (const float v : values) max_bits = std::max(max_bits, detail::magnitude_bits(v));
    const auto [multiplier, scale] = scaling(max_bits);
    std::fill_n(w_int, kInt16Block, int16_t{0});
    if (max_bits < detail::kNotFiniteBits) {
        for (size_t i = 0; i < values.size(); ++i) {
            w_int[i] = static_cast<int16_t>(std::nearbyint(values[i] * multiplier));
        }
    }
    return scale;
}

// The kernel gemm_int16_rows runs: the widest the active ISA level allows.
enum class Int16Kernel { Scalar, Avx2, AvxVnni, Avx512, Avx512Vnni };
Int16Kernel active_kernel() {
    if (isa_enabled(IsaLevel::Avx512Vnni)) return Int16Kernel::Avx512Vnni;
    if (isa_enabled(IsaLevel::Avx512)) return Int16Kernel::Avx512;
    if (isa_enabled(IsaLevel::Avx2Vnni) && gemm_int16_avx_vnni_available()) {
        return Int16Kernel::AvxVnni;
    }
    if (isa_enabled(IsaLevel::Avx2)) return Int16Kernel::Avx2;
    return Int16Kernel::Scalar;
}

int32_t pair(int32_t low, int32_t high) {
    return static_cast<int32_t>(static_cast<uint16_t>(low) |
                                static_cast<uint32_t>(static_cast<uint16_t>(high)) << 16);
}

}  // namespace

namespace detail {

void check_int16_activations(std::span<const float> values, int64_t tile_begin, int64_t tile_end,
                             const Int16Activations& x) {
    if (tile_begin < 0 || tile_end > x.n_tiles() || tile_begin > tile_end ||
        static_cast<int64_t>(values.size()) < x.n_tokens * x.cols ||
        static_cast<int64_t>(x.pairs.size()) < x.n_tiles() * kInt16TileTokens * x.padded_cols / 2 ||
        static_cast<int64_t>(x.scales.size()) < x.n_tiles() * kInt16TileTokens * x.n_blocks() ||
        (x.has_cross_terms() &&
         static_cast<int64_t>(x.cross_terms.size()) <
             x.n_tiles() * kInt16TileTokens * x.padded_cols / kInt16CrossBlock)) {
        throw Error("quantize_int16_activations: tiles [" + std::to_string(tile_begin) + ", " +
                    std::to_string(tile_end) + ") of " + std::to_string(x.n_tokens) + " tokens x " +
                    std::to_string(x.cols) + " do not fit the buffers");
    }
}

void check_int16_args(const Int16RowsArgs& a) {
    if (!gemm_int16_supports(a.type)) {
        throw Error("gemm_int16_rows: " + std::string(dtype_name(a.type)) +
                    " weights are not F16, BF16 or Q8_0");
    }
    if (is_interleaved(a.type) && a.n_rows % kInterleaveRows != 0) {
        throw Error("gemm_int16_rows: " + std::to_string(a.n_rows) + " rows of " +
                    std::string(dtype_name(a.type)) + " are not whole groups of 16");
    }
    if (a.x == nullptr || a.n_rows < 1 || a.n_rows > kInt16BlockRows || a.x->n_tokens < 1 ||
        a.x->cols < 1 || a.ldy < a.n_rows || a.row_stride < row_bytes(a.type, a.x->cols)) {
        throw Error("gemm_int16_rows: " + std::to_string(a.n_rows) + " rows (at most " +
                    std::to_string(kInt16BlockRows) + "), ldy " + std::to_string(a.ldy) +
                    ", row stride " + std::to_string(a.row_stride) + " do not fit " +
                    (a.x == nullptr ? std::string("missing activations")
                                    : std::to_string(a.x->n_tokens) + " tokens of " +
                                          std::to_string(a.x->cols) + " columns"));
    }
}

namespace {

// Row r's Q8_0 block that starts at column col0: its codes into q, its scale's f16 bits returned.
uint16_t q8_0_block(DType type, const std::byte* rows, int64_t row_stride, int r, int64_t col0,
                    int8_t* q) {
    const int64_t block = col0 / kQ8_0BlockSize;
    uint16_t d;
    if (type == DType::Q8_0_R16) {
        const std::byte* group = rows + block * kQ8_0R16Group;
        std::memcpy(&d, group + kQ8_0R16D + 2 * r, 2);
        for (int k = 0; k < kQ8_0BlockSize / 4; ++k) {
            std::memcpy(q + 4 * k, group + kQ8_0R16Qs + 64 * k + 4 * r, 4);
        }
    } else {
        const std::byte* in =
            rows + r * row_stride + block * static_cast<int64_t>(sizeof(BlockQ8_0));
        std::memcpy(&d, in, 2);
        std::memcpy(q, in + 2, kQ8_0BlockSize);
    }
    return d;
}

// Q8_0's panel: the codes as they are, the blocks' scales widened.
void pack_q8_0_panel_scalar(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                            int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                            float* scales) {
    for (int64_t b = 0; b < kc / kQ8_0BlockSize; ++b) {
        const int64_t col0 = first_col + b * kQ8_0BlockSize;
        for (int r = 0; r < kInt16PanelRows; ++r) {
            int8_t q[kQ8_0BlockSize] = {};
            float scale = 0.0f;
            if (r < n_rows && col0 < cols) {
                scale = f16_to_f32(q8_0_block(type, rows, row_stride, r, col0, q));
            }
            scales[b * kInt16PanelRows + r] = scale;
            for (int64_t i = 0; i < kQ8_0BlockSize; i += 2) {
                pairs[(b * kQ8_0BlockSize + i) / 2 * kInt16PanelRows + r] = pair(q[i], q[i + 1]);
            }
        }
    }
}

}  // namespace

void pack_int16_panel_scalar(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                             int64_t cols, int64_t first_col, int64_t kc, int32_t* pairs,
                             float* scales) {
    if (type == DType::Q8_0 || type == DType::Q8_0_R16) {
        return pack_q8_0_panel_scalar(type, rows, row_stride, n_rows, cols, first_col, kc, pairs,
                                      scales);
    }
    float values[kInt16Block];
    int16_t w_int[kInt16Block];
    for (int64_t b = 0; b < kc / kInt16Block; ++b) {
        const int64_t col0 = first_col + b * kInt16Block;
        const int64_t count = std::clamp<int64_t>(cols - col0, 0, kInt16Block);
        for (int r = 0; r < kInt16PanelRows; ++r) {
            float scale = 0.0f;
            if (r < n_rows) {
                const std::span<const uint16_t> bits(
                    reinterpret_cast<const uint16_t*>(rows + r * row_stride) + col0, count);
                if (type == DType::F16) {
                    f16_to_f32(bits, std::span(values, count));
                } else {
                    bf16_to_f32(bits, std::span(values, count));
                }
                scale = quantize_block(
                    std::span<const float>(values, count),
                    [](uint32_t b) { return weight_scaling(b); }, w_int);
            } else {
                std::fill_n(w_int, kInt16Block, int16_t{0});
            }
            scales[b * kInt16PanelRows + r] = scale;
            for (int64_t i = 0; i < kInt16Block; i += 2) {
                pairs[(b * kInt16Block + i) / 2 * kInt16PanelRows + r] =
                    pair(w_int[i], w_int[i + 1]);
            }
        }
    }
}

void fill_int16_cross_terms(int64_t tile, Int16Activations& x) {
    const int32_t* pairs = x.tile_pairs(tile);
    const int64_t n_blocks = x.padded_cols / kInt16CrossBlock;
    int32_t* out = x.cross_terms.data() + tile * kInt16TileTokens * n_blocks;
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint32_t sums[kInt16TileTokens] = {};  // modulo 2^32
        for (int64_t p = b * kInt16CrossBlock / 2; p < (b + 1) * kInt16CrossBlock / 2; p += 2) {
            for (int64_t t = 0; t < kInt16TileTokens; ++t) {
                const int32_t q01 = pairs[p * kInt16TileTokens + t];        // x[k], x[k + 1]
                const int32_t q23 = pairs[(p + 1) * kInt16TileTokens + t];  // x[k + 2], x[k + 3]
                sums[t] += static_cast<uint32_t>(
                    static_cast<int16_t>(q01) * static_cast<int16_t>(q23) +
                    static_cast<int16_t>(q01 >> 16) * static_cast<int16_t>(q23 >> 16));
            }
        }
        for (int64_t t = 0; t < kInt16TileTokens; ++t) {
            out[b * kInt16TileTokens + t] = static_cast<int32_t>(0u - sums[t]);
        }
    }
}

void quantize_int16_activation_block(const float* values, int64_t count, int32_t* pairs,
                                     float* scale) {
    int16_t q[kInt16Block];
    *scale = quantize_block(
        std::span(values, count), [](uint32_t b) { return activation_scaling(b); }, q);
    for (int64_t i = 0; i < kInt16Block; i += 2) {
        pairs[i / 2 * kInt16TileTokens] = pair(q[i], q[i + 1]);
    }
}

}  // namespace detail

bool gemm_int16_supports(DType type) {
    return type == DType::F16 || type == DType::BF16 || type == DType::Q8_0 ||
           type == DType::Q8_0_R16;
}

int64_t int16_weight_block(DType type) {
    return type == DType::Q8_0 || type == DType::Q8_0_R16 ? kQ8_0BlockSize : kInt16Block;
}

bool gemm_int16_beats_fma() {
    return isa_enabled(IsaLevel::Avx2) &&
           (!isa_enabled(IsaLevel::Avx512) || isa_enabled(IsaLevel::Avx512Vnni));
}

float quantize_int16_weight_block(std::span<const float> values, std::span<int16_t> w_int) {
    if (values.size() > static_cast<size_t>(kInt16Block) ||
        w_int.size() < static_cast<size_t>(kInt16Block)) {
        throw Error("quantize_int16_weight_block: " + std::to_string(values.size()) +
                    " values into " + std::to_string(w_int.size()) + " (a block is " +
                    std::to_string(kInt16Block) + ")");
    }
    std::fill(w_int.begin(), w_int.end(), int16_t{0});
    return quantize_block(
        values, [](uint32_t b) { return detail::weight_scaling(b); }, w_int.data());
}

void prepare_int16_activations(int64_t n_tokens, int64_t cols, Int16Activations& x,
                               bool cross_terms) {
    if (n_tokens < 1 || cols < 1) {
        throw Error("prepare_int16_activations: " + std::to_string(n_tokens) + " tokens of " +
                    std::to_string(cols) + " columns");
    }
    x.n_tokens = n_tokens;
    x.cols = cols;
    x.padded_cols = (cols + kInt16Block - 1) / kInt16Block * kInt16Block;
    x.pairs.resize(static_cast<size_t>(x.n_tiles() * kInt16TileTokens * x.padded_cols / 2));
    x.scales.resize(static_cast<size_t>(x.n_tiles() * kInt16TileTokens * x.n_blocks()));
    x.cross_terms.resize(cross_terms ? static_cast<size_t>(x.n_tiles() * kInt16TileTokens *
                                                           x.padded_cols / kInt16CrossBlock)
                                     : 0);
}

bool gemm_int16_wants_cross_terms(DType type) {
    // The Winograd tile: Q8_0 on the plain AVX2 kernel.
    return int16_weight_block(type) == kQ8_0BlockSize && active_kernel() == Int16Kernel::Avx2;
}

void quantize_int16_activations_scalar(std::span<const float> values, int64_t tile_begin,
                                       int64_t tile_end, Int16Activations& x) {
    detail::quantize_int16_tiles(values, tile_begin, tile_end, x,
                                 detail::quantize_int16_activation_block);
}

void quantize_int16_activations(std::span<const float> values, int64_t tile_begin, int64_t tile_end,
                                Int16Activations& x) {
#if defined(LLAMA_HAVE_X86_TARGETS)
    if (isa_enabled(IsaLevel::Avx2)) {
        return detail::quantize_int16_activations_avx2(values, tile_begin, tile_end, x);
    }
#endif
    quantize_int16_activations_scalar(values, tile_begin, tile_end, x);
}

void gemm_int16_rows_scalar(const Int16RowsArgs& a) {
    detail::check_int16_args(a);
    const Int16Activations& x = *a.x;
    const int64_t weight_block = int16_weight_block(a.type);
    const int64_t n_weight_blocks = x.padded_cols / weight_block;
    std::vector<int32_t> pairs(static_cast<size_t>(x.padded_cols / 2 * kInt16PanelRows));
    std::vector<float> scales(static_cast<size_t>(n_weight_blocks * kInt16PanelRows));
    for (int64_t row0 = 0; row0 < a.n_rows; row0 += kInt16PanelRows) {
        const int n_rows = static_cast<int>(std::min(kInt16PanelRows, a.n_rows - row0));
        detail::pack_int16_panel_scalar(a.type, a.rows + row0 * a.row_stride, a.row_stride, n_rows,
                                        x.cols, 0, x.padded_cols, pairs.data(), scales.data());
        for (int64_t token = 0; token < x.n_tokens; ++token) {
            const int64_t tile = token / kInt16TileTokens;
            const int64_t t = token % kInt16TileTokens;
            for (int r = 0; r < n_rows; ++r) {
                float sum = 0.0f;
                float partial = 0.0f;  // the first of an activation block's two weight blocks
                for (int64_t wb = 0; wb < n_weight_blocks; ++wb) {
                    int32_t block_sum = 0;
                    for (int64_t p = wb * weight_block / 2; p < (wb + 1) * weight_block / 2; ++p) {
                        const int32_t w = pairs[p * kInt16PanelRows + r];
                        const int32_t q = x.tile_pairs(tile)[p * kInt16TileTokens + t];
                        block_sum += static_cast<int16_t>(w) * static_cast<int16_t>(q) +
                                     static_cast<int16_t>(w >> 16) * static_cast<int16_t>(q >> 16);
                    }
                    const int64_t b = wb * weight_block / kInt16Block;  // the activation block
                    const float w_scale = scales[wb * kInt16PanelRows + r];
                    const float x_scale = x.tile_scales(tile)[b * kInt16TileTokens + t];
                    if (weight_block == kInt16Block) {
                        sum = std::fma(static_cast<float>(block_sum), w_scale * x_scale, sum);
                    } else if (wb % 2 == 0) {
                        partial = static_cast<float>(block_sum) * w_scale;
                    } else {
                        sum = std::fma(std::fma(static_cast<float>(block_sum), w_scale, partial),
                                       x_scale, sum);
                    }
                }
                a.y[token * a.ldy + row0 + r] = sum;
            }
        }
    }
}

void gemm_int16_rows(const Int16RowsArgs& args, Int16Scratch& scratch) {
    switch (active_kernel()) {
        case Int16Kernel::Avx512Vnni:
            return gemm_int16_rows_avx512_vnni(args, scratch);
        case Int16Kernel::Avx512:
            return gemm_int16_rows_avx512(args, scratch);
        case Int16Kernel::AvxVnni:
            return gemm_int16_rows_avx_vnni(args, scratch);
        case Int16Kernel::Avx2:
            return gemm_int16_rows_avx2(args, scratch);
        case Int16Kernel::Scalar:
            return gemm_int16_rows_scalar(args);
    }
}

}  // namespace llama::kernels
