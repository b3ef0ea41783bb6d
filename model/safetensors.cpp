#include "model/safetensors.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

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

}  // namespace

void SafetensorsCheckpoint::add_file(const std::filesystem::path& file) {
    auto mapped = MappedFile::open(file);
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
        try {
            SafetensorsTensor tensor{name,
                                     parse_dtype(info.at("dtype").get<std::string>(), name),
                                     info.at("shape").get<std::vector<int64_t>>(),
                                     {}};
            const auto offsets = info.at("data_offsets").get<std::vector<uint64_t>>();
            if (offsets.size() != 2 || offsets[0] > offsets[1]) {
                throw Error(where(file) + "tensor '" + name + "' has malformed data_offsets");
            }
            if (offsets[1] > data.size()) {
                throw Error(where(file) + "tensor '" + name + "' data ends at byte " +
                            std::to_string(offsets[1]) + " past the end of the data section (" +
                            std::to_string(data.size()) + " bytes); the file is truncated");
            }
            int64_t elements = 1;
            for (int64_t dim : tensor.shape) {
                if (dim < 0) throw Error(where(file) + "tensor '" + name + "' has a negative dim");
                elements *= dim;
            }
            const uint64_t expected = elements * dtype_traits(tensor.dtype).block_bytes;
            if (offsets[1] - offsets[0] != expected) {
                throw Error(where(file) + "tensor '" + name + "' holds " +
                            std::to_string(offsets[1] - offsets[0]) +
                            " bytes but its shape needs " + std::to_string(expected));
            }
            tensor.data = data.subspan(offsets[0], offsets[1] - offsets[0]);
            tensor.file = mapped;
            tensors_.emplace(name, std::move(tensor));
        } catch (const json::exception& e) {
            throw Error(where(file) + "bad header entry for tensor '" + name + "': " + e.what());
        }
    }
    files_.push_back(std::move(mapped));
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_file(const std::filesystem::path& file) {
    SafetensorsCheckpoint checkpoint;
    checkpoint.add_file(file);
    return checkpoint;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_directory(const std::filesystem::path& dir) {
    const auto single = dir / "model.safetensors";
    const auto index_path = dir / "model.safetensors.index.json";
    if (std::filesystem::exists(single)) return open_file(single);
    if (!std::filesystem::exists(index_path)) {
        throw Error(dir.string() + ": no model.safetensors or model.safetensors.index.json");
    }
    std::ifstream in(index_path);
    json index;
    try {
        index = json::parse(in);
    } catch (const json::exception& e) {
        throw Error(index_path.string() + ": not valid JSON: " + e.what());
    }
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
        throw Error(index_path.string() + ": missing \"weight_map\" object");
    }
    std::map<std::string, bool> shards;
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
        if (!shard.is_string()) throw Error(index_path.string() + ": bad shard for " + tensor);
        shards[shard.get<std::string>()] = true;
    }
    SafetensorsCheckpoint checkpoint;
    for (const auto& [shard, unused] : shards) {
        if (shard.find('/') != std::string::npos) {
            throw Error(index_path.string() + ": shard name '" + shard + "' is not a plain file");
        }
        checkpoint.add_file(dir / shard);
    }
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
        if (!checkpoint.find(tensor)) {
            throw Error(index_path.string() + ": tensor '" + tensor + "' is not in shard " +
                        shard.get<std::string>());
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
