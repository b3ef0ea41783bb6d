// Portable gemm_quant micro-kernel: the panel's integer sums one row and token at a time. It is
// the definition the SIMD kernels compute (the same integers, another float summation order).

#include <cstring>

#include "kernels/quant_gemm_impl.h"

namespace llama::kernels::detail {

namespace {

template <class T>
T load(const std::byte* block, int64_t offset, int row) {
    T v;
    std::memcpy(&v, block + offset + 4 * row, sizeof(T));
    return v;
}

// Integer dot of groups [k0, k0 + count) of a panel block's row with x's values from 4 * k0.
int32_t dot_groups(const std::byte* block, int row, int k0, int count, const int8_t* x,
                   bool is_signed) {
    int32_t sum = 0;
    for (int k = k0; k < k0 + count; ++k) {
        const auto* q = reinterpret_cast<const uint8_t*>(block) + (k * kPanelRows + row) * 4;
        for (int j = 0; j < 4; ++j) {
            const int w = is_signed ? static_cast<int8_t>(q[j]) : q[j];
            sum += w * x[4 * k + j];
        }
    }
    return sum;
}

void gemm_32(const PanelGemmArgs& args) {
    const QuantizedBatch& x = *args.x;
    const bool q8 = args.dtype == DType::Q8_0;
    const bool with_min = has_block_min(args.dtype);
    const int64_t block_bytes = panel_block_bytes(args.dtype);
    for (int64_t t = 0; t < x.n_tokens; ++t) {
        const int64_t slot0 = x.slot(0, t), slot_stride = x.slot_stride(t);
        for (int i = 0; i < args.n_rows; ++i) {
            float sum = 0.0f;
            for (int64_t b = 0; b < args.n_blocks; ++b) {
                const std::byte* block = args.panel + b * block_bytes;
                const int64_t at = slot0 + b * slot_stride;
                // Q4_0's nibbles are unsigned: the bias takes the 8 off. Q4_1/Q5_1: the bias is
                // the block sum, times the min.
                const int32_t dot = dot_groups(block, i, 0, 8, x.qs.data() + at * 32, q8) +
                                    (q8 || with_min ? 0 : x.bias[at]);
                sum += load<float>(block, 512, i) * x.scales[at] * static_cast<float>(dot);
                if (with_min) {
                    sum +=
                        load<float>(block, 576, i) * x.scales[at] * static_cast<float>(x.bias[at]);
                }
            }
            args.y[t * args.ldy + i] = sum;
        }
    }
}

void gemm_k(const PanelGemmArgs& args) {
    const QuantizedBatch& x = *args.x;
    const int subs = k_quant_sub_blocks(args.dtype);
    const int groups = 64 / subs;  // 4-value groups per sub-block
    const int64_t block_bytes = panel_block_bytes(args.dtype);
    const int64_t mins = kKPanelScales + 64 * subs;
    for (int64_t t = 0; t < x.n_tokens; ++t) {
        const int64_t slot0 = x.slot(0, t), slot_stride = x.slot_stride(t);
        for (int i = 0; i < args.n_rows; ++i) {
            float sum = 0.0f;
            for (int64_t b = 0; b < args.n_blocks; ++b) {
                const std::byte* block = args.panel + b * block_bytes;
                const int64_t at = slot0 + b * slot_stride;
                const int8_t* xq = x.qs.data() + at * 256;
                const int16_t* bsums = x.bsums.data() + at * 16;
                int32_t scaled = 0;
                for (int s = 0; s < subs; ++s) {
                    scaled += load<int32_t>(block, kKPanelScales + 64 * s, i) *
                              dot_groups(block, i, s * groups, groups, xq, false);
                }
                int32_t min_sum = 0;
                for (int p = 0; p < 8; ++p) {
                    const auto pair = static_cast<uint32_t>(load<int32_t>(block, mins + 64 * p, i));
                    min_sum += static_cast<int16_t>(pair & 0xFFFF) * bsums[2 * p] +
                               static_cast<int16_t>(pair >> 16) * bsums[2 * p + 1];
                }
                sum += x.scales[at] *
                       (load<float>(block, mins + 512, i) * static_cast<float>(scaled) -
                        load<float>(block, mins + 576, i) * static_cast<float>(min_sum));
            }
            args.y[t * args.ldy + i] = sum;
        }
    }
}

}  // namespace

void panel_gemm_scalar(const PanelGemmArgs& args) {
    if (is_k_quant_type(args.dtype)) {
        gemm_k(args);
    } else {
        gemm_32(args);
    }
}

}  // namespace llama::kernels::detail
