// The LLaMA-2-chat prompt format (expected tokens built the way Meta's chat_completion builds
// them: one encode per turn, BOS and EOS as ids) and conversations that keep the KV cache from
// turn to turn (against a fresh context run one token at a time).

#include "llama/chat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/error.h"
#include "llama/generator.h"
#include "llama/model.h"
#include "llama/tokenizer.h"
#include "tests/spm_test_model.h"

namespace {

namespace fs = std::filesystem;
using llama::ChatTurn;

const fs::path kTinyModel = fs::path(LLAMA_SOURCE_DIR) / "tests" / "data" / "tiny-gqa-f32";

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

// ---- prompt construction ---------------------------------------------------------------------

// A byte-fallback tokenizer, so "[INST]" and "<<SYS>>" encode to real pieces, not unknowns.
class ChatFormat : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new llama::test::TempDir("chat-format-test");
        llama::test::train_tokenizer(dir_->path(), 400, /*byte_fallback=*/true);
        tokenizer_ = new llama::Tokenizer(llama::Tokenizer::load(dir_->path()));
    }
    static void TearDownTestSuite() {
        delete tokenizer_;
        delete dir_;
    }

    static std::vector<int32_t> bos() { return {tokenizer_->bos_id()}; }
    static std::vector<int32_t> eos() { return {tokenizer_->eos_id()}; }
    static std::vector<int32_t> encode(const std::string& text) {
        return tokenizer_->encode(text, /*add_bos=*/false);
    }

    static llama::test::TempDir* dir_;
    static llama::Tokenizer* tokenizer_;
};

llama::test::TempDir* ChatFormat::dir_ = nullptr;
llama::Tokenizer* ChatFormat::tokenizer_ = nullptr;

TEST_F(ChatFormat, TokenizerHasTheSpecialTokens) {
    ASSERT_GE(tokenizer_->bos_id(), 0);
    ASSERT_GE(tokenizer_->eos_id(), 0);
    ASSERT_NE(tokenizer_->bos_id(), tokenizer_->eos_id());
}

TEST_F(ChatFormat, OneMessageWithoutSystemPrompt) {
    const std::vector<ChatTurn> turns = {{"the king said unto him", std::nullopt}};
    const auto tokens = llama::llama2_chat_tokens(*tokenizer_, std::nullopt, turns);
    EXPECT_EQ(tokens, concat({bos(), encode("[INST] the king said unto him [/INST]")}));
    // The text between the special tokens reads as the format says.
    EXPECT_EQ(tokenizer_->decode(std::span(tokens).subspan(1)),
              "[INST] the king said unto him [/INST]");
}

TEST_F(ChatFormat, SystemPromptGoesIntoTheFirstMessage) {
    const std::vector<ChatTurn> turns = {{"who made the earth?", std::nullopt}};
    const auto tokens =
        llama::llama2_chat_tokens(*tokenizer_, std::string("Answer briefly."), turns);
    EXPECT_EQ(tokens,
              concat({bos(), encode("[INST] <<SYS>>\nAnswer briefly.\n<</SYS>>\n\nwho made the "
                                    "earth? [/INST]")}));
}

TEST_F(ChatFormat, MultiTurnClosesEachAnswerWithEosAndOpensTheNextWithBos) {
    const std::vector<ChatTurn> turns = {
        {"who made the earth?", std::string("The lord made it.")},
        {"and the heaven?", std::string("He made that too.")},
        {"why?", std::nullopt},
    };
    const auto tokens = llama::llama2_chat_tokens(*tokenizer_, std::string("Be kind."), turns);
    const auto expected = concat({
        bos(),
        encode("[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nwho made the earth? [/INST] The lord made "
               "it. "),
        eos(),
        bos(),
        encode("[INST] and the heaven? [/INST] He made that too. "),
        eos(),
        bos(),
        encode("[INST] why? [/INST]"),
    });
    EXPECT_EQ(tokens, expected);
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), tokenizer_->bos_id()), 3);
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), tokenizer_->eos_id()), 2);
}

TEST_F(ChatFormat, MultiTurnWithoutSystemPrompt) {
    const std::vector<ChatTurn> turns = {{"hello", std::string("peace be unto you")},
                                         {"and you", std::nullopt}};
    EXPECT_EQ(llama::llama2_chat_tokens(*tokenizer_, std::nullopt, turns),
              concat({bos(), encode("[INST] hello [/INST] peace be unto you "), eos(), bos(),
                      encode("[INST] and you [/INST]")}));
}

TEST_F(ChatFormat, AFinishedDialogEndsWithEos) {
    const std::vector<ChatTurn> turns = {{"hello", std::string("peace")}};
    EXPECT_EQ(llama::llama2_chat_tokens(*tokenizer_, std::nullopt, turns),
              concat({bos(), encode("[INST] hello [/INST] peace "), eos()}));
}

TEST_F(ChatFormat, MessagesAndAnswersAreStripped) {
    const std::vector<ChatTurn> padded = {{"  \thello there \n", std::string("\n peace  ")},
                                          {"\n and you\r\n", std::nullopt}};
    const std::vector<ChatTurn> plain = {{"hello there", std::string("peace")},
                                         {"and you", std::nullopt}};
    EXPECT_EQ(llama::llama2_chat_tokens(*tokenizer_, std::string("sys"), padded),
              llama::llama2_chat_tokens(*tokenizer_, std::string("sys"), plain));
}

TEST_F(ChatFormat, SpecialTokenTextStaysText) {
    // "<s>" typed by the user is text, not the BOS id.
    const std::vector<ChatTurn> turns = {{"<s> and </s>", std::nullopt}};
    const auto tokens = llama::llama2_chat_tokens(*tokenizer_, std::nullopt, turns);
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), tokenizer_->bos_id()), 1);
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), tokenizer_->eos_id()), 0);
    EXPECT_EQ(tokens, concat({bos(), encode("[INST] <s> and </s> [/INST]")}));
}

TEST_F(ChatFormat, UserTokensAreTheOneMessageDialog) {
    for (const std::optional<std::string>& system :
         {std::optional<std::string>(), std::optional<std::string>("Be brief.")}) {
        const std::vector<ChatTurn> turns = {{" the land ", std::nullopt}};
        EXPECT_EQ(llama::llama2_chat_user_tokens(*tokenizer_, system, " the land "),
                  llama::llama2_chat_tokens(*tokenizer_, system, turns));
    }
}

TEST_F(ChatFormat, BadDialogsAreErrors) {
    EXPECT_THROW(llama::llama2_chat_tokens(*tokenizer_, std::nullopt, {}), llama::Error);
    const std::vector<ChatTurn> unanswered_first = {{"a", std::nullopt}, {"b", std::nullopt}};
    try {
        llama::llama2_chat_tokens(*tokenizer_, std::nullopt, unanswered_first);
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find("turn 1 of 2"), std::string::npos) << e.what();
    }
}

TEST(StripWhitespace, RemovesOnlyTheEnds) {
    EXPECT_EQ(llama::strip_whitespace(" \t\r\n a b \n\v\f"), "a b");
    EXPECT_EQ(llama::strip_whitespace("   "), "");
    EXPECT_EQ(llama::strip_whitespace(""), "");
    EXPECT_EQ(llama::strip_whitespace("x"), "x");
}

// ---- conversations on a model ----------------------------------------------------------------

// The tiny random model with a tokenizer trained here (100 pieces, inside the model's 256).
class ChatSessionTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new llama::test::TempDir("chat-session-test");
        for (const char* file : {"config.json", "model.safetensors"}) {
            fs::copy_file(kTinyModel / file, dir_->path() / file);
        }
        llama::test::train_tokenizer(dir_->path(), 100, /*byte_fallback=*/false);
        model_ = new llama::LlamaModel(llama::load_model(dir_->path()));
        tokenizer_ = new llama::Tokenizer(llama::Tokenizer::load(dir_->path()));
    }
    static void TearDownTestSuite() {
        delete tokenizer_;
        delete model_;
        delete dir_;
    }

    static llama::InferenceContext make_context(int64_t n_ctx) {
        llama::ContextParams params;
        params.n_ctx = n_ctx;
        params.n_threads = 2;
        params.prompt_precision = llama::PromptPrecision::F32;  // compared to one-token decode
        return llama::InferenceContext(*model_, params);
    }

    static llama::GenerationParams greedy(int64_t n_predict) {
        llama::GenerationParams params;
        params.n_predict = n_predict;
        params.sampler.temperature = 0.0f;
        params.sampler.repeat_penalty = 1.0f;
        params.ignore_eos = true;
        return params;
    }

    // The greedy continuation (EOS excluded) of `tokens` for n steps, on a fresh context fed one
    // token at a time.
    static std::vector<int32_t> reference_greedy(const std::vector<int32_t>& tokens, int n) {
        auto context = make_context(64);
        std::span<const float> logits;
        for (int32_t t : tokens) logits = context.forward(std::span(&t, 1), 1);
        std::vector<int32_t> out;
        for (int i = 0; i < n; ++i) {
            int32_t best = -1;
            for (int32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
                if (id == tokenizer_->eos_id()) continue;
                if (best < 0 || logits[id] > logits[best]) best = id;
            }
            out.push_back(best);
            if (i + 1 < n) logits = context.forward(std::span(&best, 1), 1);
        }
        return out;
    }

    static llama::test::TempDir* dir_;
    static llama::LlamaModel* model_;
    static llama::Tokenizer* tokenizer_;
};

llama::test::TempDir* ChatSessionTest::dir_ = nullptr;
llama::LlamaModel* ChatSessionTest::model_ = nullptr;
llama::Tokenizer* ChatSessionTest::tokenizer_ = nullptr;

TEST_F(ChatSessionTest, TwoTurnsMatchAFreshRunOverTheWholeConversation) {
    auto context = make_context(64);
    const std::optional<std::string> system = "god";
    llama::ChatSession session(context, *tokenizer_, system, greedy(3));

    std::string first_text;
    const auto first = session.reply("the king said", [&](std::string_view piece) {
        first_text += piece;
        return true;
    });
    EXPECT_EQ(first.stop_reason, llama::StopReason::TokenLimit);
    ASSERT_EQ(first.output_tokens.size(), 3u);
    const auto first_prompt = llama::llama2_chat_user_tokens(*tokenizer_, system, "the king said");
    EXPECT_EQ(first.prompt_tokens, static_cast<int64_t>(first_prompt.size()));
    EXPECT_EQ(first.output_tokens, reference_greedy(first_prompt, 3));
    EXPECT_EQ(first_text, tokenizer_->decode(first.output_tokens));
    // The token limit stopped it before the last token went through the model.
    EXPECT_EQ(context.n_past(), static_cast<int64_t>(first_prompt.size()) + 2);

    const auto second = session.reply("him", {});
    EXPECT_EQ(second.stop_reason, llama::StopReason::TokenLimit);
    const auto second_prompt = llama::llama2_chat_user_tokens(*tokenizer_, std::nullopt, "him");
    // New tokens: the answer's last token, EOS, the next message (no system prompt again).
    EXPECT_EQ(second.prompt_tokens, static_cast<int64_t>(second_prompt.size()) + 2);
    const auto conversation =
        concat({first_prompt, first.output_tokens, {tokenizer_->eos_id()}, second_prompt});
    EXPECT_EQ(second.output_tokens, reference_greedy(conversation, 3));
    EXPECT_EQ(session.tokens(), concat({conversation, second.output_tokens}));
    EXPECT_EQ(session.n_turns(), 2);
}

TEST_F(ChatSessionTest, AMessageThatDoesNotFitIsAnErrorAndChangesNothing) {
    auto context = make_context(40);
    llama::ChatSession session(context, *tokenizer_, std::nullopt, greedy(4));
    session.reply("the king", {});
    const auto tokens_before = session.tokens();
    const int64_t past_before = context.n_past();
    const std::string long_message(200, 'a');
    try {
        session.reply(long_message, {});
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("context"), std::string::npos) << message;
        EXPECT_NE(message.find("40"), std::string::npos) << message;
    }
    EXPECT_EQ(session.tokens(), tokens_before);
    EXPECT_EQ(context.n_past(), past_before);
    EXPECT_EQ(session.n_turns(), 1);
}

TEST_F(ChatSessionTest, AnAnswerThatFillsTheContextSaysSo) {
    auto context = make_context(32);
    llama::ChatSession session(context, *tokenizer_, std::nullopt, greedy(-1));
    const auto stats = session.reply("the king", {});
    EXPECT_EQ(stats.stop_reason, llama::StopReason::ContextFull);
    EXPECT_EQ(stats.prompt_tokens + stats.generated_tokens, 32);
}

TEST_F(ChatSessionTest, ContinueGenerationNeedsTokens) {
    auto context = make_context(16);
    llama::Sampler sampler(greedy(1).sampler);
    EXPECT_THROW(llama::continue_generation(context, *tokenizer_, {}, greedy(1), sampler, {}),
                 llama::Error);
}

TEST_F(ChatSessionTest, ContinueGenerationAppendsToTheCache) {
    // generate() then continue_generation() give what one generate() over both prompts gives.
    auto context = make_context(64);
    const std::vector<int32_t> more = tokenizer_->encode("unto him", false);
    const auto first = llama::generate(context, *tokenizer_, "the king", greedy(3), {});
    llama::Sampler sampler(greedy(3).sampler);
    // The third generated token never went through the model, so it comes first.
    std::vector<int32_t> next = {first.output_tokens.back()};
    next.insert(next.end(), more.begin(), more.end());
    const auto second =
        llama::continue_generation(context, *tokenizer_, next, greedy(3), sampler, {});
    const auto whole = concat({tokenizer_->encode("the king", true), first.output_tokens, more});
    EXPECT_EQ(second.output_tokens, reference_greedy(whole, 3));
    EXPECT_EQ(second.prompt_tokens, static_cast<int64_t>(next.size()));
}

}  // namespace
