// Parses a memory-mapped GGUF file, checking every length, count and offset against the file size
// before using it, so a truncated or corrupt file gives a llama::Error and never a wild read.

#include <cstring>
#include <string>

#include "llama/error.h"
#include "model/gguf.h"

namespace llama {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;      // deeper nesting is surely corruption

class Cursor {
  public:
    Cursor(std::span<const std::byte> bytes, std::string file)
        : bytes_(bytes), file_(std::move(file)) {}

    size_t position() const { return pos_; }
    size_t remaining() const { return bytes_.size() - pos_; }

    [[noreturn]] void fail(const std::string& message) const {
        throw Error(file_ + ": " + message);
    }

    void need(uint64_t count, const char* what) const {
        if (count > remaining()) {
            fail("truncated GGUF header: " + std::string(what) + " at byte " +
                 std::to_string(pos_) + " needs " + std::to_string(count) + " bytes, only " +
                 std::to_string(remaining()) + " remain");
        }
    }

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T value;
        std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }

    std::string read_string(const char* what) {
        const auto length = read<uint64_t>(what);
        need(length, what);
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
        pos_ += length;
        return s;
    }

  private:
    std::span<const std::byte> bytes_;
    std::string file_;
    size_t pos_ = 0;
};

// Smallest encoded size of one value of `type`, to reject array counts the file cannot hold
// before allocating for them.
uint64_t min_encoded_size(GgufType type) {
    switch (type) {
        case GgufType::UInt8:
        case GgufType::Int8:
        case GgufType::Bool:
            return 1;
        case GgufType::UInt16:
        case GgufType::Int16:
            return 2;
        case GgufType::UInt32:
        case GgufType::Int32:
        case GgufType::Float32:
            return 4;
        case GgufType::UInt64:
        case GgufType::Int64:
        case GgufType::Float64:
        case GgufType::String:
            return 8;
        case GgufType::Array:
            return 12;
    }
    return 1;
}

GgufType read_type(Cursor& in, const std::string& key) {
    const auto id = in.read<uint32_t>("value type");
    if (id > static_cast<uint32_t>(GgufType::Float64)) {
        in.fail("metadata key '" + key + "' has unknown value type " + std::to_string(id));
    }
    return static_cast<GgufType>(id);
}

GgufValue read_value(Cursor& in, GgufType type, const std::string& key, int depth) {
    switch (type) {
        case GgufType::UInt8:
            return in.read<uint8_t>("uint8 value");
        case GgufType::Int8:
            return in.read<int8_t>("int8 value");
        case GgufType::UInt16:
            return in.read<uint16_t>("uint16 value");
        case GgufType::Int16:
            return in.read<int16_t>("int16 value");
        case GgufType::UInt32:
            return in.read<uint32_t>("uint32 value");
        case GgufType::Int32:
            return in.read<int32_t>("int32 value");
        case GgufType::Float32:
            return in.read<float>("float32 value");
        case GgufType::UInt64:
            return in.read<uint64_t>("uint64 value");
        case GgufType::Int64:
            return in.read<int64_t>("int64 value");
        case GgufType::Float64:
            return in.read<double>("float64 value");
        case GgufType::Bool: {
            const auto byte = in.read<uint8_t>("bool value");
            if (byte > 1) {
                in.fail("metadata key '" + key + "' has bool value " + std::to_string(byte));
            }
            return byte != 0;
        }
        case GgufType::String:
            return in.read_string("string value");
        case GgufType::Array: {
            if (depth >= kMaxArrayNesting) {
                in.fail("metadata key '" + key + "' nests arrays too deeply");
            }
            GgufArray array;
            array.element_type = read_type(in, key);
            const auto count = in.read<uint64_t>("array length");
            if (count > in.remaining() / min_encoded_size(array.element_type)) {
                in.fail("truncated GGUF header: array '" + key + "' claims " +
                        std::to_string(count) + " elements but only " +
                        std::to_string(in.remaining()) + " bytes remain");
            }
            array.values.reserve(count);
            for (uint64_t i = 0; i < count; ++i) {
                array.values.push_back(read_value(in, array.element_type, key, depth + 1));
            }
            return array;
        }
    }
    in.fail("metadata key '" + key + "' has unknown value type");
}

uint64_t align_up(uint64_t offset, uint64_t alignment) {
    return (offset + alignment - 1) / alignment * alignment;
}

}  // namespace

GgufFile GgufFile::open(const std::filesystem::path& path) { return parse(MappedFile::open(path)); }

GgufFile GgufFile::parse(std::shared_ptr<MappedFile> file) {
    GgufFile gguf;
    gguf.file_ = std::move(file);
    const std::span<const std::byte> bytes = gguf.file_->bytes();
    Cursor in(bytes, gguf.file_->path().string());

    if (bytes.size() < 4)
        in.fail("too short to be a GGUF file (" + std::to_string(bytes.size()) + " bytes)");
    const auto magic = in.read<uint32_t>("magic");
    if (magic != kMagic) {
        std::string shown;
        for (int i = 0; i < 4; ++i) {
            const auto c = static_cast<char>((magic >> (8 * i)) & 0xff);
            shown += (c >= 32 && c < 127) ? c : '?';
        }
        in.fail("not a GGUF file (magic '" + shown + "', expected 'GGUF')");
    }
    gguf.version_ = in.read<uint32_t>("version");
    if (gguf.version_ != 2 && gguf.version_ != 3) {
        // A big-endian file reads its version byte-swapped.
        const bool big_endian = gguf.version_ == 0x02000000 || gguf.version_ == 0x03000000;
        in.fail("unsupported GGUF version " + std::to_string(gguf.version_) +
                (big_endian ? " (a big-endian file; only little-endian GGUF is supported)"
                            : " (supported: 2 and 3)"));
    }
    const auto tensor_count = in.read<uint64_t>("tensor count");
    const auto metadata_count = in.read<uint64_t>("metadata count");
    // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info at least
    // 8 + 4 + 4 + 8.
    if (metadata_count > in.remaining() / 13 || tensor_count > in.remaining() / 24) {
        in.fail("truncated GGUF header: it claims " + std::to_string(tensor_count) +
                " tensors and " + std::to_string(metadata_count) + " metadata keys but only " +
                std::to_string(in.remaining()) + " bytes follow");
    }

    gguf.metadata_.reserve(metadata_count);
    for (uint64_t i = 0; i < metadata_count; ++i) {
        std::string key = in.read_string("metadata key");
        const GgufType type = read_type(in, key);
        GgufValue value = read_value(in, type, key, 0);
        if (gguf.metadata_index_.contains(key)) in.fail("duplicate metadata key '" + key + "'");
        gguf.metadata_index_.emplace(key, gguf.metadata_.size());
        gguf.metadata_.push_back({std::move(key), std::move(value)});
    }

    if (const GgufValue* alignment = gguf.find("general.alignment")) {
        const uint64_t value = alignment->as_uint("general.alignment");
        if (value == 0 || (value & (value - 1)) != 0 || value > (1u << 20)) {
            in.fail("general.alignment " + std::to_string(value) + " is not a power of two");
        }
        gguf.alignment_ = static_cast<uint32_t>(value);
    }

    gguf.tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) {
        GgufTensorInfo tensor;
        tensor.name = in.read_string("tensor name");
        const auto n_dims = in.read<uint32_t>("tensor dimension count");
        if (n_dims > kMaxDims) {
            in.fail("tensor '" + tensor.name + "' has " + std::to_string(n_dims) +
                    " dimensions (at most 4)");
        }
        for (uint32_t d = 0; d < n_dims; ++d) {
            const auto dim = in.read<uint64_t>("tensor dimension");
            if (dim > (uint64_t{1} << 40)) {
                in.fail("tensor '" + tensor.name + "' has dimension " + std::to_string(dim));
            }
            tensor.ne.push_back(static_cast<int64_t>(dim));
        }
        const auto type_id = in.read<uint32_t>("tensor type");
        if (!ggml_type_info(type_id)) {
            in.fail("tensor '" + tensor.name + "' has unknown GGML type id " +
                    std::to_string(type_id));
        }
        tensor.type = static_cast<GgmlType>(type_id);
        tensor.offset = in.read<uint64_t>("tensor offset");
        if (tensor.offset % gguf.alignment_ != 0) {
            in.fail("tensor '" + tensor.name + "' data offset " + std::to_string(tensor.offset) +
                    " is not a multiple of the alignment " + std::to_string(gguf.alignment_));
        }
        try {
            tensor.n_bytes = ggml_tensor_bytes(tensor.type, tensor.ne, tensor.name);
        } catch (const Error& e) {
            in.fail(e.what());
        }
        if (gguf.tensor_index_.contains(tensor.name)) {
            in.fail("duplicate tensor name '" + tensor.name + "'");
        }
        gguf.tensor_index_.emplace(tensor.name, gguf.tensors_.size());
        gguf.tensors_.push_back(std::move(tensor));
    }

    gguf.data_offset_ = align_up(in.position(), gguf.alignment_);
    const uint64_t data_size =
        gguf.data_offset_ <= bytes.size() ? bytes.size() - gguf.data_offset_ : 0;
    for (GgufTensorInfo& tensor : gguf.tensors_) {
        if (tensor.offset > data_size || tensor.n_bytes > data_size - tensor.offset) {
            in.fail("tensor '" + tensor.name + "' data (" + std::to_string(tensor.n_bytes) +
                    " bytes at data offset " + std::to_string(tensor.offset) +
                    ") runs past the end of the file (" + std::to_string(data_size) +
                    " bytes of tensor data); the file is truncated or corrupt");
        }
        tensor.data = bytes.data() + gguf.data_offset_ + tensor.offset;
    }
    return gguf;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    const auto it = metadata_index_.find(std::string(key));
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

const GgufValue& GgufFile::get(std::string_view key) const {
    const GgufValue* value = find(key);
    if (value == nullptr) {
        throw Error(path().string() + ": GGUF metadata key '" + std::string(key) + "' is missing");
    }
    return *value;
}

namespace {

// Re-throws a type error with the file name in front.
template <typename F>
decltype(auto) with_file(const std::filesystem::path& path, F&& f) {
    try {
        return f();
    } catch (const Error& e) {
        throw Error(path.string() + ": " + e.what());
    }
}

}  // namespace

int64_t GgufFile::get_int(std::string_view key) const {
    const GgufValue& value = get(key);
    return with_file(path(), [&] { return value.as_int(key); });
}

double GgufFile::get_double(std::string_view key) const {
    const GgufValue& value = get(key);
    return with_file(path(), [&] { return value.as_double(key); });
}

const std::string& GgufFile::get_string(std::string_view key) const {
    const GgufValue& value = get(key);
    return with_file(path(), [&]() -> const std::string& { return value.as_string(key); });
}

const GgufArray& GgufFile::get_array(std::string_view key) const {
    const GgufValue& value = get(key);
    return with_file(path(), [&]() -> const GgufArray& { return value.as_array(key); });
}

int64_t GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
    return find(key) ? get_int(key) : fallback;
}

double GgufFile::get_double_or(std::string_view key, double fallback) const {
    return find(key) ? get_double(key) : fallback;
}

bool GgufFile::get_bool_or(std::string_view key, bool fallback) const {
    const GgufValue* value = find(key);
    if (value == nullptr) return fallback;
    return with_file(path(), [&] { return value->as_bool(key); });
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace llama
