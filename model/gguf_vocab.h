#pragma once

// The tokenizer of a GGUF file as a sentencepiece model, and back.
//
// llama.cpp stores LLaMA's sentencepiece vocabulary as tokenizer.ggml.* metadata (model "llama",
// tokens, scores, token_type, special ids). sentencepiece_proto_from_gguf rebuilds a serialized
// sentencepiece ModelProto from it (BPE, byte fallback when the vocabulary has <0xNN> pieces,
// identity normalizer with a dummy prefix and no whitespace collapsing: LLaMA's settings and
// what llama.cpp's tokenizer does), so one sentencepiece tokenizer serves GGUF and Hugging Face
// checkpoints. add_gguf_tokenizer_metadata goes the other way for llama-quantize.

#include <cstdint>
#include <string>
#include <string_view>

#include "model/gguf.h"

namespace llama {

// Throws llama::Error (naming the file and key) if the metadata is missing, malformed, or for a
// tokenizer model other than "llama" (e.g. "gpt2" byte-level BPE).
std::string sentencepiece_proto_from_gguf(const GgufFile& file);

// tokenizer.ggml.add_bos_token / add_eos_token, with llama.cpp's defaults for "llama" (true,
// false).
bool gguf_adds_bos(const GgufFile& file);
bool gguf_adds_eos(const GgufFile& file);

// Writes tokenizer.ggml.* for a serialized sentencepiece ModelProto (the bytes of a
// tokenizer.model), as llama.cpp's converter does. If the model's vocabulary is larger than the
// tokenizer's, the extra ids get "[PAD<id>]" pieces of type unused. Throws llama::Error if the
// bytes are not a sentencepiece model or hold more pieces than vocab_size.
void add_gguf_tokenizer_metadata(GgufWriter& writer, std::string_view serialized_model_proto,
                                 int64_t vocab_size);

// The number of pieces of a serialized sentencepiece ModelProto. Throws llama::Error if the bytes
// are not a sentencepiece model.
int64_t sentencepiece_piece_count(std::string_view serialized_model_proto);

// The GGUF token types (equal to sentencepiece's piece types).
enum class GgufTokenType : int32_t {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

}  // namespace llama
