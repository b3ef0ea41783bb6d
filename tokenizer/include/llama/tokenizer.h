#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llama {

// A sentencepiece tokenizer (LLaMA's tokenizer.model). Movable, not copyable; the sentencepiece
// processor stays behind a pointer so this header does not depend on sentencepiece.
class Tokenizer {
  public:
    // `path` is a Hugging Face model directory holding tokenizer.model, or a .model file.
    // Throws llama::Error naming the file if it is missing or not a sentencepiece model.
    static Tokenizer load(const std::filesystem::path& path);
    // A serialized sentencepiece ModelProto (e.g. rebuilt from a GGUF file's vocabulary).
    static Tokenizer from_serialized_proto(std::string_view serialized);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    std::vector<int32_t> encode(std::string_view text, bool add_bos) const;
    // The whole sequence decoded at once, exactly as sentencepiece decodes it.
    std::string decode(std::span<const int32_t> tokens) const;

    int32_t bos_id() const;  // -1 if the model has none
    int32_t eos_id() const;  // -1 if the model has none
    int64_t vocab_size() const;

    // The vocabulary entry itself, e.g. "▁the" or "<0x0A>".
    const std::string& piece(int32_t id) const;
    // The text the token stands for on its own: '▁' as ' ', a byte piece as that raw byte (which
    // may be part of a multi-byte character), "" for control tokens. Use StreamingDecoder to turn
    // a token sequence into text.
    std::string token_to_piece(int32_t id) const;

    bool is_control(int32_t id) const;
    bool is_byte(int32_t id) const;
    bool is_unknown(int32_t id) const;
    // The byte a <0xNN> piece stands for; only valid when is_byte(id).
    uint8_t byte_value(int32_t id) const;
    // What an unknown token decodes to (sentencepiece's unk_surface, " ⁇ " by default).
    const std::string& unknown_surface() const;
    // Whether decoding drops the '▁' of the first piece (sentencepiece does for models trained
    // with add_dummy_prefix or remove_extra_whitespaces, i.e. LLaMA's).
    bool strips_leading_space() const { return strips_leading_space_; }
    // Whether that goes on past a lone '▁' piece until some text appears (models trained with
    // remove_extra_whitespaces) instead of stopping after the first '▁' (LLaMA's).
    bool strips_until_text() const { return strips_until_text_; }

  private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    void check_id(int32_t id) const;

    std::unique_ptr<Impl> impl_;
    bool strips_leading_space_ = true;
    bool strips_until_text_ = false;
};

// Turns tokens fed one at a time into text, giving the same text as Tokenizer::decode on the
// whole sequence: the first piece loses its leading space, and byte-fallback pieces are held
// until they form a complete UTF-8 character (malformed bytes become U+FFFD, as sentencepiece
// does). Holds a reference to the tokenizer, which must outlive it.
class StreamingDecoder {
  public:
    explicit StreamingDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

    // Text that is complete once `token` is appended (often the token's own text, sometimes
    // empty while bytes of a character are still missing).
    std::string push(int32_t token);
    // Whatever is still held back (an unfinished byte sequence, as U+FFFD per byte).
    std::string flush();
    void reset();

  private:
    void drain_bytes(bool final, std::string& out);

    const Tokenizer& tokenizer_;
    bool at_start_ = true;  // nothing decoded yet, so a leading '▁' is dropped
    std::string pending_bytes_;
};

}  // namespace llama
