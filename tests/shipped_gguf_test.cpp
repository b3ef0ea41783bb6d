// The shipped Hugging Face model converted to GGUF must behave like the original: the tokenizer
// rebuilt from GGUF metadata encodes exactly as tokenizer.model does, and the logits of the
// converted F16 file (interleaved RoPE layout) match the independent reference.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"
#include "llama/tokenizer.h"
#include "model/gguf_convert.h"
#include "tests/gguf_test_util.h"

namespace llama {
namespace {

namespace fs = std::filesystem;

const fs::path kShipped = fs::path(LLAMA_SOURCE_DIR) / "model" / "kjv-tiny";

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class ShippedGguf : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir();
        GgufConvertOptions options;
        options.type = DType::F16;
        convert_to_gguf(kShipped, gguf(), options);
    }
    static void TearDownTestSuite() { delete dir_; }
    static fs::path gguf() { return dir_->path() / "kjv-tiny-f16.gguf"; }

    static test::TempDir* dir_;
};
test::TempDir* ShippedGguf::dir_ = nullptr;

TEST_F(ShippedGguf, TokenizerFromMetadataEncodesLikeTokenizerModel) {
    const Tokenizer from_model = Tokenizer::load(kShipped);
    const Tokenizer from_gguf = Tokenizer::load(gguf());
    EXPECT_EQ(from_gguf.vocab_size(), from_model.vocab_size());
    EXPECT_EQ(from_gguf.bos_id(), from_model.bos_id());
    EXPECT_EQ(from_gguf.eos_id(), from_model.eos_id());
    std::istringstream heldout(read_file(kShipped / "heldout.txt"));
    std::vector<std::string> texts = {"",
                                      " ",
                                      "  leading spaces",
                                      "digits 1234567890",
                                      "unicode: café, naïve, 東京, emoji 🙂",
                                      "tab\tand\nnewline"};
    for (std::string line; std::getline(heldout, line);) texts.push_back(line);
    for (const std::string& text : texts) {
        for (bool add_bos : {true, false}) {
            const auto ids = from_model.encode(text, add_bos);
            ASSERT_EQ(from_gguf.encode(text, add_bos), ids) << text.substr(0, 80);
            EXPECT_EQ(from_gguf.decode(ids), from_model.decode(ids));
        }
    }
}

TEST_F(ShippedGguf, LoadingReportsProgressAndCanBeCancelled) {
    // Both loaders: fractions that never decrease, from 0 to 1, with steps between.
    for (const fs::path& path : {gguf(), kShipped}) {
        std::vector<float> reported;
        load_model(path, [&](float fraction) {
            reported.push_back(fraction);
            return true;
        });
        ASSERT_GE(reported.size(), 3u) << path;
        EXPECT_EQ(reported.front(), 0.0f) << path;
        EXPECT_EQ(reported.back(), 1.0f) << path;
        EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end())) << path;
        EXPECT_GT(reported[reported.size() - 2], 0.0f) << path;  // a step inside the load

        int calls = 0;
        try {
            load_model(path, [&](float) { return ++calls < 2; });
            ADD_FAILURE() << "a cancelled load returned a model";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << e.what();
        }
        EXPECT_EQ(calls, 2);
    }
}

TEST_F(ShippedGguf, LogitsMatchTheReference) {
    const auto reference = nlohmann::json::parse(
        read_file(fs::path(LLAMA_SOURCE_DIR) / "tests/data/kjv-tiny.ref.json"));
    const auto tokens = reference.at("tokens").get<std::vector<int32_t>>();
    const LlamaModel model = load_model(gguf());
    EXPECT_EQ(model.config.rope_layout, RopeLayout::Interleaved);
    ContextParams params;
    params.n_threads = 2;
    params.prompt_precision = PromptPrecision::F32;
    params.cache_type = CacheType::F32;
    InferenceContext context(model, params);
    const auto logits =
        context.forward(tokens, static_cast<int64_t>(tokens.size()), LogitsMode::All);
    const int64_t vocab = model.config.vocab_size;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const auto expected = reference.at("logits").at(i).get<std::vector<double>>();
        ASSERT_EQ(static_cast<int64_t>(expected.size()), vocab);
        double scale = 0, error = 0;
        for (int64_t j = 0; j < vocab; ++j) {
            scale = std::max(scale, std::abs(expected[j]));
            error = std::max(error, std::abs(expected[j] - logits[i * vocab + j]));
        }
        EXPECT_LE(error / scale, 1e-4) << "position " << i;
    }
}

}  // namespace
}  // namespace llama
