#include "llama/tokenizer.h"

#include <sentencepiece_processor.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <system_error>

#include "llama/error.h"
#include "model/gguf.h"
#include "model/gguf_vocab.h"

namespace llama {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";      // U+2581 '▁'
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

std::string replace_space_symbols(std::string_view piece) {
    std::string text;
    text.reserve(piece.size());
    size_t pos = 0;
    while (pos < piece.size()) {
        if (piece.substr(pos, kSpaceSymbol.size()) == kSpaceSymbol) {
            text += ' ';
            pos += kSpaceSymbol.size();
        } else {
            text += piece[pos++];
        }
    }
    return text;
}

// Length of the UTF-8 sequence `lead` starts, or 0 if no valid sequence starts with it.
int utf8_sequence_length(uint8_t lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

// Whether `byte` may follow `lead` at position `index` (>= 1) of a sequence. The tighter ranges
// for the second byte exclude overlong forms, surrogates and code points above U+10FFFF, the
// same sequences sentencepiece's decoder rejects.
bool valid_continuation(uint8_t lead, size_t index, uint8_t byte) {
    uint8_t low = 0x80, high = 0xBF;
    if (index == 1) {
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    }
    return byte >= low && byte <= high;
}

bool has_gguf_magic(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    char magic[4] = {};
    return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

}  // namespace

struct Tokenizer::Impl {
    sentencepiece::SentencePieceProcessor processor;
    std::string unknown_surface;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
    auto& sp = impl_->processor;
    if (sp.GetPieceSize() <= 0) throw Error("tokenizer has an empty vocabulary");
    const int unk = sp.unk_id();
    if (unk >= 0) impl_->unknown_surface = sp.DecodeIds(std::vector<int>{unk});

    // sentencepiece drops the '▁' of the first piece only for some normalizer settings; find
    // out which by decoding one word-initial piece on its own.
    strips_leading_space_ = true;
    for (int id = 0; id < sp.GetPieceSize(); ++id) {
        const std::string& p = sp.IdToPiece(id);
        if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsByte(id) || sp.IsUnused(id)) continue;
        if (p.size() > kSpaceSymbol.size() && p.starts_with(kSpaceSymbol)) {
            strips_leading_space_ = !sp.DecodeIds(std::vector<int>{id}).starts_with(' ');
            break;
        }
    }
    // The settings differ only after a lone '▁' piece at the start: one setting drops it and
    // also the next piece's '▁', the other only the first. Decode such a pair to find out.
    const int lone_space = sp.PieceToId(kSpaceSymbol);
    if (strips_leading_space_ && lone_space >= 0 && !sp.IsUnknown(lone_space)) {
        for (int id = 0; id < sp.GetPieceSize(); ++id) {
            const std::string& p = sp.IdToPiece(id);
            if (id == lone_space || sp.IsControl(id) || sp.IsUnknown(id) || sp.IsByte(id) ||
                sp.IsUnused(id) || !p.starts_with(kSpaceSymbol) ||
                p.size() == kSpaceSymbol.size()) {
                continue;
            }
            strips_until_text_ = !sp.DecodeIds(std::vector<int>{lone_space, id}).starts_with(' ');
            break;
        }
    }
    spdlog::debug("tokenizer: {} pieces, bos {}, eos {}, unk {}", sp.GetPieceSize(), sp.bos_id(),
                  sp.eos_id(), unk);
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
    std::error_code ec;
    std::filesystem::path file = path;
    if (std::filesystem::is_directory(path, ec)) file = path / "tokenizer.model";
    if (!std::filesystem::exists(file, ec)) {
        if (file != path) {
            throw Error("tokenizer not found: " + path.string() + " has no tokenizer.model");
        }
        throw Error("tokenizer not found: " + file.string() + " does not exist");
    }
    if (!std::filesystem::is_regular_file(file, ec)) {
        throw Error("tokenizer " + file.string() + " is not a regular file");
    }
    if (has_gguf_magic(file)) {
        // GGUF keeps the vocabulary as metadata; rebuild the sentencepiece model from it.
        Tokenizer tokenizer =
            from_serialized_proto(sentencepiece_proto_from_gguf(GgufFile::open(file)));
        spdlog::info("loaded tokenizer from GGUF metadata of {}", file.string());
        return tokenizer;
    }
    auto impl = std::make_unique<Impl>();
    const auto status = impl->processor.Load(file.string());
    if (!status.ok()) {
        throw Error("cannot load tokenizer " + file.string() +
                    " (not a sentencepiece model?): " + status.ToString());
    }
    spdlog::info("loaded tokenizer {}", file.string());
    return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_serialized_proto(std::string_view serialized) {
    auto impl = std::make_unique<Impl>();
    const auto status = impl->processor.LoadFromSerializedProto(serialized);
    if (!status.ok()) {
        throw Error("cannot load tokenizer from serialized sentencepiece model: " +
                    status.ToString());
    }
    return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
    std::vector<int> ids;
    const auto status = impl_->processor.Encode(text, &ids);
    if (!status.ok()) throw Error("tokenizer failed to encode text: " + status.ToString());
    std::vector<int32_t> tokens;
    tokens.reserve(ids.size() + 1);
    if (add_bos) {
        if (bos_id() < 0) throw Error("tokenizer has no BOS token but one was requested");
        tokens.push_back(bos_id());
    }
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    return tokens;
}

std::string Tokenizer::decode(std::span<const int32_t> tokens) const {
    for (int32_t id : tokens) check_id(id);
    std::vector<int> ids(tokens.begin(), tokens.end());
    std::string text;
    const auto status = impl_->processor.Decode(ids, &text);
    if (!status.ok()) throw Error("tokenizer failed to decode tokens: " + status.ToString());
    return text;
}

int32_t Tokenizer::bos_id() const { return impl_->processor.bos_id(); }
int32_t Tokenizer::eos_id() const { return impl_->processor.eos_id(); }
int64_t Tokenizer::vocab_size() const { return impl_->processor.GetPieceSize(); }

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= vocab_size()) {
        throw Error("token id " + std::to_string(id) +
                    " is outside the tokenizer's vocabulary of " + std::to_string(vocab_size()));
    }
}

const std::string& Tokenizer::piece(int32_t id) const {
    check_id(id);
    return impl_->processor.IdToPiece(id);
}

bool Tokenizer::is_control(int32_t id) const {
    check_id(id);
    return impl_->processor.IsControl(id);
}

bool Tokenizer::is_byte(int32_t id) const {
    check_id(id);
    return impl_->processor.IsByte(id);
}

bool Tokenizer::is_unknown(int32_t id) const {
    check_id(id);
    return impl_->processor.IsUnknown(id);
}

uint8_t Tokenizer::byte_value(int32_t id) const {
    const std::string& p = piece(id);  // "<0xNN>"
    // Checked digit by digit: a model rebuilt from GGUF metadata may mark any piece as a byte.
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (!is_byte(id) || p.size() != 6 || !p.starts_with("<0x") || p[5] != '>' || hex(p[3]) < 0 ||
        hex(p[4]) < 0) {
        throw Error("token " + std::to_string(id) + " '" + p + "' is not a byte piece <0xNN>");
    }
    return static_cast<uint8_t>(hex(p[3]) * 16 + hex(p[4]));
}

const std::string& Tokenizer::unknown_surface() const { return impl_->unknown_surface; }

std::string Tokenizer::token_to_piece(int32_t id) const {
    if (is_control(id)) return "";
    if (is_byte(id)) return std::string(1, static_cast<char>(byte_value(id)));
    if (is_unknown(id)) return unknown_surface();
    return replace_space_symbols(piece(id));
}

std::string StreamingDecoder::push(int32_t token) {
    std::string out;
    if (tokenizer_.is_byte(token)) {
        pending_bytes_ += static_cast<char>(tokenizer_.byte_value(token));
        at_start_ = false;  // bytes always decode to something, so no later '▁' is dropped
        drain_bytes(false, out);
        return out;
    }
    drain_bytes(true, out);
    if (tokenizer_.is_control(token)) return out;
    if (tokenizer_.is_unknown(token)) {
        out += tokenizer_.unknown_surface();
        at_start_ = false;
        return out;
    }
    std::string_view p = tokenizer_.piece(token);
    // As in sentencepiece: the first piece loses its leading '▁'. A lone "▁" piece at the start
    // vanishes; whether the next piece then counts as first depends on the model (see
    // Tokenizer::strips_until_text).
    bool dropped_space = false;
    if (at_start_ && tokenizer_.strips_leading_space() && p.starts_with(kSpaceSymbol)) {
        p.remove_prefix(kSpaceSymbol.size());
        dropped_space = true;
    }
    std::string text = replace_space_symbols(p);
    if (!text.empty() || (dropped_space && !tokenizer_.strips_until_text())) at_start_ = false;
    out += text;
    return out;
}

std::string StreamingDecoder::flush() {
    std::string out;
    drain_bytes(true, out);
    return out;
}

void StreamingDecoder::reset() {
    at_start_ = true;
    pending_bytes_.clear();
}

// Moves complete characters from pending_bytes_ to `out`. A byte that cannot start or continue a
// valid sequence becomes U+FFFD on its own; with `final`, so does an unfinished sequence's lead.
void StreamingDecoder::drain_bytes(bool final, std::string& out) {
    size_t pos = 0;
    const auto& bytes = pending_bytes_;
    while (pos < bytes.size()) {
        const auto lead = static_cast<uint8_t>(bytes[pos]);
        const int length = utf8_sequence_length(lead);
        bool malformed = length == 0;
        size_t have = 1;
        while (!malformed && have < static_cast<size_t>(length) && pos + have < bytes.size()) {
            if (!valid_continuation(lead, have, static_cast<uint8_t>(bytes[pos + have]))) {
                malformed = true;
            }
            ++have;
        }
        if (!malformed && have < static_cast<size_t>(length)) {
            if (!final) break;  // wait for the rest of the character
            malformed = true;
        }
        if (malformed) {
            out += kReplacementChar;
            pos += 1;
        } else {
            out.append(bytes, pos, length);
            pos += length;
        }
    }
    pending_bytes_.erase(0, pos);
}

}  // namespace llama
