#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "llama/tensor.h"
#include "model/mapped_file.h"

namespace llama {

struct SafetensorsTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::span<const std::byte> data;  // inside `file`
    std::shared_ptr<MappedFile> file;
};

// The tensors of a Hugging Face checkpoint: one model.safetensors, or the shards listed by
// model.safetensors.index.json. Every tensor's bytes are checked to lie inside its file at open.
class SafetensorsCheckpoint {
  public:
    static SafetensorsCheckpoint open_directory(const std::filesystem::path& dir);
    static SafetensorsCheckpoint open_file(const std::filesystem::path& file);

    // Throws llama::Error naming the tensor if it is absent.
    const SafetensorsTensor& get(const std::string& name) const;
    const SafetensorsTensor* find(const std::string& name) const;
    const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
    const std::vector<std::shared_ptr<MappedFile>>& files() const { return files_; }

  private:
    void add_file(const std::filesystem::path& file);

    std::vector<std::shared_ptr<MappedFile>> files_;
    std::map<std::string, SafetensorsTensor> tensors_;
};

}  // namespace llama
