// GGUF from untrusted bytes: the header, every metadata value, the tensor table, and then what
// the model loader makes of them (config, shapes, fused matrices).

#include <cstring>

#include "llama/model.h"
#include "model/gguf.h"
#include "model/gguf_loader.h"
#include "model/mapped_file.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

namespace {

// Visits every value (arrays recursively), reading each string's bytes, so a value built from
// the wrong bytes is read here, where the sanitizer sees it.
size_t visit(const GgufValue& value) {
    switch (value.type()) {
        case GgufType::String: {
            const std::string& s = std::get<std::string>(value.value);
            size_t sum = s.size();
            for (char c : s) sum += static_cast<unsigned char>(c);
            return sum;
        }
        case GgufType::Array: {
            const GgufArray& array = std::get<GgufArray>(value.value);
            size_t sum = array.values.size();
            for (const GgufValue& element : array.values) {
                check(element.type() == array.element_type, "array element of another type");
                sum += visit(element);
            }
            return sum;
        }
        default:
            return static_cast<size_t>(value.type());
    }
}

}  // namespace

void gguf_reader(Input input) {
    std::vector<std::byte> bytes(input.size());
    if (!input.empty()) std::memcpy(bytes.data(), input.data(), input.size());
    const GgufFile file = GgufFile::parse(MappedFile::from_bytes("fuzz.gguf", std::move(bytes)));

    volatile size_t sink = 0;
    for (const GgufKeyValue& kv : file.metadata()) {
        check(file.find(kv.key) == &kv.value, "metadata key not found by its own name");
        sink = sink + visit(kv.value);
    }
    const std::span<const std::byte> all = file.file()->bytes();
    for (const GgufTensorInfo& tensor : file.tensors()) {
        check(file.find_tensor(tensor.name) == &tensor, "tensor not found by its own name");
        check(tensor.data >= all.data() + file.data_offset() &&
                  tensor.n_bytes <= static_cast<uint64_t>(all.data() + all.size() - tensor.data),
              "tensor data outside the file");
        check(tensor.offset % file.alignment() == 0, "misaligned tensor accepted");
        // First and last byte: an out-of-range view shows up under ASan.
        if (tensor.n_bytes > 0) {
            sink = sink + static_cast<size_t>(tensor.data[0]) +
                   static_cast<size_t>(tensor.data[tensor.n_bytes - 1]);
        }
    }

    // What the loader does with a file that parsed: it throws llama::Error for anything that is
    // not a runnable LLaMA model.
    const LlamaModel model = load_gguf_model(file);
    check(model.layers.size() == static_cast<size_t>(model.config.n_layers), "layer count");
    check(model.final_norm.size() == static_cast<size_t>(model.config.hidden_size), "norm size");
    auto touch = [&](const Matrix& m) {
        const auto view = m.bytes();
        if (!view.empty())
            sink = sink + static_cast<size_t>(view.front()) + static_cast<size_t>(view.back());
    };
    touch(model.token_embedding);
    touch(model.lm_head);
    for (const DecoderLayer& layer : model.layers) {
        for (const Matrix& part : layer.attention.qkv_parts()) touch(part);
        touch(layer.attention.o_weight());
        touch(layer.mlp.gate_up_weight());
        touch(layer.mlp.down_weight());
    }
}

}  // namespace llama::fuzz
