// gemm_quant: checks, activation quantization for a batch, and the panel loop over the rows.

#include "kernels/quant_gemm.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/quant_gemm_impl.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"

namespace llama::kernels {

namespace {

void pack_avx2(DType type, const std::byte* rows, int64_t row_stride, int n_rows, int64_t n_blocks,
               std::byte* panel) {
    detail::pack_panel(type, rows, row_stride, n_rows, n_blocks, detail::transpose_16x8_avx2,
                       panel);
}
void pack_portable(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                   int64_t n_blocks, std::byte* panel) {
    detail::pack_panel(type, rows, row_stride, n_rows, n_blocks, detail::transpose_16x8_portable,
                       panel);
}

// The AVX2 path's panels: those of Q8_0 (and what packs as Q8_0) split into the nibble planes its
// kernel reads (quant_gemm_impl.h), the others as every path has them.
bool split_on_avx2(DType type) { return detail::panel_type(type) == DType::Q8_0; }
int64_t block_bytes_avx2(DType type) {
    return split_on_avx2(type) ? detail::kQ8SplitPanelBlock : detail::panel_block_bytes(type);
}
void pack_split_avx2(DType type, const std::byte* rows, int64_t row_stride, int n_rows,
                     int64_t n_blocks, std::byte* panel) {
    pack_avx2(type, rows, row_stride, n_rows, n_blocks, panel);
    if (split_on_avx2(type)) detail::split_q8_panel_avx2(panel, n_blocks);
}
void pack_r16_split_avx2(DType type, const std::byte* group, int64_t n_blocks, std::byte* panel) {
    if (type == DType::Q8_0_R16) return detail::pack_q8_0_r16_split_avx2(group, n_blocks, panel);
    detail::pack_panel_r16(type, group, n_blocks, panel);
    if (split_on_avx2(type)) detail::split_q8_panel_avx2(panel, n_blocks);
}

struct PanelFunctions {
    // Rows in the file's layout, and a 16-row group of an interleaved matrix, as one panel.
    void (*pack)(DType, const std::byte*, int64_t, int, int64_t, std::byte*);
    void (*pack_r16)(DType, const std::byte*, int64_t, std::byte*);
    int64_t (*block_bytes)(DType);  // of a panel block
    void (*kernel)(const detail::PanelGemmArgs&);
};

// The one place that maps a path to its functions (to be re-pointed at a central CPU-features
// module).
PanelFunctions panel_functions(QuantPath path) {
    switch (path) {
        case QuantPath::Avx512Vnni:
            return {detail::pack_panel_avx512, detail::pack_panel_r16, detail::panel_block_bytes,
                    detail::panel_gemm_avx512};
        case QuantPath::Avx2:
            return {pack_split_avx2, pack_r16_split_avx2, block_bytes_avx2,
                    detail::panel_gemm_avx2};
        case QuantPath::AvxVnni:
            return {pack_avx2, detail::pack_panel_r16, detail::panel_block_bytes,
                    detail::panel_gemm_avx_vnni};
        case QuantPath::Scalar:
            break;
    }
    return {pack_portable, detail::pack_panel_r16, detail::panel_block_bytes,
            detail::panel_gemm_scalar};
}

}  // namespace

bool gemm_quant_supports(DType type) {
    const DType panel = detail::panel_type(type);
    return panel == DType::Q8_0 || panel == DType::Q4_0 || detail::has_block_min(panel) ||
           detail::is_k_quant_type(panel);
}

void prepare_batch(QuantPath path, DType weight_type, int64_t n, int64_t n_tokens,
                   QuantizedBatch& out) {
    if (!gemm_quant_supports(weight_type)) {
        throw Error("quantize_batch: " + std::string(dtype_name(weight_type)) +
                    " is not a quantized type the integer GEMM runs");
    }
    const bool k_quant = detail::is_k_quant_type(detail::panel_type(weight_type));
    const int64_t block = k_quant ? kSuperBlockSize : kQ8_0BlockSize;
    if (n_tokens < 0 || n % block != 0) {
        throw Error("quantize_batch: " + std::to_string(n_tokens) + " tokens of " +
                    std::to_string(n) + " values are not whole " + std::to_string(block) +
                    "-value blocks");
    }
    const int64_t n_blocks = n / block;
    out.weight_type = detail::panel_type(weight_type);
    out.n = n;
    out.n_tokens = n_tokens;
    out.block = block;
    out.group = detail::tile_tokens(path, out.weight_type);
    out.qs.resize(static_cast<size_t>(n * n_tokens));
    out.scales.resize(static_cast<size_t>(n_blocks * n_tokens));
    out.bias.resize(k_quant ? 0 : static_cast<size_t>(n_blocks * n_tokens));
    out.bsums.resize(k_quant ? static_cast<size_t>(n_blocks * n_tokens * 16) : 0);
}

void prepare_batch(DType weight_type, int64_t n, int64_t n_tokens, QuantizedBatch& out) {
    prepare_batch(best_quant_path(), weight_type, n, n_tokens, out);
}

void quantize_batch_tokens(QuantPath path, std::span<const float> x, int64_t t_begin, int64_t t_end,
                           QuantizedBatch& out) {
    const int64_t n = out.n, block = out.block, n_tokens = out.n_tokens;
    if (static_cast<int64_t>(x.size()) != n * n_tokens || t_begin < 0 || t_end > n_tokens) {
        throw Error("quantize_batch: " + std::to_string(x.size()) + " values for tokens [" +
                    std::to_string(t_begin) + ", " + std::to_string(t_end) + ") of a batch of " +
                    std::to_string(n_tokens) + " x " + std::to_string(n));
    }
    const bool k_quant = detail::is_k_quant_type(out.weight_type);
    const int64_t n_blocks = n / block;
    // One token at a time through the matvec quantizer (the same bytes by construction), then
    // scattered to the grouped layout.
    QuantizedActivations token;
    for (int64_t t = t_begin; t < t_end; ++t) {
        quantize_activations(path, out.weight_type, x.subspan(static_cast<size_t>(t * n), n),
                             token);
        const int64_t slot0 = out.slot(0, t), slot_stride = out.slot_stride(t);
        for (int64_t b = 0; b < n_blocks; ++b) {
            const int64_t at = slot0 + b * slot_stride;
            std::memcpy(out.qs.data() + at * block, token.qs.data() + b * block,
                        static_cast<size_t>(block));
            out.scales[at] = token.scales[b];
            if (k_quant) {
                std::memcpy(out.bsums.data() + at * 16, token.bsums.data() + b * 16,
                            16 * sizeof(int16_t));
            } else {
                out.bias[at] = token.bias[b];
            }
        }
    }
}

void quantize_batch(QuantPath path, DType weight_type, std::span<const float> x, int64_t n_tokens,
                    QuantizedBatch& out) {
    if (n_tokens <= 0 || x.size() % static_cast<size_t>(n_tokens) != 0) {
        throw Error("quantize_batch: " + std::to_string(x.size()) + " values are not " +
                    std::to_string(n_tokens) + " tokens");
    }
    prepare_batch(path, weight_type, static_cast<int64_t>(x.size()) / n_tokens, n_tokens, out);
    quantize_batch_tokens(path, x, 0, n_tokens, out);
}

void quantize_batch(DType weight_type, std::span<const float> x, int64_t n_tokens,
                    QuantizedBatch& out) {
    quantize_batch(best_quant_path(), weight_type, x, n_tokens, out);
}

void gemm_quant(QuantPath path, const Matrix& w, const QuantizedBatch& x, std::span<float> y,
                int64_t ldy, QuantPanelBuffer& panel) {
    if (!gemm_quant_supports(w.dtype)) {
        throw Error("gemm_quant: " + std::string(dtype_name(w.dtype)) +
                    " is not a quantized type the integer GEMM runs");
    }
    if (x.weight_type != detail::panel_type(w.dtype) || x.n != w.cols) {
        throw Error("gemm_quant: activations quantized for " +
                    std::string(dtype_name(x.weight_type)) + " x " + std::to_string(x.n) +
                    ", weights are " + std::string(dtype_name(w.dtype)) + " x " +
                    std::to_string(w.cols));
    }
    if (x.n_tokens > 0 &&
        (ldy < w.rows || static_cast<int64_t>(y.size()) < (x.n_tokens - 1) * ldy + w.rows)) {
        throw Error("gemm_quant: output has " + std::to_string(y.size()) + " values for " +
                    std::to_string(x.n_tokens) + " tokens of " + std::to_string(w.rows) +
                    " rows (stride " + std::to_string(ldy) + ")");
    }
    if (!quant_path_supported(path)) {
        throw Error(std::string("gemm_quant: this CPU cannot run the ") + quant_path_name(path) +
                    " path");
    }
    if (x.n_tokens == 0 || w.rows == 0) return;
    const PanelFunctions functions = panel_functions(path);
    const int64_t n_blocks = w.cols / x.block;
    const int64_t stride = w.row_stride();
    // Row-interleaved weights: each 16-row group is one panel, converted directly.
    const bool interleaved = is_interleaved(w.dtype);
    if (interleaved) check_whole_groups(w, "gemm_quant");
    static_assert(detail::kPanelRows == kInterleaveRows);
    panel.resize(static_cast<size_t>(n_blocks * functions.block_bytes(w.dtype)));
    // Steps of the next panel's prefetch: one a block of each tile (the AVX2 tiles that run
    // each 8-row half of a panel on its own, K-quants' and split Q8_0's, take twice that and
    // finish it half-way).
    const int64_t prefetch_steps = (x.n_tokens + x.group - 1) / x.group * n_blocks;
    for (int64_t r0 = 0; r0 < w.rows; r0 += detail::kPanelRows) {
        const int n_rows = static_cast<int>(std::min<int64_t>(detail::kPanelRows, w.rows - r0));
        if (interleaved) {
            functions.pack_r16(w.dtype, w.row(r0), n_blocks, panel.data());
        } else {
            functions.pack(w.dtype, w.row(r0), stride, n_rows, n_blocks, panel.data());
        }
        // The next panel's rows (one piece of memory, interleaved or not) come from DRAM: read
        // by its packer at once they held it up (Q4_0 prompt 128 at avx512-vnni, Zen 5: 10% of
        // the time in the packer, on its loads), so the tiles fetch them into L2 while they run
        // over this panel, a line or two a block (all before each tile held up the tiles).
        const int64_t next_rows =
            std::clamp<int64_t>(w.rows - r0 - detail::kPanelRows, 0, detail::kPanelRows);
        SpreadPrefetch prefetch({next_rows > 0 ? w.row(r0 + detail::kPanelRows) : w.row(r0),
                                 static_cast<size_t>(next_rows * stride)},
                                prefetch_steps);
        functions.kernel({detail::panel_type(w.dtype), panel.data(), n_blocks, n_rows, &x,
                          y.data() + r0, ldy, &prefetch});
    }
}

void gemm_quant(const Matrix& w, const QuantizedBatch& x, std::span<float> y, int64_t ldy,
                QuantPanelBuffer& panel) {
    gemm_quant(best_quant_path(), w, x, y, ldy, panel);
}

}  // namespace llama::kernels
