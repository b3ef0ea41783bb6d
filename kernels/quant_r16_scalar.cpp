// Portable products of row-interleaved weights: each 16-row group back in the base type's layout,
// then the portable kernels of quant_scalar.cpp. The reference the SIMD paths are tested against.

#include <vector>

#include "kernels/quant_impl.h"
#include "kernels/quant_interleave.h"

namespace llama::kernels::detail {

void quant_matvec_r16_deinterleaved(const QuantMatvecArgs& args,
                                    void (*base_matvec)(const QuantMatvecArgs&)) {
    const DType base = interleaved_base(args.dtype);
    const int64_t n_blocks = args.cols / dtype_traits(base).block_elements;
    std::vector<std::byte> rows(static_cast<size_t>(kInterleaveRows * args.row_stride));
    for (int64_t r = 0; r < args.rows; r += kInterleaveRows) {
        deinterleave_rows(base, args.weights + r * args.row_stride, n_blocks, rows.data(),
                          args.row_stride);
        QuantMatvecArgs group = args;
        group.dtype = base;
        group.weights = rows.data();
        group.rows = kInterleaveRows;
        group.y = args.y + r;
        base_matvec(group);
    }
}

void quant_matvec_r16_scalar(const QuantMatvecArgs& args) {
    quant_matvec_r16_deinterleaved(args, quant_matvec_scalar);
}

}  // namespace llama::kernels::detail
