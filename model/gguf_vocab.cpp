// GGUF tokenizer metadata <-> sentencepiece ModelProto, through a minimal protobuf wire-format
// encoder/decoder for the few fields involved (field numbers from sentencepiece_model.proto):
//   ModelProto     { 1: repeated SentencePiece pieces, 2: TrainerSpec, 3: NormalizerSpec }
//   SentencePiece  { 1: string piece, 2: float score, 3: Type type }
//   TrainerSpec    { 3: model_type (1 UNIGRAM, 2 BPE), 4: vocab_size, 35: byte_fallback,
//                    40-43: unk/bos/eos/pad id, 45-48: unk/bos/eos/pad piece }
//   NormalizerSpec { 1: name, 3: add_dummy_prefix, 4: remove_extra_whitespaces,
//                    5: escape_whitespaces }

#include "model/gguf_vocab.h"

#include <cstring>
#include <optional>
#include <unordered_set>
#include <vector>

#include "llama/error.h"

namespace llama {

namespace {

// ---- protobuf wire format ----------------------------------------------------------------------

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class ProtoWriter {
  public:
    void varint(uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void key(uint32_t field, WireType type) { varint((uint64_t{field} << 3) | type); }
    // int32 and enums: negative values are sign-extended to 64 bits (ten bytes), as protobuf does.
    void int32_field(uint32_t field, int32_t v) {
        key(field, kVarint);
        varint(static_cast<uint64_t>(static_cast<int64_t>(v)));
    }
    void bool_field(uint32_t field, bool v) {
        key(field, kVarint);
        varint(v ? 1 : 0);
    }
    void float_field(uint32_t field, float v) {
        key(field, kFixed32);
        char bytes[4];
        std::memcpy(bytes, &v, 4);
        out_.append(bytes, 4);
    }
    void bytes_field(uint32_t field, std::string_view v) {
        key(field, kLengthDelimited);
        varint(v.size());
        out_.append(v);
    }
    const std::string& str() const { return out_; }

  private:
    std::string out_;
};

struct ProtoField {
    uint32_t number;
    WireType type;
    uint64_t value;          // varint / fixed
    std::string_view bytes;  // length-delimited
};

class ProtoReader {
  public:
    explicit ProtoReader(std::string_view data) : data_(data) {}

    bool next(ProtoField& field) {
        if (pos_ >= data_.size()) return false;
        const uint64_t key = varint();
        field.number = static_cast<uint32_t>(key >> 3);
        field.type = static_cast<WireType>(key & 7);
        switch (field.type) {
            case kVarint:
                field.value = varint();
                break;
            case kFixed64:
                field.value = fixed(8);
                break;
            case kFixed32:
                field.value = fixed(4);
                break;
            case kLengthDelimited: {
                const uint64_t length = varint();
                if (length > data_.size() - pos_) fail();
                field.bytes = data_.substr(pos_, length);
                pos_ += length;
                break;
            }
            default:
                fail();  // groups (3, 4) never appear in sentencepiece models
        }
        return true;
    }

  private:
    [[noreturn]] static void fail() {
        throw Error("not a sentencepiece model (malformed protobuf data)");
    }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= data_.size()) fail();
            const auto byte = static_cast<uint8_t>(data_[pos_++]);
            v |= uint64_t{byte & 0x7fu} << shift;
            if (byte < 0x80) return v;
        }
        fail();
    }
    uint64_t fixed(size_t size) {
        if (size > data_.size() - pos_) fail();
        uint64_t v = 0;
        std::memcpy(&v, data_.data() + pos_, size);
        pos_ += size;
        return v;
    }

    std::string_view data_;
    size_t pos_ = 0;
};

float as_float(uint64_t bits) {
    const auto b = static_cast<uint32_t>(bits);
    float v;
    std::memcpy(&v, &b, 4);
    return v;
}

// ---- GGUF -> ModelProto ----------------------------------------------------------------------

struct Piece {
    std::string text;
    float score = 0.0f;
    int32_t type = static_cast<int32_t>(GgufTokenType::Normal);
};

bool is_byte_piece(std::string_view piece) {
    // <0xNN> with two upper-case hex digits, as sentencepiece names byte pieces.
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
    return piece.size() == 6 && piece.substr(0, 3) == "<0x" && hex(piece[3]) && hex(piece[4]) &&
           piece[5] == '>';
}

}  // namespace

std::string sentencepiece_proto_from_gguf(const GgufFile& file) {
    const std::string where = file.path().string() + ": ";
    const GgufValue* model = file.find("tokenizer.ggml.model");
    if (model == nullptr) throw Error(where + "no tokenizer (tokenizer.ggml.model is missing)");
    const std::string& model_name = file.get_string("tokenizer.ggml.model");
    if (model_name != "llama") {
        throw Error(where + "tokenizer model '" + model_name +
                    "' is not supported (only 'llama', sentencepiece)");
    }

    const GgufArray& tokens = file.get_array("tokenizer.ggml.tokens");
    const size_t n = tokens.values.size();
    if (n == 0) throw Error(where + "tokenizer.ggml.tokens is empty");
    std::vector<Piece> pieces(n);
    for (size_t i = 0; i < n; ++i) {
        pieces[i].text = tokens.values[i].as_string("tokenizer.ggml.tokens");
    }
    if (file.find("tokenizer.ggml.scores") != nullptr) {
        const GgufArray& scores = file.get_array("tokenizer.ggml.scores");
        if (scores.values.size() != n) {
            throw Error(where + "tokenizer.ggml.scores has " +
                        std::to_string(scores.values.size()) + " entries for " + std::to_string(n) +
                        " tokens");
        }
        for (size_t i = 0; i < n; ++i) {
            pieces[i].score =
                static_cast<float>(scores.values[i].as_double("tokenizer.ggml.scores"));
        }
    }

    const int64_t unk_id = file.get_int_or("tokenizer.ggml.unknown_token_id", 0);
    const int64_t bos_id = file.get_int_or("tokenizer.ggml.bos_token_id", 1);
    const int64_t eos_id = file.get_int_or("tokenizer.ggml.eos_token_id", 2);
    const int64_t pad_id = file.get_int_or("tokenizer.ggml.padding_token_id", -1);
    auto check_id = [&](int64_t id, const char* key, bool optional) {
        if ((optional && id == -1) || (id >= 0 && static_cast<size_t>(id) < n)) return;
        throw Error(where + key + " = " + std::to_string(id) + " is not a token id (" +
                    std::to_string(n) + " tokens)");
    };
    check_id(unk_id, "tokenizer.ggml.unknown_token_id", false);
    check_id(bos_id, "tokenizer.ggml.bos_token_id", true);
    check_id(eos_id, "tokenizer.ggml.eos_token_id", true);
    check_id(pad_id, "tokenizer.ggml.padding_token_id", true);

    if (file.find("tokenizer.ggml.token_type") != nullptr) {
        const GgufArray& types = file.get_array("tokenizer.ggml.token_type");
        if (types.values.size() != n) {
            throw Error(where + "tokenizer.ggml.token_type has " +
                        std::to_string(types.values.size()) + " entries for " + std::to_string(n) +
                        " tokens");
        }
        for (size_t i = 0; i < n; ++i) {
            const int64_t type = types.values[i].as_int("tokenizer.ggml.token_type");
            if (type < 1 || type > 6) {
                throw Error(where + "token " + std::to_string(i) + " has unknown token type " +
                            std::to_string(type));
            }
            pieces[i].type = static_cast<int32_t>(type);
            // The decoders turn byte pieces into their byte by name: only <0xNN> can be one.
            if (type == static_cast<int64_t>(GgufTokenType::Byte) &&
                !is_byte_piece(pieces[i].text)) {
                throw Error(where + "token " + std::to_string(i) + " '" + pieces[i].text +
                            "' has the byte type but is not a byte piece <0xNN>");
            }
        }
    } else {
        // Without types, infer what sentencepiece needs: the special ids are control/unknown
        // pieces and <0xNN> pieces are bytes.
        for (size_t i = 0; i < n; ++i) {
            if (is_byte_piece(pieces[i].text))
                pieces[i].type = static_cast<int32_t>(GgufTokenType::Byte);
        }
        for (int64_t id : {bos_id, eos_id, pad_id}) {
            if (id >= 0) pieces[id].type = static_cast<int32_t>(GgufTokenType::Control);
        }
        pieces[unk_id].type = static_cast<int32_t>(GgufTokenType::Unknown);
    }

    // sentencepiece rejects empty and repeated pieces; name the offending token instead.
    std::unordered_set<std::string_view> seen;
    bool has_bytes = false;
    int unknown_count = 0;
    for (size_t i = 0; i < n; ++i) {
        if (pieces[i].text.empty()) {
            throw Error(where + "token " + std::to_string(i) + " is an empty string");
        }
        if (!seen.insert(pieces[i].text).second) {
            throw Error(where + "token " + std::to_string(i) + " '" + pieces[i].text +
                        "' appears twice in tokenizer.ggml.tokens");
        }
        has_bytes = has_bytes || pieces[i].type == static_cast<int32_t>(GgufTokenType::Byte);
        unknown_count += pieces[i].type == static_cast<int32_t>(GgufTokenType::Unknown);
    }
    if (unknown_count != 1) {
        throw Error(where + "the vocabulary has " + std::to_string(unknown_count) +
                    " unknown-type tokens (sentencepiece needs exactly one)");
    }
    const bool add_space_prefix = file.get_bool_or("tokenizer.ggml.add_space_prefix", true);

    ProtoWriter proto;
    for (const Piece& piece : pieces) {
        ProtoWriter p;
        p.bytes_field(1, piece.text);
        p.float_field(2, piece.score);
        p.int32_field(3, piece.type);
        proto.bytes_field(1, p.str());
    }
    ProtoWriter trainer;
    trainer.int32_field(3, 2);  // BPE: llama.cpp merges by score, as sentencepiece's BPE does
    trainer.int32_field(4, static_cast<int32_t>(n));
    trainer.bool_field(35, has_bytes);
    trainer.int32_field(40, static_cast<int32_t>(unk_id));
    trainer.int32_field(41, static_cast<int32_t>(bos_id));
    trainer.int32_field(42, static_cast<int32_t>(eos_id));
    trainer.int32_field(43, static_cast<int32_t>(pad_id));
    // sentencepiece finds the special tokens by these piece names, not by the ids above.
    trainer.bytes_field(45, pieces[unk_id].text);
    if (bos_id >= 0) trainer.bytes_field(46, pieces[bos_id].text);
    if (eos_id >= 0) trainer.bytes_field(47, pieces[eos_id].text);
    if (pad_id >= 0) trainer.bytes_field(48, pieces[pad_id].text);
    proto.bytes_field(2, trainer.str());
    ProtoWriter normalizer;
    normalizer.bytes_field(1, "identity");
    normalizer.bool_field(3, add_space_prefix);
    normalizer.bool_field(4, false);
    normalizer.bool_field(5, true);
    proto.bytes_field(3, normalizer.str());
    return proto.str();
}

bool gguf_adds_bos(const GgufFile& file) {
    return file.get_bool_or("tokenizer.ggml.add_bos_token", true);
}

bool gguf_adds_eos(const GgufFile& file) {
    return file.get_bool_or("tokenizer.ggml.add_eos_token", false);
}

// ---- ModelProto -> GGUF --------------------------------------------------------------------

int64_t sentencepiece_piece_count(std::string_view serialized_model_proto) {
    int64_t count = 0;
    ProtoReader model(serialized_model_proto);
    ProtoField field;
    while (model.next(field)) count += field.number == 1 && field.type == kLengthDelimited;
    if (count == 0) throw Error("not a sentencepiece model (no pieces)");
    return count;
}

void add_gguf_tokenizer_metadata(GgufWriter& writer, std::string_view serialized_model_proto,
                                 int64_t vocab_size) {
    std::vector<Piece> pieces;
    bool add_dummy_prefix = true;
    int32_t model_type = 1;  // UNIGRAM is the proto default
    // Special pieces are found by name, as sentencepiece itself does (defaults from the proto).
    std::string unk_piece = "<unk>", bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
    ProtoReader model(serialized_model_proto);
    ProtoField field;
    while (model.next(field)) {
        if (field.type != kLengthDelimited) continue;
        ProtoReader reader(field.bytes);
        ProtoField f;
        if (field.number == 1) {
            Piece piece;
            while (reader.next(f)) {
                if (f.number == 1 && f.type == kLengthDelimited) piece.text = std::string(f.bytes);
                if (f.number == 2 && f.type == kFixed32) piece.score = as_float(f.value);
                if (f.number == 3 && f.type == kVarint) piece.type = static_cast<int32_t>(f.value);
            }
            pieces.push_back(std::move(piece));
        } else if (field.number == 2) {
            while (reader.next(f)) {
                if (f.number == 3 && f.type == kVarint) model_type = static_cast<int32_t>(f.value);
                if (f.type != kLengthDelimited) continue;
                if (f.number == 45) unk_piece = std::string(f.bytes);
                if (f.number == 46) bos_piece = std::string(f.bytes);
                if (f.number == 47) eos_piece = std::string(f.bytes);
                if (f.number == 48) pad_piece = std::string(f.bytes);
            }
        } else if (field.number == 3) {
            while (reader.next(f)) {
                if (f.number == 3 && f.type == kVarint) add_dummy_prefix = f.value != 0;
            }
        }
    }
    if (pieces.empty()) throw Error("not a sentencepiece model (no pieces)");
    if (static_cast<int64_t>(pieces.size()) > vocab_size) {
        throw Error("the tokenizer has " + std::to_string(pieces.size()) +
                    " pieces but the model's vocabulary only " + std::to_string(vocab_size));
    }
    if (model_type != 2) {
        // llama.cpp tokenizes every "llama" vocabulary with score-ordered merges (BPE).
        throw Error("the sentencepiece model is not BPE (model_type " + std::to_string(model_type) +
                    "); GGUF 'llama' tokenizers are BPE");
    }

    std::vector<std::string> texts;
    std::vector<float> scores;
    std::vector<int32_t> types;
    std::optional<int32_t> unk, bos, eos, pad;
    for (const Piece& piece : pieces) {
        const auto id = static_cast<int32_t>(texts.size());
        if (piece.type == static_cast<int32_t>(GgufTokenType::Unknown) && piece.text == unk_piece) {
            unk = id;
        }
        if (piece.type == static_cast<int32_t>(GgufTokenType::Control)) {
            if (piece.text == bos_piece) bos = id;
            if (piece.text == eos_piece) eos = id;
            if (piece.text == pad_piece) pad = id;
        }
        texts.push_back(piece.text);
        scores.push_back(piece.score);
        types.push_back(piece.type);
    }
    for (int64_t id = static_cast<int64_t>(texts.size()); id < vocab_size; ++id) {
        texts.push_back("[PAD" + std::to_string(id) + "]");
        scores.push_back(-1000.0f);
        types.push_back(static_cast<int32_t>(GgufTokenType::Unused));
    }

    writer.set("tokenizer.ggml.model", "llama");
    writer.set("tokenizer.ggml.tokens", gguf_string_array(std::move(texts)));
    writer.set("tokenizer.ggml.scores", gguf_float_array(scores));
    writer.set("tokenizer.ggml.token_type", gguf_int32_array(types));
    if (bos) writer.set("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*bos));
    if (eos) writer.set("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*eos));
    if (unk) writer.set("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(*unk));
    if (pad) writer.set("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(*pad));
    writer.set("tokenizer.ggml.add_bos_token", true);
    writer.set("tokenizer.ggml.add_eos_token", false);
    writer.set("tokenizer.ggml.add_space_prefix", add_dummy_prefix);
}

}  // namespace llama
