#include "llama/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "llama/error.h"
#include "tests/spm_test_model.h"

namespace {

using llama::StreamingDecoder;
using llama::Tokenizer;

// Texts that exercise spacing, digits, newlines and characters outside the training alphabet
// (which become byte-fallback pieces).
const std::vector<std::string> kTexts = {
    "And God said",
    " leading space",
    "  two leading spaces and  double  inner spaces ",
    "In the year 1611, 42 men came.",
    "line one\nline two\n\n  indented",
    "caf\xC3\xA9 na\xC3\xAFve \xC3\xBC",                                 // é ï ü
    "\xF0\x9F\x98\x80 emoji at the start",                               // 😀
    "mixed \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E and \xF0\x9F\x8E\x89!",  // 日本語 🎉
    "\xE2\x96\x81 a literal meta symbol",                                // ▁
    "x",
};

std::string stream_decode(const Tokenizer& tokenizer, const std::vector<int32_t>& tokens) {
    StreamingDecoder decoder(tokenizer);
    std::string text;
    for (int32_t t : tokens) text += decoder.push(t);
    return text + decoder.flush();
}

class TrainedTokenizer : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new llama::test::TempDir("tokenizer-test");
        model_path_ = llama::test::train_tokenizer(dir_->path(), 400, /*byte_fallback=*/true);
        tokenizer_ = new Tokenizer(Tokenizer::load(model_path_));
    }
    static void TearDownTestSuite() {
        delete tokenizer_;
        delete dir_;
    }
    static llama::test::TempDir* dir_;
    static std::filesystem::path model_path_;
    static Tokenizer* tokenizer_;
};

llama::test::TempDir* TrainedTokenizer::dir_ = nullptr;
std::filesystem::path TrainedTokenizer::model_path_;
Tokenizer* TrainedTokenizer::tokenizer_ = nullptr;

TEST_F(TrainedTokenizer, LoadsFromDirectoryOrFile) {
    const Tokenizer from_dir = Tokenizer::load(dir_->path());
    EXPECT_EQ(from_dir.vocab_size(), 400);
    EXPECT_EQ(from_dir.vocab_size(), tokenizer_->vocab_size());
    EXPECT_EQ(from_dir.encode("the lord said", true), tokenizer_->encode("the lord said", true));
}

TEST_F(TrainedTokenizer, SpecialTokens) {
    const Tokenizer& tok = *tokenizer_;
    EXPECT_EQ(tok.bos_id(), 1);
    EXPECT_EQ(tok.eos_id(), 2);
    EXPECT_TRUE(tok.is_control(tok.bos_id()));
    EXPECT_TRUE(tok.is_control(tok.eos_id()));
    EXPECT_EQ(tok.token_to_piece(tok.bos_id()), "");
    EXPECT_TRUE(tok.strips_leading_space());
}

TEST_F(TrainedTokenizer, EncodeAddsBosOnlyWhenAsked) {
    const auto with = tokenizer_->encode("the land", true);
    const auto without = tokenizer_->encode("the land", false);
    ASSERT_EQ(with.size(), without.size() + 1);
    EXPECT_EQ(with[0], tokenizer_->bos_id());
    EXPECT_TRUE(std::equal(without.begin(), without.end(), with.begin() + 1));
    EXPECT_TRUE(tokenizer_->encode("", false).empty());
    EXPECT_EQ(tokenizer_->encode("", true), std::vector<int32_t>{tokenizer_->bos_id()});
}

TEST_F(TrainedTokenizer, RoundTrip) {
    for (const auto& text : kTexts) {
        // sentencepiece itself decodes a literal '▁' in the input as a space.
        if (text.find("\xE2\x96\x81") != std::string::npos) continue;
        const auto tokens = tokenizer_->encode(text, true);
        EXPECT_EQ(tokenizer_->decode(tokens), text) << text;
    }
}

TEST_F(TrainedTokenizer, UnseenCharactersUseByteFallback) {
    const std::string emoji = "\xF0\x9F\x98\x80";
    const auto tokens = tokenizer_->encode(emoji, false);
    int n_bytes = 0;
    for (int32_t t : tokens) n_bytes += tokenizer_->is_byte(t) ? 1 : 0;
    EXPECT_EQ(n_bytes, 4);

    // The character appears only once all four bytes have arrived.
    StreamingDecoder decoder(*tokenizer_);
    std::string text;
    int bytes_seen = 0;
    for (int32_t t : tokens) {
        const std::string piece = decoder.push(t);
        if (!tokenizer_->is_byte(t)) {
            text += piece;
            continue;
        }
        ++bytes_seen;
        EXPECT_EQ(piece, bytes_seen < 4 ? "" : emoji) << "byte " << bytes_seen;
        text += piece;
    }
    EXPECT_EQ(decoder.flush(), "");
    EXPECT_EQ(text, emoji);
}

TEST_F(TrainedTokenizer, TokenToPieceTurnsMetaSymbolIntoSpace) {
    for (int32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
        const std::string& piece = tokenizer_->piece(id);
        if (tokenizer_->is_control(id) || tokenizer_->is_byte(id) || tokenizer_->is_unknown(id)) {
            continue;
        }
        std::string expected;
        for (size_t i = 0; i < piece.size();) {
            if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
                expected += ' ';
                i += 3;
            } else {
                expected += piece[i++];
            }
        }
        EXPECT_EQ(tokenizer_->token_to_piece(id), expected) << piece;
    }
}

TEST_F(TrainedTokenizer, StreamingEqualsFullDecode) {
    for (const auto& text : kTexts) {
        for (bool bos : {true, false}) {
            const auto tokens = tokenizer_->encode(text, bos);
            EXPECT_EQ(stream_decode(*tokenizer_, tokens), tokenizer_->decode(tokens)) << text;
        }
    }
}

// Random sequences include control tokens, <unk>, lone '▁' pieces and byte runs that are not
// valid UTF-8 (truncated, overlong, stray continuation bytes): sentencepiece turns malformed
// bytes into U+FFFD, and the streaming decoder must do the same.
void check_random_sequences(const Tokenizer& tok, uint32_t seed) {
    std::mt19937 rng(seed);
    const auto vocab = static_cast<uint32_t>(tok.vocab_size());
    std::vector<int32_t> bytes;
    int32_t lone_space = -1;
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
        if (tok.is_byte(id)) bytes.push_back(id);
        if (tok.piece(id) == "\xE2\x96\x81") lone_space = id;
    }
    ASSERT_EQ(bytes.size(), 256u);
    ASSERT_GE(lone_space, 0);
    for (int trial = 0; trial < 500; ++trial) {
        std::vector<int32_t> tokens(1 + rng() % 20);
        for (auto& t : tokens) {
            // Half byte pieces, so multi-byte runs are common, and lone '▁' pieces.
            const uint32_t kind = rng() % 6;
            if (kind < 3) {
                t = bytes[rng() % bytes.size()];
            } else if (kind == 3) {
                t = lone_space;
            } else {
                t = static_cast<int32_t>(rng() % vocab);
            }
        }
        EXPECT_EQ(stream_decode(tok, tokens), tok.decode(tokens)) << "trial " << trial;
    }
}

TEST_F(TrainedTokenizer, StreamingEqualsFullDecodeOnRandomTokens) {
    check_random_sequences(*tokenizer_, 7);
}

TEST(NfkcTokenizer, StreamingEqualsFullDecode) {
    // sentencepiece's default normalizer removes extra whitespace, and its decoder then drops
    // every leading '▁' until text appears, not just the first.
    llama::test::TempDir dir("tokenizer-nfkc");
    const Tokenizer tok = Tokenizer::load(
        llama::test::train_tokenizer(dir.path(), 400, /*byte_fallback=*/true, /*llama=*/false));
    EXPECT_TRUE(tok.strips_until_text());
    for (const auto& text : kTexts) {
        const auto tokens = tok.encode(text, true);
        EXPECT_EQ(stream_decode(tok, tokens), tok.decode(tokens)) << text;
    }
    std::mt19937 rng(11);
    const int32_t lone_space = [&] {
        for (int32_t id = 0; id < tok.vocab_size(); ++id) {
            if (tok.piece(id) == "\xE2\x96\x81") return id;
        }
        return -1;
    }();
    ASSERT_GE(lone_space, 0);
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<int32_t> tokens(1 + rng() % 12);
        for (auto& t : tokens) {
            t = rng() % 3 == 0 ? lone_space : static_cast<int32_t>(rng() % tok.vocab_size());
        }
        EXPECT_EQ(stream_decode(tok, tokens), tok.decode(tokens)) << "trial " << trial;
    }
}

TEST_F(TrainedTokenizer, LlamaStyleStripsOnlyTheFirstSpace) {
    EXPECT_FALSE(tokenizer_->strips_until_text());
    // A text starting with spaces keeps all but the dummy prefix.
    const auto tokens = tokenizer_->encode("   three", true);
    EXPECT_EQ(stream_decode(*tokenizer_, tokens), "   three");
}

TEST_F(TrainedTokenizer, StreamingAfterPromptKeepsSpaces) {
    // Priming the decoder with a prompt and then streaming the rest gives the rest of the full
    // decode: no leading space is dropped after the start.
    const auto prompt = tokenizer_->encode("The lord said", true);
    const auto rest = tokenizer_->encode(" unto him", false);
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), rest.begin(), rest.end());

    StreamingDecoder decoder(*tokenizer_);
    std::string prompt_text;
    for (int32_t t : prompt) prompt_text += decoder.push(t);
    std::string rest_text;
    for (int32_t t : rest) rest_text += decoder.push(t);
    rest_text += decoder.flush();
    EXPECT_EQ(prompt_text, tokenizer_->decode(prompt));
    EXPECT_EQ(prompt_text + rest_text, tokenizer_->decode(all));
}

TEST_F(TrainedTokenizer, ResetStartsOver) {
    const auto tokens = tokenizer_->encode("the king", false);
    StreamingDecoder decoder(*tokenizer_);
    std::string first;
    for (int32_t t : tokens) first += decoder.push(t);
    decoder.reset();
    std::string second;
    for (int32_t t : tokens) second += decoder.push(t);
    EXPECT_EQ(first, second);
    EXPECT_EQ(second, tokenizer_->decode(tokens));
}

TEST_F(TrainedTokenizer, SerializedProtoGivesTheSameTokenizer) {
    std::ifstream in(model_path_, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const Tokenizer copy = Tokenizer::from_serialized_proto(bytes.str());
    for (const auto& text : kTexts) {
        EXPECT_EQ(copy.encode(text, true), tokenizer_->encode(text, true)) << text;
    }
}

TEST_F(TrainedTokenizer, OutOfRangeIdsThrow) {
    EXPECT_THROW(tokenizer_->piece(-1), llama::Error);
    EXPECT_THROW(tokenizer_->piece(static_cast<int32_t>(tokenizer_->vocab_size())), llama::Error);
    const std::vector<int32_t> bad = {5, static_cast<int32_t>(tokenizer_->vocab_size())};
    EXPECT_THROW(tokenizer_->decode(bad), llama::Error);
    StreamingDecoder decoder(*tokenizer_);
    EXPECT_THROW(decoder.push(100000), llama::Error);
}

TEST(TokenizerErrors, MissingDirectoryOrFile) {
    llama::test::TempDir dir("tokenizer-missing");
    try {
        Tokenizer::load(dir.path());
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
    }
    try {
        Tokenizer::load(dir.path() / "nope.model");
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find("nope.model"), std::string::npos) << e.what();
    }
}

TEST(TokenizerErrors, CorruptModel) {
    llama::test::TempDir dir("tokenizer-corrupt");
    std::ofstream(dir.path() / "tokenizer.model") << "this is not a protobuf";
    try {
        Tokenizer::load(dir.path());
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
    }
    EXPECT_THROW(Tokenizer::from_serialized_proto("garbage"), llama::Error);
    EXPECT_THROW(Tokenizer::from_serialized_proto(""), llama::Error);
}

TEST(TokenizerErrors, GgufFileIsNamed) {
    llama::test::TempDir dir("tokenizer-gguf");
    const auto file = dir.path() / "model.gguf";
    std::ofstream(file, std::ios::binary) << "GGUF\x03\x00\x00\x00 rest of a header";
    try {
        Tokenizer::load(file);
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find("GGUF"), std::string::npos) << e.what();
    }
}

TEST(TokenizerErrors, TruncatedModel) {
    llama::test::TempDir dir("tokenizer-truncated");
    const auto good = llama::test::train_tokenizer(dir.path() / "good", 400, true);
    std::ifstream in(good, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string truncated = bytes.str().substr(0, bytes.str().size() / 2);
    std::ofstream(dir.path() / "tokenizer.model", std::ios::binary) << truncated;
    EXPECT_THROW(Tokenizer::load(dir.path()), llama::Error);
}

// The shipped model's tokenizer, when it is present.
TEST(ShippedTokenizer, RoundTripAndStreaming) {
    const std::filesystem::path path =
        std::filesystem::path(LLAMA_SOURCE_DIR) / "model" / "kjv-tiny" / "tokenizer.model";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present yet";
    const Tokenizer tok = Tokenizer::load(path);
    EXPECT_GT(tok.vocab_size(), 0);
    for (const auto& text : kTexts) {
        const auto tokens = tok.encode(text, true);
        EXPECT_EQ(tokens.front(), tok.bos_id());
        EXPECT_EQ(stream_decode(tok, tokens), tok.decode(tokens)) << text;
    }
    check_random_sequences(tok, 8);
    const std::string verse = "In the beginning God created the heaven and the earth.";
    EXPECT_EQ(tok.decode(tok.encode(verse, true)), verse);
}

}  // namespace
