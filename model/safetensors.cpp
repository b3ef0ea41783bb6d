#include "model/safetensors.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "llama/error.h"

namespace llama {

namespace {

using json = nlohmann::json;

DType parse_dtype(const std::string& name, const std::string& tensor) {
    if (name == "F32") return DType::F32;
    if (name == "F16") return DType::F16;
    if (name == "BF16") return DType::BF16;
    throw Error("tensor '" + tensor + "' has unsupported dtype " + name +
                " (supported: F32, F16, BF16)");
}

std::string where(const std::filesystem::path& file) { return file.string() + ": "; }

// The byte size of a tensor of `shape`, or an error naming the tensor when a dimension is not
// a non-negative integer or the size does not fit in 64 bits (a crafted header could otherwise
// overflow the product and pass the size check).
uint64_t tensor_bytes(const json& shape, DType dtype, const std::string& prefix,
                      std::vector<int64_t>& dims) {
    if (!shape.is_array()) throw Error(prefix + "\"shape\" is not an array");
    uint64_t bytes = static_cast<uint64_t>(dtype_traits(dtype).block_bytes);
    for (const json& dim : shape) {
        if (!dim.is_number_unsigned()) {  // nlohmann stores every non-negative integer unsigned
            throw Error(prefix +
                        "has a dimension that is not a non-negative integer: " + dim.dump());
        }
        const auto value = dim.get<uint64_t>();
        if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            (value != 0 && bytes > std::numeric_limits<uint64_t>::max() / value)) {
            throw Error(prefix + "has a shape whose byte size overflows 64 bits");
        }
        bytes *= value;
        dims.push_back(static_cast<int64_t>(value));
    }
    return bytes;
}

}  // namespace

void SafetensorsCheckpoint::add_file(std::shared_ptr<MappedFile> mapped) {
    const std::filesystem::path& file = mapped->path();
    const std::span<const std::byte> bytes = mapped->bytes();
    if (bytes.size() < 8) throw Error(where(file) + "too short to be a safetensors file");
    uint64_t header_size = 0;
    std::memcpy(&header_size, bytes.data(), 8);  // little-endian, as the format defines
    if (header_size > bytes.size() - 8) {
        throw Error(where(file) + "header of " + std::to_string(header_size) +
                    " bytes runs past the end of the file (" + std::to_string(bytes.size()) +
                    " bytes); the file is truncated or not safetensors");
    }
    const char* header_text = reinterpret_cast<const char*>(bytes.data() + 8);
    json header;
    try {
        header = json::parse(header_text, header_text + header_size);
    } catch (const json::exception& e) {
        throw Error(where(file) + "header is not valid JSON: " + e.what());
    }
    if (!header.is_object()) throw Error(where(file) + "header is not a JSON object");

    const std::span<const std::byte> data = bytes.subspan(8 + header_size);
    for (const auto& [name, info] : header.items()) {
        if (name == "__metadata__") continue;
        const std::string prefix = where(file) + "tensor '" + name + "' ";
        try {
            if (!info.is_object()) throw Error(prefix + "is not described by a JSON object");
            SafetensorsTensor tensor{
                name, parse_dtype(info.at("dtype").get<std::string>(), name), {}, {}, {}};
            const uint64_t expected =
                tensor_bytes(info.at("shape"), tensor.dtype, prefix, tensor.shape);
            const json& offsets = info.at("data_offsets");
            if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
                !offsets[1].is_number_unsigned() ||
                offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>()) {
                throw Error(prefix + "has malformed data_offsets " + offsets.dump());
            }
            const auto begin = offsets[0].get<uint64_t>();
            const auto end = offsets[1].get<uint64_t>();
            if (end > data.size()) {
                throw Error(prefix + "data ends at byte " + std::to_string(end) +
                            " past the end of the data section (" + std::to_string(data.size()) +
                            " bytes); the file is truncated");
            }
            if (end - begin != expected) {
                throw Error(prefix + "holds " + std::to_string(end - begin) +
                            " bytes but its shape needs " + std::to_string(expected));
            }
            tensor.data = data.subspan(begin, end - begin);
            tensor.file = mapped;
            if (!tensors_.emplace(name, std::move(tensor)).second) {
                throw Error(prefix + "appears in more than one file");
            }
        } catch (const json::exception& e) {
            throw Error(where(file) + "bad header entry for tensor '" + name + "': " + e.what());
        }
    }
    files_.push_back(std::move(mapped));
}

SafetensorsCheckpoint SafetensorsCheckpoint::parse_file(std::shared_ptr<MappedFile> file) {
    SafetensorsCheckpoint checkpoint;
    checkpoint.add_file(std::move(file));
    return checkpoint;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_file(const std::filesystem::path& file) {
    return parse_file(MappedFile::open(file));
}

std::map<std::string, std::string> parse_safetensors_index(std::string_view text,
                                                           const std::string& where) {
    json index;
    try {
        index = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(where + ": not valid JSON: " + e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
        throw Error(where + ": missing \"weight_map\" object");
    }
    std::map<std::string, std::string> weight_map;
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
        if (!shard.is_string()) throw Error(where + ": bad shard for " + tensor);
        const auto& name = shard.get_ref<const std::string&>();
        // Shards sit next to the index: anything else (a path, "..", "") could open any file.
        if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
            name.find('\0') != std::string::npos) {
            throw Error(where + ": shard name '" + name + "' of tensor '" + tensor +
                        "' is not a plain file name");
        }
        weight_map.emplace(tensor, name);
    }
    return weight_map;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_directory(const std::filesystem::path& dir) {
    const auto single = dir / "model.safetensors";
    const auto index_path = dir / "model.safetensors.index.json";
    if (std::filesystem::exists(single)) return open_file(single);
    if (!std::filesystem::exists(index_path)) {
        throw Error(dir.string() + ": no model.safetensors or model.safetensors.index.json");
    }
    std::ifstream in(index_path, std::ios::binary);
    if (!in) throw Error(index_path.string() + ": cannot open");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto weight_map = parse_safetensors_index(text, index_path.string());
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : weight_map) shards.insert(shard);
    SafetensorsCheckpoint checkpoint;
    for (const std::string& shard : shards) checkpoint.add_file(MappedFile::open(dir / shard));
    for (const auto& [tensor, shard] : weight_map) {
        if (!checkpoint.find(tensor)) {
            throw Error(index_path.string() + ": tensor '" + tensor + "' is not in shard " + shard);
        }
    }
    return checkpoint;
}

const SafetensorsTensor* SafetensorsCheckpoint::find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

const SafetensorsTensor& SafetensorsCheckpoint::get(const std::string& name) const {
    if (const SafetensorsTensor* tensor = find(name)) return *tensor;
    throw Error("checkpoint has no tensor '" + name + "'");
}

}  // namespace llama
