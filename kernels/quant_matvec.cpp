// Activation quantization and the run-time choice of the quantized matrix-vector path.

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/quant.h"
#include "kernels/quant_impl.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"

namespace llama::kernels {

namespace {

// Super-block weights take 256-value activation blocks with sums of each 16 values.
bool is_k_quant(DType type) { return activation_block(type) == kSuperBlockSize; }

void check_quantized(DType type, const char* what) {
    if (!is_quantized_type(type)) {
        throw Error(std::string(what) + ": " + std::string(dtype_name(type)) +
                    " is not a quantized type");
    }
}

// Symmetric 8-bit quantization of one block: scale = max|x| / 127, q = round(x / scale).
// Returns the scale; writes q. The clamp only matters for non-finite input (no UB on NaN).
float quantize_block_portable(const float* x, int64_t count, int8_t* q) {
    float amax = 0.0f;
    for (int64_t j = 0; j < count; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float inverse = detail::activation_inverse(amax);
    for (int64_t j = 0; j < count; ++j) {
        const float v = std::fmin(std::fmax(x[j] * inverse, -127.0f), 127.0f);
        q[j] = static_cast<int8_t>(std::nearbyint(v));
    }
    return amax / 127.0f;
}

}  // namespace

void quantize_activations(DType weight_type, std::span<const float> x, QuantizedActivations& out) {
    quantize_activations(best_quant_path(), weight_type, x, out);
}

void quantize_activations(QuantPath path, DType weight_type_in, std::span<const float> x,
                          QuantizedActivations& out) {
    const DType weight_type = interleaved_base(weight_type_in);  // the same activations
    const auto quantize_block = !quant_path_supported(path)     ? quantize_block_portable
                                : path == QuantPath::Avx512Vnni ? detail::quantize_block_avx512
                                : path == QuantPath::Avx2 || path == QuantPath::AvxVnni
                                    ? detail::quantize_block_avx2
                                    : quantize_block_portable;
    check_quantized(weight_type, "quantize_activations");
    const auto n = static_cast<int64_t>(x.size());
    const int64_t block = is_k_quant(weight_type) ? kSuperBlockSize : kQ8_0BlockSize;
    if (n % block != 0) {
        throw Error("quantize_activations: " + std::to_string(n) +
                    " values are not a whole number of " + std::to_string(block) + "-value blocks");
    }
    const int64_t n_blocks = n / block;
    out.weight_type = weight_type;
    out.n = n;
    out.qs.resize(n);
    out.scales.resize(n_blocks);
    if (is_k_quant(weight_type)) {
        out.bias.clear();
        out.bsums.resize(n / 16);
        for (int64_t b = 0; b < n_blocks; ++b) {
            out.scales[b] = quantize_block(x.data() + b * block, block, out.qs.data() + b * block);
        }
        for (int64_t g = 0; g < n / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += out.qs[g * 16 + j];
            out.bsums[g] = static_cast<int16_t>(sum);
        }
    } else {
        out.bsums.clear();
        out.bias.resize(n_blocks);
        const int32_t offset = detail::activation_offset(weight_type);
        for (int64_t b = 0; b < n_blocks; ++b) {
            int8_t* q = out.qs.data() + b * block;
            out.scales[b] = quantize_block(x.data() + b * block, block, q);
            int32_t sum = 0;
            for (int64_t j = 0; j < block; ++j) sum += q[j];
            out.bias[b] = -offset * sum;
        }
    }
}

namespace {

IsaLevel quant_path_level(QuantPath path) {
    switch (path) {
        case QuantPath::Scalar:
            return IsaLevel::Scalar;
        case QuantPath::Avx2:
            return IsaLevel::Avx2;
        case QuantPath::AvxVnni:
            return IsaLevel::Avx2Vnni;
        case QuantPath::Avx512Vnni:
            return IsaLevel::Avx512Vnni;
    }
    return IsaLevel::Scalar;
}

}  // namespace

bool quant_path_supported(QuantPath path) { return cpu_supports(quant_path_level(path)); }

QuantPath best_quant_path() {
    if (isa_enabled(IsaLevel::Avx512Vnni)) return QuantPath::Avx512Vnni;
    if (isa_enabled(IsaLevel::Avx2Vnni)) return QuantPath::AvxVnni;
    if (isa_enabled(IsaLevel::Avx2)) return QuantPath::Avx2;
    return QuantPath::Scalar;
}

const char* quant_path_name(QuantPath path) {
    switch (path) {
        case QuantPath::Scalar:
            return "scalar";
        case QuantPath::Avx2:
            return "avx2";
        case QuantPath::Avx512Vnni:
            return "avx512-vnni";
        case QuantPath::AvxVnni:
            return "avx-vnni";
    }
    return "unknown";
}

void matmul_quant(QuantPath path, const Matrix& w, std::span<const QuantizedActivations> x,
                  std::span<float> y, int64_t ldy) {
    check_quantized(w.dtype, "matvec_quant");
    for (const QuantizedActivations& xt : x) {
        if (xt.weight_type != interleaved_base(w.dtype) || xt.n != w.cols) {
            throw Error("matvec_quant: activations quantized for " +
                        std::string(dtype_name(xt.weight_type)) + " x " + std::to_string(xt.n) +
                        ", weights are " + std::string(dtype_name(w.dtype)) + " x " +
                        std::to_string(w.cols));
        }
    }
    const auto n_tokens = static_cast<int64_t>(x.size());
    if (n_tokens > 0 &&
        (ldy < w.rows || static_cast<int64_t>(y.size()) < (n_tokens - 1) * ldy + w.rows)) {
        throw Error("matvec_quant: output has " + std::to_string(y.size()) + " values for " +
                    std::to_string(n_tokens) + " tokens of " + std::to_string(w.rows) +
                    " rows (stride " + std::to_string(ldy) + ")");
    }
    if (!quant_path_supported(path)) {
        throw Error(std::string("matvec_quant: this CPU cannot run the ") + quant_path_name(path) +
                    " path");
    }
    const detail::QuantMatvecArgs args{w.dtype,  w.data,   w.rows,   w.cols, w.row_stride(),
                                       x.data(), n_tokens, y.data(), ldy};
    const bool interleaved = is_interleaved(w.dtype);
    if (interleaved) check_whole_groups(w, "matvec_quant");
    switch (path) {
        case QuantPath::Scalar:
            (interleaved ? detail::quant_matvec_r16_scalar : detail::quant_matvec_scalar)(args);
            break;
        case QuantPath::Avx2:
        case QuantPath::AvxVnni:
            (interleaved ? detail::quant_matvec_r16_avx2 : detail::quant_matvec_avx2)(args);
            break;
        case QuantPath::Avx512Vnni:
            (interleaved ? detail::quant_matvec_r16_avx512 : detail::quant_matvec_avx512)(args);
            break;
    }
}

DType load_layout(DType file_type) {
    const DType interleaved = interleaved_type(file_type);
    if (interleaved == DType::Q6_K_R16 && best_quant_path() == QuantPath::Scalar) {
        return file_type;
    }
    return interleaved;
}

void matmul_quant(const Matrix& w, std::span<const QuantizedActivations> x, std::span<float> y,
                  int64_t ldy) {
    matmul_quant(best_quant_path(), w, x, y, ldy);
}

void matvec_quant(QuantPath path, const Matrix& w, const QuantizedActivations& x,
                  std::span<float> y) {
    if (static_cast<int64_t>(y.size()) != w.rows) {
        throw Error("matvec_quant: output has " + std::to_string(y.size()) + " values for " +
                    std::to_string(w.rows) + " rows");
    }
    matmul_quant(path, w, {&x, 1}, y, w.rows);
}

void matvec_quant(const Matrix& w, const QuantizedActivations& x, std::span<float> y) {
    matvec_quant(best_quant_path(), w, x, y);
}

void matvec_quant(const Matrix& w, std::span<const float> x, std::span<float> y) {
    if (static_cast<int64_t>(x.size()) != w.cols) {
        throw Error("matvec_quant: x has " + std::to_string(x.size()) + " values for " +
                    std::to_string(w.cols) + " columns");
    }
    QuantizedActivations quantized;
    quantize_activations(w.dtype, x, quantized);
    matvec_quant(best_quant_path(), w, quantized, y);
}

}  // namespace llama::kernels
