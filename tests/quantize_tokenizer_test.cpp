// `llama-quantize --config NAME --tokenizer PATH` stores a sentencepiece tokenizer.model in the
// synthetic model's GGUF file (llama.cpp refuses files without one): the tokenizer rebuilt from the
// file must encode and decode like the original, a vocabulary smaller than the tokenizer grows to
// fit it and a larger one is padded, and bad paths fail with an error before any model is built.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "llama/model.h"
#include "llama/random_model.h"
#include "llama/tokenizer.h"
#include "model/gguf.h"
#include "model/gguf_convert.h"
#include "tests/gguf_test_util.h"

namespace llama {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const fs::path kShipped = fs::path(LLAMA_SOURCE_DIR) / "model" / "kjv-tiny";
const fs::path kTokenizer = kShipped / "tokenizer.model";
const fs::path kQuantize = fs::path(LLAMA_BINARY_DIR) / "tools" / "llama-quantize";

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

struct ToolResult {
    int status;  // exit code, -1 if it did not exit normally
    std::string out, err;
};

ToolResult quantize(const std::string& args, const TempDir& dir) {
    const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
    const std::string command =
        kQuantize.string() + " " + args + " > " + out.string() + " 2> " + err.string();
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out), read_text(err)};
}

void expect_encodes_like(const Tokenizer& ours, const Tokenizer& original) {
    EXPECT_EQ(ours.bos_id(), original.bos_id());
    EXPECT_EQ(ours.eos_id(), original.eos_id());
    std::vector<std::string> texts = {"",
                                      " ",
                                      "  leading spaces",
                                      "digits 1234567890",
                                      "unicode: café, naïve, 東京, emoji 🙂",
                                      "tab\tand\nnewline"};
    std::istringstream heldout(read_text(kShipped / "heldout.txt"));
    for (std::string line; std::getline(heldout, line);) texts.push_back(line);
    ASSERT_GT(texts.size(), 10u);
    for (const std::string& text : texts) {
        for (bool add_bos : {true, false}) {
            const auto ids = original.encode(text, add_bos);
            ASSERT_EQ(ours.encode(text, add_bos), ids) << text.substr(0, 80);
            EXPECT_EQ(ours.decode(ids), original.decode(ids));
        }
    }
}

class QuantizeTokenizer : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(kTokenizer)) GTEST_SKIP() << kTokenizer << " not present";
    }
};

// The tiny preset has 1024 ids and the shipped tokenizer 2000 pieces: the vocabulary grows.
TEST_F(QuantizeTokenizer, ToolStoresTheTokenizerAndGrowsTheVocabulary) {
    if (!fs::exists(kQuantize)) GTEST_SKIP() << kQuantize << " is not built";
    TempDir dir;
    const fs::path out = dir / "tiny.gguf";
    const ToolResult r = quantize(
        "--config tiny --tokenizer " + kTokenizer.string() + " " + out.string() + " F16", dir);
    ASSERT_EQ(r.status, 0) << r.err;
    const Tokenizer original = Tokenizer::load(kTokenizer);
    const Tokenizer ours = Tokenizer::load(out);
    EXPECT_EQ(ours.vocab_size(), original.vocab_size());
    expect_encodes_like(ours, original);

    const GgufFile file = GgufFile::open(out);
    EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "llama");
    const LlamaModel model = load_model(out);
    EXPECT_EQ(model.config.vocab_size, original.vocab_size());
    EXPECT_EQ(model.config.hidden_size, preset_config("tiny")->hidden_size);
}

// A vocabulary larger than the tokenizer keeps its size; the extra ids are padding pieces that
// no text encodes to.
TEST_F(QuantizeTokenizer, LargerVocabularyIsPadded) {
    TempDir dir;
    RandomModelParams params;
    params.config = *preset_config("tiny");
    params.config.vocab_size = 2048;
    params.dtype = DType::F32;
    const LlamaModel model = make_random_model(params);
    GgufConvertOptions options;
    options.type = DType::F32;
    options.tokenizer = kTokenizer;
    write_model_gguf(model, dir / "padded.gguf", options, "padded");
    const Tokenizer ours = Tokenizer::load(dir / "padded.gguf");
    EXPECT_EQ(ours.vocab_size(), 2048);
    EXPECT_EQ(ours.piece(2047), "[PAD2047]");
    expect_encodes_like(ours, Tokenizer::load(kTokenizer));
    EXPECT_EQ(tokenizer_model_pieces(kTokenizer), 2000);
}

TEST_F(QuantizeTokenizer, BadTokenizerPathsAreErrors) {
    if (!fs::exists(kQuantize)) GTEST_SKIP() << kQuantize << " is not built";
    TempDir dir;
    const std::string out = (dir / "out.gguf").string();
    const std::string missing = (dir / "no-such.model").string();
    const std::vector<std::pair<std::string, std::string>> cases = {
        // The 7B preset would take minutes to build: the path is checked first.
        {"--config llama-7b --tokenizer " + missing + " " + out + " F16",
         missing + ": no such file"},
        {"--config tiny --tokenizer " + dir.path().string() + " " + out + " F16",
         "not a regular file"},
        {"--config tiny --tokenizer " + (kShipped / "config.json").string() + " " + out + " F16",
         "not a sentencepiece model"},
        {"--tokenizer " + kTokenizer.string() + " " + kShipped.string() + " " + out + " F16",
         "--tokenizer is for --config input"},
    };
    for (const auto& [args, message] : cases) {
        const ToolResult r = quantize(args, dir);
        EXPECT_EQ(r.status, 1) << args;
        EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(out)) << args;
    }
    const ToolResult help = quantize("--help", dir);
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("--tokenizer PATH"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace llama
