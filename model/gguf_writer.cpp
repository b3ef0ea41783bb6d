// Writes GGUF v3: header, metadata in insertion order, tensor infos with aligned offsets, then
// each tensor's bytes (produced on demand) followed by zero padding to the alignment.

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "llama/error.h"
#include "model/gguf.h"

namespace llama {
namespace {

constexpr uint32_t kVersion = 3;

class Output {
  public:
    explicit Output(const std::filesystem::path& path) : path_(path), out_(path, std::ios::binary) {
        if (!out_) throw Error("cannot create " + path.string());
    }

    template <typename T>
    void put(T value) {
        write(&value, sizeof(T));
    }
    void put_string(const std::string& s) {
        put<uint64_t>(s.size());
        write(s.data(), s.size());
    }
    void write(const void* data, size_t size) {
        out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out_) throw Error("error writing " + path_.string() + " (disk full?)");
        position_ += size;
    }
    void pad_to(uint64_t alignment) {
        static constexpr char kZeros[256] = {};
        while (position_ % alignment != 0) {
            write(kZeros, std::min<uint64_t>(sizeof(kZeros), alignment - position_ % alignment));
        }
    }
    void close() {
        out_.close();
        if (!out_) throw Error("error closing " + path_.string());
    }
    uint64_t position() const { return position_; }

  private:
    std::filesystem::path path_;
    std::ofstream out_;
    uint64_t position_ = 0;
};

void put_value(Output& out, const GgufValue& value) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                out.put_string(v);
            } else if constexpr (std::is_same_v<T, GgufArray>) {
                out.put<uint32_t>(static_cast<uint32_t>(v.element_type));
                out.put<uint64_t>(v.values.size());
                for (const GgufValue& element : v.values) put_value(out, element);
            } else if constexpr (std::is_same_v<T, bool>) {
                out.put<uint8_t>(v ? 1 : 0);
            } else {
                out.put<T>(v);
            }
        },
        value.value);
}

void check_array(const std::string& key, const GgufValue& value) {
    if (value.type() != GgufType::Array) return;
    const GgufArray& array = std::get<GgufArray>(value.value);
    for (const GgufValue& element : array.values) {
        if (element.type() != array.element_type) {
            throw Error("GGUF array '" + key + "' of " +
                        std::string(gguf_type_name(array.element_type)) + " holds a " +
                        std::string(gguf_type_name(element.type())));
        }
        check_array(key, element);
    }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        throw Error("GGUF alignment " + std::to_string(alignment) + " is not a power of two");
    }
    if (alignment != kGgufDefaultAlignment) set("general.alignment", alignment);
}

void GgufWriter::set(const std::string& key, GgufValue value) {
    check_array(key, value);
    for (GgufKeyValue& entry : metadata_) {
        if (entry.key == key) {
            entry.value = std::move(value);
            return;
        }
    }
    metadata_.push_back({key, std::move(value)});
}

const GgufValue* GgufWriter::find(std::string_view key) const {
    for (const GgufKeyValue& entry : metadata_) {
        if (entry.key == key) return &entry.value;
    }
    return nullptr;
}

void GgufWriter::remove(std::string_view key) {
    std::erase_if(metadata_, [&](const GgufKeyValue& entry) { return entry.key == key; });
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                            TensorSource source) {
    if (ne.size() > 4) throw Error("tensor '" + name + "' has more than 4 dimensions");
    for (const PendingTensor& tensor : tensors_) {
        if (tensor.name == name) throw Error("tensor '" + name + "' added twice");
    }
    const uint64_t n_bytes = ggml_tensor_bytes(type, ne, name);
    tensors_.push_back({std::move(name), std::move(ne), type, n_bytes, std::move(source)});
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                            std::span<const std::byte> data) {
    const uint64_t n_bytes = ggml_tensor_bytes(type, ne, name);
    if (data.size() != n_bytes) {
        throw Error("tensor '" + name + "' has " + std::to_string(data.size()) +
                    " bytes of data, its shape and type need " + std::to_string(n_bytes));
    }
    add_tensor(std::move(name), std::move(ne), type, [data](std::span<std::byte> out) {
        std::memcpy(out.data(), data.data(), out.size());
    });
}

void GgufWriter::write(const std::filesystem::path& path,
                       const std::function<void(size_t, size_t)>& progress) const {
    const std::filesystem::path temporary = path.string() + ".tmp";
    try {
        Output out(temporary);
        out.put<uint32_t>(0x46554747);  // "GGUF"
        out.put<uint32_t>(kVersion);
        out.put<uint64_t>(tensors_.size());
        out.put<uint64_t>(metadata_.size());
        for (const GgufKeyValue& entry : metadata_) {
            out.put_string(entry.key);
            out.put<uint32_t>(static_cast<uint32_t>(entry.value.type()));
            put_value(out, entry.value);
        }
        uint64_t offset = 0;
        for (const PendingTensor& tensor : tensors_) {
            out.put_string(tensor.name);
            out.put<uint32_t>(static_cast<uint32_t>(tensor.ne.size()));
            for (int64_t dim : tensor.ne) out.put<uint64_t>(static_cast<uint64_t>(dim));
            out.put<uint32_t>(static_cast<uint32_t>(tensor.type));
            out.put<uint64_t>(offset);
            offset += (tensor.n_bytes + alignment_ - 1) / alignment_ * alignment_;
        }
        out.pad_to(alignment_);

        std::vector<std::byte> buffer;
        for (size_t i = 0; i < tensors_.size(); ++i) {
            const PendingTensor& tensor = tensors_[i];
            buffer.assign(tensor.n_bytes, std::byte{0});
            tensor.source(buffer);
            out.write(buffer.data(), buffer.size());
            out.pad_to(alignment_);
            if (progress) progress(i + 1, tensors_.size());
        }
        out.close();
        std::filesystem::rename(temporary, path);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
}

}  // namespace llama
