#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
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
    // One safetensors file already mapped (or held in memory); errors name file->path().
    static SafetensorsCheckpoint parse_file(std::shared_ptr<MappedFile> file);

    // Throws llama::Error naming the tensor if it is absent.
    const SafetensorsTensor& get(const std::string& name) const;
    const SafetensorsTensor* find(const std::string& name) const;
    const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
    const std::vector<std::shared_ptr<MappedFile>>& files() const { return files_; }

  private:
    void add_file(std::shared_ptr<MappedFile> file);

    std::vector<std::shared_ptr<MappedFile>> files_;
    std::map<std::string, SafetensorsTensor> tensors_;
};

// The weight_map of a model.safetensors.index.json (tensor name -> shard file name), from its
// text; `where` names the file in errors. Throws llama::Error if the text is not JSON, has no
// weight_map object, or names a shard that is not a plain file name in the same directory.
std::map<std::string, std::string> parse_safetensors_index(std::string_view text,
                                                           const std::string& where);

}  // namespace llama
