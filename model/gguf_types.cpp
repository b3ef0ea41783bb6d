// GGUF value and ggml tensor-type tables shared by the reader and the writer.

#include <array>
#include <bit>
#include <limits>
#include <string>

#include "llama/error.h"
#include "model/gguf.h"

namespace llama {

std::string_view gguf_type_name(GgufType type) {
    static constexpr std::array<std::string_view, 13> kNames = {
        "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
        "bool",  "string", "array",  "uint64", "int64",  "float64"};
    const auto index = static_cast<size_t>(type);
    return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

bool GgufValue::is_integer() const {
    switch (type()) {
        case GgufType::UInt8:
        case GgufType::Int8:
        case GgufType::UInt16:
        case GgufType::Int16:
        case GgufType::UInt32:
        case GgufType::Int32:
        case GgufType::UInt64:
        case GgufType::Int64:
            return true;
        default:
            return false;
    }
}

namespace {

[[noreturn]] void wrong_type(std::string_view what, const GgufValue& value, const char* wanted) {
    throw Error("GGUF key '" + std::string(what) + "' has type " +
                std::string(gguf_type_name(value.type())) + ", expected " + wanted);
}

}  // namespace

int64_t GgufValue::as_int(std::string_view what) const {
    return std::visit(
        [&](const auto& v) -> int64_t {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, uint64_t>) {
                if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                    throw Error("GGUF key '" + std::string(what) + "' value " + std::to_string(v) +
                                " is too large");
                }
                return static_cast<int64_t>(v);
            } else if constexpr (std::is_integral_v<T>) {
                return static_cast<int64_t>(v);
            } else {
                wrong_type(what, *this, "an integer");
            }
        },
        value);
}

uint64_t GgufValue::as_uint(std::string_view what) const {
    if (type() == GgufType::UInt64) return std::get<uint64_t>(value);
    const int64_t v = as_int(what);
    if (v < 0) {
        throw Error("GGUF key '" + std::string(what) + "' is negative (" + std::to_string(v) + ")");
    }
    return static_cast<uint64_t>(v);
}

double GgufValue::as_double(std::string_view what) const {
    if (type() == GgufType::Float32) return std::get<float>(value);
    if (type() == GgufType::Float64) return std::get<double>(value);
    if (is_integer()) return static_cast<double>(as_int(what));
    wrong_type(what, *this, "a number");
}

bool GgufValue::as_bool(std::string_view what) const {
    if (type() == GgufType::Bool) return std::get<bool>(value);
    if (is_integer()) return as_int(what) != 0;
    wrong_type(what, *this, "bool");
}

const std::string& GgufValue::as_string(std::string_view what) const {
    if (type() != GgufType::String) wrong_type(what, *this, "string");
    return std::get<std::string>(value);
}

const GgufArray& GgufValue::as_array(std::string_view what) const {
    if (type() != GgufType::Array) wrong_type(what, *this, "array");
    return std::get<GgufArray>(value);
}

bool GgufValue::operator==(const GgufValue& other) const {
    if (type() != other.type()) return false;
    // Compare floats by bits so NaNs written and read back count as equal.
    if (type() == GgufType::Float32) {
        return std::bit_cast<uint32_t>(std::get<float>(value)) ==
               std::bit_cast<uint32_t>(std::get<float>(other.value));
    }
    if (type() == GgufType::Float64) {
        return std::bit_cast<uint64_t>(std::get<double>(value)) ==
               std::bit_cast<uint64_t>(std::get<double>(other.value));
    }
    return value == other.value;
}

bool operator==(const GgufArray& a, const GgufArray& b) {
    return a.element_type == b.element_type && a.values == b.values;
}

GgufValue gguf_string_array(std::vector<std::string> values) {
    GgufArray array{GgufType::String, {}};
    array.values.reserve(values.size());
    for (auto& s : values) array.values.emplace_back(std::move(s));
    return array;
}

GgufValue gguf_float_array(std::span<const float> values) {
    GgufArray array{GgufType::Float32, {}};
    array.values.assign(values.begin(), values.end());
    return array;
}

GgufValue gguf_int32_array(std::span<const int32_t> values) {
    GgufArray array{GgufType::Int32, {}};
    array.values.assign(values.begin(), values.end());
    return array;
}

// ---- ggml tensor types ----------------------------------------------------------------------

std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type_id) {
    // Block sizes as ggml's type_traits define them (QK_K = 256).
    switch (static_cast<GgmlType>(type_id)) {
        case GgmlType::F32:
            return GgmlTypeInfo{"F32", 1, 4};
        case GgmlType::F16:
            return GgmlTypeInfo{"F16", 1, 2};
        case GgmlType::Q4_0:
            return GgmlTypeInfo{"Q4_0", 32, 18};
        case GgmlType::Q4_1:
            return GgmlTypeInfo{"Q4_1", 32, 20};
        case GgmlType::Q5_0:
            return GgmlTypeInfo{"Q5_0", 32, 22};
        case GgmlType::Q5_1:
            return GgmlTypeInfo{"Q5_1", 32, 24};
        case GgmlType::Q8_0:
            return GgmlTypeInfo{"Q8_0", 32, 34};
        case GgmlType::Q8_1:
            return GgmlTypeInfo{"Q8_1", 32, 36};
        case GgmlType::Q2_K:
            return GgmlTypeInfo{"Q2_K", 256, 84};
        case GgmlType::Q3_K:
            return GgmlTypeInfo{"Q3_K", 256, 110};
        case GgmlType::Q4_K:
            return GgmlTypeInfo{"Q4_K", 256, 144};
        case GgmlType::Q5_K:
            return GgmlTypeInfo{"Q5_K", 256, 176};
        case GgmlType::Q6_K:
            return GgmlTypeInfo{"Q6_K", 256, 210};
        case GgmlType::Q8_K:
            return GgmlTypeInfo{"Q8_K", 256, 292};
        case GgmlType::IQ2_XXS:
            return GgmlTypeInfo{"IQ2_XXS", 256, 66};
        case GgmlType::IQ2_XS:
            return GgmlTypeInfo{"IQ2_XS", 256, 74};
        case GgmlType::IQ3_XXS:
            return GgmlTypeInfo{"IQ3_XXS", 256, 98};
        case GgmlType::IQ1_S:
            return GgmlTypeInfo{"IQ1_S", 256, 50};
        case GgmlType::IQ4_NL:
            return GgmlTypeInfo{"IQ4_NL", 32, 18};
        case GgmlType::IQ3_S:
            return GgmlTypeInfo{"IQ3_S", 256, 110};
        case GgmlType::IQ2_S:
            return GgmlTypeInfo{"IQ2_S", 256, 82};
        case GgmlType::IQ4_XS:
            return GgmlTypeInfo{"IQ4_XS", 256, 136};
        case GgmlType::I8:
            return GgmlTypeInfo{"I8", 1, 1};
        case GgmlType::I16:
            return GgmlTypeInfo{"I16", 1, 2};
        case GgmlType::I32:
            return GgmlTypeInfo{"I32", 1, 4};
        case GgmlType::I64:
            return GgmlTypeInfo{"I64", 1, 8};
        case GgmlType::F64:
            return GgmlTypeInfo{"F64", 1, 8};
        case GgmlType::IQ1_M:
            return GgmlTypeInfo{"IQ1_M", 256, 56};
        case GgmlType::BF16:
            return GgmlTypeInfo{"BF16", 1, 2};
        case GgmlType::TQ1_0:
            return GgmlTypeInfo{"TQ1_0", 256, 54};
        case GgmlType::TQ2_0:
            return GgmlTypeInfo{"TQ2_0", 256, 66};
    }
    return std::nullopt;
}

std::string ggml_type_name(GgmlType type) {
    const auto info = ggml_type_info(static_cast<uint32_t>(type));
    return info ? std::string(info->name)
                : "unknown type " + std::to_string(static_cast<uint32_t>(type));
}

std::optional<DType> dtype_from_ggml(GgmlType type) {
    switch (type) {
        case GgmlType::F32:
            return DType::F32;
        case GgmlType::F16:
            return DType::F16;
        case GgmlType::BF16:
            return DType::BF16;
        case GgmlType::Q8_0:
            return DType::Q8_0;
        case GgmlType::Q4_0:
            return DType::Q4_0;
        case GgmlType::Q4_K:
            return DType::Q4_K;
        case GgmlType::Q5_K:
            return DType::Q5_K;
        case GgmlType::Q6_K:
            return DType::Q6_K;
        case GgmlType::Q4_1:
            return DType::Q4_1;
        case GgmlType::Q5_0:
            return DType::Q5_0;
        case GgmlType::Q5_1:
            return DType::Q5_1;
        case GgmlType::Q2_K:
            return DType::Q2_K;
        case GgmlType::Q3_K:
            return DType::Q3_K;
        case GgmlType::IQ4_NL:
            return DType::IQ4_NL;
        case GgmlType::IQ4_XS:
            return DType::IQ4_XS;
        default:
            return std::nullopt;
    }
}

GgmlType ggml_from_dtype(DType type) {
    switch (type) {
        case DType::F32:
            return GgmlType::F32;
        case DType::F16:
            return GgmlType::F16;
        case DType::BF16:
            return GgmlType::BF16;
        case DType::Q8_0:
            return GgmlType::Q8_0;
        case DType::Q4_0:
            return GgmlType::Q4_0;
        case DType::Q4_K:
            return GgmlType::Q4_K;
        case DType::Q5_K:
            return GgmlType::Q5_K;
        case DType::Q6_K:
            return GgmlType::Q6_K;
        case DType::Q4_1:
            return GgmlType::Q4_1;
        case DType::Q5_0:
            return GgmlType::Q5_0;
        case DType::Q5_1:
            return GgmlType::Q5_1;
        case DType::Q2_K:
            return GgmlType::Q2_K;
        case DType::Q3_K:
            return GgmlType::Q3_K;
        case DType::IQ4_NL:
            return GgmlType::IQ4_NL;
        case DType::IQ4_XS:
            return GgmlType::IQ4_XS;
        case DType::Q4_0_R16:  // in-memory layouts only: files hold the base types
        case DType::Q4_K_R16:
        case DType::IQ4_NL_R16:
        case DType::Q8_0_R16:
        case DType::Q6_K_R16:
        case DType::Q5_K_R16:
            break;
    }
    throw Error("no GGML type for dtype " + std::string(dtype_name(type)));
}

uint64_t ggml_tensor_bytes(GgmlType type, std::span<const int64_t> ne, std::string_view what) {
    const auto info = ggml_type_info(static_cast<uint32_t>(type));
    if (!info) {
        throw Error("tensor '" + std::string(what) + "' has unknown GGML type id " +
                    std::to_string(static_cast<uint32_t>(type)));
    }
    if (ne.empty()) return static_cast<uint64_t>(info->block_bytes);  // a scalar
    if (ne[0] % info->block_elements != 0) {
        throw Error("tensor '" + std::string(what) + "' of type " + std::string(info->name) +
                    " has " + std::to_string(ne[0]) + " elements per row, not a multiple of its " +
                    std::to_string(info->block_elements) + "-element blocks");
    }
    // 2^62 bytes is far beyond any file; checking each product against it rules out overflow.
    constexpr uint64_t kLimit = uint64_t{1} << 62;
    uint64_t bytes = static_cast<uint64_t>(ne[0] / info->block_elements) *
                     static_cast<uint64_t>(info->block_bytes);
    for (size_t i = 1; i < ne.size(); ++i) {
        const auto dim = static_cast<uint64_t>(ne[i]);
        if (dim != 0 && bytes > kLimit / dim) {
            throw Error("tensor '" + std::string(what) + "' is impossibly large");
        }
        bytes *= dim;
    }
    return bytes;
}

int64_t GgufTensorInfo::n_elements() const {
    int64_t count = 1;
    for (int64_t dim : ne) count *= dim;
    return count;
}

std::vector<int64_t> GgufTensorInfo::shape() const { return {ne.rbegin(), ne.rend()}; }

}  // namespace llama
