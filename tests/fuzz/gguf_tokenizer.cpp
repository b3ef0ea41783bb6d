// A GGUF file's tokenizer.ggml.* metadata rebuilt into a sentencepiece model, loaded, and used.

#include <cstring>

#include "llama/tokenizer.h"
#include "model/gguf.h"
#include "model/gguf_vocab.h"
#include "model/mapped_file.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

void gguf_tokenizer(Input input) {
    std::vector<std::byte> bytes(input.size());
    if (!input.empty()) std::memcpy(bytes.data(), input.data(), input.size());
    const GgufFile file = GgufFile::parse(MappedFile::from_bytes("fuzz.gguf", std::move(bytes)));
    const std::string proto = sentencepiece_proto_from_gguf(file);
    check(sentencepiece_piece_count(proto) ==
              static_cast<int64_t>(file.get_array("tokenizer.ggml.tokens").values.size()),
          "rebuilt model has another piece count than tokenizer.ggml.tokens");
    gguf_adds_bos(file);
    gguf_adds_eos(file);

    const Tokenizer tokenizer = Tokenizer::from_serialized_proto(proto);
    const std::vector<int32_t> ids = tokenizer.encode("Hello, world! 12 \xC3\xA9t\xC3\xA9\n", true);
    for (int32_t id : ids) check(id >= 0 && id < tokenizer.vocab_size(), "encode: id out of range");
    tokenizer.decode(ids);
    // Every piece through the streaming decoder, as generation would produce them.
    StreamingDecoder decoder(tokenizer);
    for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
        decoder.push(id);
        tokenizer.token_to_piece(id);
    }
    decoder.flush();
}

}  // namespace llama::fuzz
