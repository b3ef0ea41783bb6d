// The GGUF tokenizer round trip: a sentencepiece BPE model trained here (byte fallback on, LLaMA's
// normalization settings) is exported to tokenizer.ggml.* metadata the way llama.cpp's converter
// does it, written to a GGUF file, rebuilt into a sentencepiece model from that file alone, and
// must tokenize (and decode) exactly like the original.

#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "llama/error.h"
#include "model/gguf.h"
#include "model/gguf_vocab.h"
#include "tests/gguf_test_util.h"

namespace llama {
namespace {

using test::expect_error;
using test::TempDir;

// Lines of words, numbers and some accented and CJK text (so multi-byte characters get real
// pieces); emoji are left out so they can only be encoded by byte fallback.
std::string corpus() {
    static const char* const kWords[] = {
        "the",  "of",   "and", "to",    "in",     "that",   "shall", "unto", "lord",
        "king", "land", "day", "house", "people", "heaven", "earth", "café", "naïve",
        "über", "日本", "語",  "東京",  "señor",  "façade", "Ωmega", "λ",    "привет"};
    std::mt19937 rng(99);
    std::string text;
    for (int line = 0; line < 3000; ++line) {
        const int n = 2 + static_cast<int>(rng() % 9);
        for (int w = 0; w < n; ++w) {
            if (w > 0) text += ' ';
            text += kWords[rng() % std::size(kWords)];
            if (rng() % 7 == 0) {
                text += ' ';  // appended apart: GCC 12 warns falsely on " " + std::string
                text += std::to_string(rng() % 5000);
            }
        }
        text += ".\n";
    }
    return text;
}

// Trains a LLaMA-style tokenizer (BPE, identity normalizer, dummy prefix, whitespace kept,
// digits split, byte fallback) and returns its serialized ModelProto.
std::string train_model(const TempDir& dir, int vocab_size) {
    const auto corpus_path = dir / "corpus.txt";
    std::ofstream(corpus_path) << corpus();
    std::string serialized;
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + corpus_path.string() + " --vocab_size=" + std::to_string(vocab_size) +
            " --model_type=bpe --character_coverage=1.0 --byte_fallback=true"
            " --normalization_rule_name=identity --remove_extra_whitespaces=false"
            " --split_digits=true --num_threads=1 --minloglevel=2",
        nullptr, &serialized);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return serialized;
}

// tokenizer.ggml.* exactly as llama.cpp's convert_hf_to_gguf.py builds them from a
// SentencePieceProcessor (_create_vocab_sentencepiece).
void add_like_llama_cpp(GgufWriter& writer, const sentencepiece::SentencePieceProcessor& sp) {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    for (int id = 0; id < sp.GetPieceSize(); ++id) {
        tokens.push_back(sp.IdToPiece(id));
        scores.push_back(sp.GetScore(id));
        int32_t type = 1;  // NORMAL
        if (sp.IsUnknown(id)) {
            type = 2;
        } else if (sp.IsControl(id)) {
            type = 3;
        } else if (sp.IsUnused(id)) {
            type = 5;
        } else if (sp.IsByte(id)) {
            type = 6;
        }
        types.push_back(type);
    }
    writer.set("tokenizer.ggml.model", "llama");
    writer.set("tokenizer.ggml.tokens", gguf_string_array(tokens));
    writer.set("tokenizer.ggml.scores", gguf_float_array(scores));
    writer.set("tokenizer.ggml.token_type", gguf_int32_array(types));
    writer.set("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(sp.bos_id()));
    writer.set("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(sp.eos_id()));
    writer.set("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(sp.unk_id()));
    writer.set("tokenizer.ggml.add_bos_token", true);
    writer.set("tokenizer.ggml.add_eos_token", false);
}

std::vector<std::string> test_strings() {
    std::vector<std::string> strings = {
        "Hello world",
        "the lord shall",
        " leading space",
        "  two leading spaces",
        "trailing space ",
        "inner   runs  of    spaces",
        "digits 0123456789 and 3.14159 and 2024-01-01",
        "12345678901234567890",
        "café naïve über señor façade",
        "日本語 東京 привет λ Ωmega",
        "emoji 😀🎉👍🏽 and 🇯🇵",
        "unseen ascii: ~`|{}[]\\^",
        "rare unicode: ∑∫√ ǅ ﬁ Ⅻ",
        "\ttab\nnewline\r\nwindows",
        "",
        " ",
        "a",
        "😀",
        "<s> </s> <unk> look like specials",
        "mixed 123 café 😀 日本 text.",
    };
    // Random mixes of the above pieces.
    std::mt19937 rng(5);
    const std::vector<std::string> parts = {"the ", "café", " ",  "😀", "42", "日本", "\n",
                                            "LORD", "ü",    "  ", "x", "🎉",  "—",    "é"};
    for (int i = 0; i < 200; ++i) {
        std::string s;
        const int n = static_cast<int>(rng() % 12);
        for (int j = 0; j < n; ++j) s += parts[rng() % parts.size()];
        strings.push_back(s);
    }
    return strings;
}

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_proto(const std::string& serialized) {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = sp->LoadFromSerializedProto(serialized);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return sp;
}

// Writes a GGUF with only metadata from `add`, reads it back and rebuilds the tokenizer.
std::string rebuild(const TempDir& dir, const std::function<void(GgufWriter&)>& add) {
    GgufWriter writer;
    writer.set("general.architecture", "llama");
    add(writer);
    writer.write(dir / "vocab.gguf");
    const GgufFile file = GgufFile::open(dir / "vocab.gguf");
    return sentencepiece_proto_from_gguf(file);
}

void expect_same_tokenizer(const sentencepiece::SentencePieceProcessor& original,
                           const sentencepiece::SentencePieceProcessor& rebuilt) {
    ASSERT_EQ(rebuilt.GetPieceSize(), original.GetPieceSize());
    EXPECT_EQ(rebuilt.bos_id(), original.bos_id());
    EXPECT_EQ(rebuilt.eos_id(), original.eos_id());
    EXPECT_EQ(rebuilt.unk_id(), original.unk_id());
    int byte_fallback_seen = 0;
    for (const std::string& text : test_strings()) {
        const std::vector<int> want = original.EncodeAsIds(text);
        const std::vector<int> got = rebuilt.EncodeAsIds(text);
        EXPECT_EQ(got, want) << "text: \"" << text << "\"";
        EXPECT_EQ(rebuilt.DecodeIds(got), original.DecodeIds(want)) << text;
        for (int id : want) byte_fallback_seen += original.IsByte(id);
    }
    EXPECT_GT(byte_fallback_seen, 0) << "the strings should exercise byte fallback";
}

TEST(GgufTokenizer, RebuildsTheSentencepieceModelFromLlamaCppMetadata) {
    TempDir dir;
    const std::string serialized = train_model(dir, 450);
    const auto original = load_proto(serialized);
    const std::string rebuilt_proto =
        rebuild(dir, [&](GgufWriter& w) { add_like_llama_cpp(w, *original); });
    expect_same_tokenizer(*original, *load_proto(rebuilt_proto));
}

TEST(GgufTokenizer, WriterExportsTokenizerModelsLikeLlamaCpp) {
    TempDir dir;
    const std::string serialized = train_model(dir, 450);
    const auto original = load_proto(serialized);

    // Our exporter writes the same metadata as llama.cpp's converter...
    GgufWriter ours, theirs;
    add_gguf_tokenizer_metadata(ours, serialized, original->GetPieceSize());
    add_like_llama_cpp(theirs, *original);
    for (const char* key :
         {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
          "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token",
          "tokenizer.ggml.add_eos_token"}) {
        ASSERT_NE(ours.find(key), nullptr) << key;
        EXPECT_EQ(*ours.find(key), *theirs.find(key)) << key;
    }
    EXPECT_EQ(*ours.find("tokenizer.ggml.add_space_prefix"), GgufValue(true));

    // ...and its output, padded to a larger model vocabulary, still tokenizes the same.
    const int64_t padded = original->GetPieceSize() + 5;
    const std::string rebuilt_proto =
        rebuild(dir, [&](GgufWriter& w) { add_gguf_tokenizer_metadata(w, serialized, padded); });
    const auto rebuilt = load_proto(rebuilt_proto);
    EXPECT_EQ(rebuilt->GetPieceSize(), padded);
    EXPECT_EQ(rebuilt->IdToPiece(static_cast<int>(padded - 1)),
              "[PAD" + std::to_string(padded - 1) + "]");
    EXPECT_TRUE(rebuilt->IsUnused(static_cast<int>(padded - 1)));
    for (const std::string& text : test_strings()) {
        EXPECT_EQ(rebuilt->EncodeAsIds(text), original->EncodeAsIds(text)) << text;
    }

    expect_error([&] { add_gguf_tokenizer_metadata(ours, serialized, 10); }, "only 10");
    expect_error([&] { add_gguf_tokenizer_metadata(ours, "\xff\xff", 10); },
                 "not a sentencepiece model");
}

TEST(GgufTokenizer, InfersTypesWhenTheFileHasNone) {
    TempDir dir;
    const std::string serialized = train_model(dir, 450);
    const auto original = load_proto(serialized);
    const std::string rebuilt_proto = rebuild(dir, [&](GgufWriter& w) {
        add_like_llama_cpp(w, *original);
        w.remove("tokenizer.ggml.token_type");
    });
    expect_same_tokenizer(*original, *load_proto(rebuilt_proto));
}

TEST(GgufTokenizer, AddBosAndEosFlags) {
    TempDir dir;
    GgufWriter writer;
    writer.set("tokenizer.ggml.add_eos_token", true);
    writer.write(dir / "flags.gguf");
    const GgufFile file = GgufFile::open(dir / "flags.gguf");
    EXPECT_TRUE(gguf_adds_bos(file));  // llama.cpp's default for sentencepiece vocabularies
    EXPECT_TRUE(gguf_adds_eos(file));
}

TEST(GgufTokenizer, RejectsBadMetadata) {
    TempDir dir;
    const std::string serialized = train_model(dir, 400);
    const auto original = load_proto(serialized);
    auto rebuild_with = [&](const std::function<void(GgufWriter&)>& edit) {
        rebuild(dir, [&](GgufWriter& w) {
            add_like_llama_cpp(w, *original);
            edit(w);
        });
    };
    expect_error(
        [&] { rebuild_with([](GgufWriter& w) { w.set("tokenizer.ggml.model", "gpt2"); }); },
        "tokenizer model 'gpt2' is not supported");
    expect_error([&] { rebuild_with([](GgufWriter& w) { w.remove("tokenizer.ggml.model"); }); },
                 "tokenizer.ggml.model is missing");
    expect_error([&] { rebuild_with([](GgufWriter& w) { w.remove("tokenizer.ggml.tokens"); }); },
                 "'tokenizer.ggml.tokens' is missing");
    expect_error(
        [&] {
            rebuild_with([](GgufWriter& w) {
                w.set("tokenizer.ggml.scores", gguf_float_array(std::vector<float>{1.0f}));
            });
        },
        "tokenizer.ggml.scores has 1 entries for 400 tokens");
    expect_error(
        [&] {
            rebuild_with([&](GgufWriter& w) {
                std::vector<int32_t> types(400, 1);
                types[7] = 9;
                w.set("tokenizer.ggml.token_type", gguf_int32_array(types));
            });
        },
        "token 7 has unknown token type 9");
    expect_error(
        [&] {
            rebuild_with([&](GgufWriter& w) {
                std::vector<std::string> tokens;
                for (int i = 0; i < 400; ++i) tokens.push_back(original->IdToPiece(i));
                tokens[300] = tokens[299];
                w.set("tokenizer.ggml.tokens", gguf_string_array(tokens));
            });
        },
        "token 300 '" + original->IdToPiece(299) + "' appears twice");
    expect_error(
        [&] { rebuild_with([](GgufWriter& w) { w.set("tokenizer.ggml.bos_token_id", 4000u); }); },
        "tokenizer.ggml.bos_token_id = 4000 is not a token id");
}

}  // namespace
}  // namespace llama
