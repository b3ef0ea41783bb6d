#pragma once

// GGUF, the single-file checkpoint format of llama.cpp/ggml (versions 2 and 3, little-endian):
//
//   "GGUF" u32 version, u64 tensor_count, u64 metadata_count
//   metadata_count x { string key, u32 value_type, value }
//   tensor_count   x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the tensor data; each tensor's offset is
//   relative to the start of the data and a multiple of the alignment.
//
// Strings are u64 length + bytes (no terminator); arrays are u32 element type, u64 count, values.
// ne lists dimensions fastest-varying first: a row-major [rows, cols] matrix has ne = {cols, rows}.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "llama/tensor.h"
#include "model/mapped_file.h"

namespace llama {

inline constexpr uint32_t kGgufDefaultAlignment = 32;

enum class GgufType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};
std::string_view gguf_type_name(GgufType type);

struct GgufValue;

// A homogeneous array; element_type may itself be Array (arrays of arrays).
struct GgufArray {
    GgufType element_type = GgufType::UInt8;
    std::vector<GgufValue> values;
};

// One metadata value: the GGUF type tag and the C++ value holding it.
struct GgufValue {
    using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                                 std::string, GgufArray, uint64_t, int64_t, double>;
    Storage value;

    GgufValue() : value(uint8_t{0}) {}
    template <typename T>
    requires std::is_constructible_v<Storage, T> GgufValue(T v)
        : value(std::move(v)) {}  // NOLINT: implicit on purpose, for terse writers
    GgufValue(const char* s) : value(std::string(s)) {}

    GgufType type() const { return static_cast<GgufType>(value.index()); }
    bool is_integer() const;
    bool is_float() const { return type() == GgufType::Float32 || type() == GgufType::Float64; }

    // Checked conversions; `what` names the value (usually its key) in the error message.
    // as_int accepts any integer type (and bool), as_double any integer or float type.
    int64_t as_int(std::string_view what) const;
    uint64_t as_uint(std::string_view what) const;
    double as_double(std::string_view what) const;
    bool as_bool(std::string_view what) const;
    const std::string& as_string(std::string_view what) const;
    const GgufArray& as_array(std::string_view what) const;

    bool operator==(const GgufValue& other) const;
};
bool operator==(const GgufArray& a, const GgufArray& b);

// Builders for typed arrays.
GgufValue gguf_string_array(std::vector<std::string> values);
GgufValue gguf_float_array(std::span<const float> values);
GgufValue gguf_int32_array(std::span<const int32_t> values);

struct GgufKeyValue {
    std::string key;
    GgufValue value;
};

// ggml's tensor element types by id. Only the ones that map to llama::DType can be loaded; the
// others are listed so files holding them parse and the loader can name what it cannot run.
enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
};

struct GgmlTypeInfo {
    std::string_view name;
    int64_t block_elements;
    int64_t block_bytes;
};
// nullopt for ids ggml does not define (or no longer defines).
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type_id);
std::string ggml_type_name(GgmlType type);
std::optional<DType> dtype_from_ggml(GgmlType type);
GgmlType ggml_from_dtype(DType type);

struct GgufTensorInfo {
    std::string name;
    std::vector<int64_t> ne;  // fastest-varying dimension first, as stored
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;  // relative to the start of the data section
    uint64_t n_bytes = 0;
    const std::byte* data = nullptr;  // inside the mapped file

    int64_t n_elements() const;
    // Row-major shape, slowest first (the reverse of ne).
    std::vector<int64_t> shape() const;
    std::span<const std::byte> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }
};

// A parsed, memory-mapped GGUF file. Every offset and size is checked against the file at open,
// so tensor bytes can be read without further checks.
class GgufFile {
  public:
    // Throws llama::Error naming the file and the problem (wrong magic, unsupported version,
    // truncated header, unknown value or tensor type, misaligned or out-of-file tensor data, ...).
    static GgufFile open(const std::filesystem::path& path);
    static GgufFile parse(std::shared_ptr<MappedFile> file);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // absolute file offset of tensor data
    const std::filesystem::path& path() const { return file_->path(); }
    const std::shared_ptr<MappedFile>& file() const { return file_; }

    const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;
    // Throw llama::Error naming the key (and file) when it is absent or of the wrong type.
    const GgufValue& get(std::string_view key) const;
    int64_t get_int(std::string_view key) const;
    double get_double(std::string_view key) const;
    const std::string& get_string(std::string_view key) const;
    const GgufArray& get_array(std::string_view key) const;
    // The same with a default for absent keys (a present key of the wrong type still throws).
    int64_t get_int_or(std::string_view key, int64_t fallback) const;
    double get_double_or(std::string_view key, double fallback) const;
    bool get_bool_or(std::string_view key, bool fallback) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;

  private:
    std::shared_ptr<MappedFile> file_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kGgufDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<GgufKeyValue> metadata_;
    std::unordered_map<std::string, size_t> metadata_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

// Writes GGUF v3 files. Metadata keeps insertion order; tensor data is produced one tensor at a
// time while writing, so a converter never holds more than one converted tensor in memory.
class GgufWriter {
  public:
    // Fills `out` (exactly the tensor's byte size) with the tensor's data.
    using TensorSource = std::function<void(std::span<std::byte> out)>;

    explicit GgufWriter(uint32_t alignment = kGgufDefaultAlignment);

    // Adds or replaces a key (a replaced key keeps its position).
    void set(const std::string& key, GgufValue value);
    const GgufValue* find(std::string_view key) const;
    void remove(std::string_view key);
    // ne fastest-first, as GGUF stores it. Throws if the name repeats or ne[0] is not a whole
    // number of the type's blocks.
    void add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type, TensorSource source);
    void add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                    std::span<const std::byte> data);

    // Writes to `path` + ".tmp" and renames on success, so a failed run leaves no half file.
    // `progress` (optional) is called after each tensor with (tensors done, tensor count).
    void write(const std::filesystem::path& path,
               const std::function<void(size_t, size_t)>& progress = {}) const;

  private:
    struct PendingTensor {
        std::string name;
        std::vector<int64_t> ne;
        GgmlType type;
        uint64_t n_bytes;
        TensorSource source;
    };
    uint32_t alignment_;
    std::vector<GgufKeyValue> metadata_;
    std::vector<PendingTensor> tensors_;
};

// Byte size of a tensor of `type` with dimensions `ne` (fastest first); throws llama::Error
// (naming `what`) if ne[0] is not a whole number of blocks or the size overflows.
uint64_t ggml_tensor_bytes(GgmlType type, std::span<const int64_t> ne, std::string_view what);

}  // namespace llama
