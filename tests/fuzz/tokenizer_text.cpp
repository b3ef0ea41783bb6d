// Arbitrary bytes through the tokenizer: encoded as text, or read as token ids and decoded at
// once and one token at a time (StreamingDecoder must give the same text as decode).

#include <cstring>

#include "tests/fuzz/fixed_tokenizer.h"
#include "tests/fuzz/targets.h"

namespace llama::fuzz {

namespace {

void check_streaming_matches(const Tokenizer& tokenizer, std::span<const int32_t> ids) {
    const std::string whole = tokenizer.decode(ids);
    StreamingDecoder decoder(tokenizer);
    std::string streamed;
    for (int32_t id : ids) streamed += decoder.push(id);
    streamed += decoder.flush();
    check(streamed == whole, "StreamingDecoder text differs from Tokenizer::decode");
}

}  // namespace

// Input: one mode byte, then the payload. Even mode: the payload is text to encode (with or
// without BOS). Odd mode: the payload is little-endian int16 token ids (some out of range).
void tokenizer_text(Input input) {
    if (input.empty()) return;
    const Tokenizer& tokenizer = fixed_tokenizer();
    const uint8_t mode = input[0];
    const Input payload = input.subspan(1);
    if (mode % 2 == 0) {
        const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
        const std::vector<int32_t> ids = tokenizer.encode(text, (mode & 2) != 0);
        for (int32_t id : ids) {
            check(id >= 0 && id < tokenizer.vocab_size(), "encode: id out of range");
        }
        check_streaming_matches(tokenizer, ids);
        return;
    }
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < payload.size(); i += 2) {
        int16_t id = 0;
        std::memcpy(&id, payload.data() + i, 2);
        ids.push_back(id);
    }
    check_streaming_matches(tokenizer, ids);  // throws llama::Error for an id out of range
}

}  // namespace llama::fuzz
