// One .safetensors file: the 8-byte header length, the JSON header, the tensors' byte ranges.

#include <cstring>

#include "model/mapped_file.h"
#include "model/safetensors.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

void safetensors_header(Input input) {
    std::vector<std::byte> bytes(input.size());
    if (!input.empty()) std::memcpy(bytes.data(), input.data(), input.size());
    const auto file = MappedFile::from_bytes("fuzz.safetensors", std::move(bytes));
    const auto checkpoint = SafetensorsCheckpoint::parse_file(file);
    const std::span<const std::byte> all = file->bytes();
    volatile size_t sink = 0;
    for (const auto& [name, tensor] : checkpoint.tensors()) {
        check(checkpoint.find(name) == &tensor, "tensor not found by its own name");
        uint64_t expected = static_cast<uint64_t>(dtype_traits(tensor.dtype).block_bytes);
        for (int64_t dim : tensor.shape) {
            check(dim >= 0, "negative dimension accepted");
            expected *= static_cast<uint64_t>(dim);  // cannot wrap: checked by the parser
        }
        check(tensor.data.size() == expected, "tensor bytes differ from what its shape needs");
        check(tensor.data.empty() ||
                  (tensor.data.data() >= all.data() &&
                   tensor.data.data() + tensor.data.size() <= all.data() + all.size()),
              "tensor data outside the file");
        if (!tensor.data.empty()) {
            sink = sink + static_cast<size_t>(tensor.data.front()) +
                   static_cast<size_t>(tensor.data.back());
        }
    }
}

}  // namespace llama::fuzz
