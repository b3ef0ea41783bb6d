// Generation loop, perplexity and the two tools (run as subprocesses) on a tiny random model from
// tests/data with a tokenizer trained at test time.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "llama/chat.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/generator.h"
#include "llama/isa.h"
#include "llama/model.h"
#include "llama/perplexity.h"
#include "llama/tokenizer.h"
#include "tests/spm_test_model.h"

namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = LLAMA_SOURCE_DIR;
const fs::path kBinaryDir = LLAMA_BINARY_DIR;
const fs::path kTinyModel = kSourceDir / "tests" / "data" / "tiny-gqa-f32";

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    return contents.str();
}

struct ProcessResult {
    int status = -1;  // exit code, or -1 if the process did not exit normally (crash)
    std::string out;
    std::string err;
};

// What the process reads: `input` from a file, or typed on a terminal (a pseudo-terminal).
struct ProcessInput {
    std::string text;
    bool terminal = false;
};

// Runs `program` with `args`, capturing stdout and stderr through files in `scratch`.
ProcessResult run_process(const fs::path& program, const std::vector<std::string>& args,
                          const fs::path& scratch, const ProcessInput& input = {}) {
    const fs::path in_path = scratch / "stdin.txt";
    const fs::path out_path = scratch / "stdout.txt";
    const fs::path err_path = scratch / "stderr.txt";
    int terminal = -1, terminal_child = -1;
    if (input.terminal) {
        if (openpty(&terminal, &terminal_child, nullptr, nullptr, nullptr) != 0) {
            ADD_FAILURE() << "openpty failed";
            return {};
        }
    } else {
        std::ofstream(in_path, std::ios::binary) << input.text;
    }
    const pid_t pid = fork();
    if (pid == 0) {
        const int in_fd = input.terminal ? terminal_child : open(in_path.c_str(), O_RDONLY);
        const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in_fd, STDIN_FILENO);
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        if (input.terminal) close(terminal);
        std::vector<char*> argv;
        std::string name = program.string();
        argv.push_back(name.data());
        std::vector<std::string> copies = args;
        for (auto& a : copies) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(name.c_str(), argv.data());
        _exit(127);
    }
    if (input.terminal) {
        // Typed ahead: the terminal hands the program one line per read. The terminal stays open
        // until the program exits (closing it would hang up on the program).
        close(terminal_child);
        const ssize_t written = write(terminal, input.text.data(), input.text.size());
        EXPECT_EQ(written, static_cast<ssize_t>(input.text.size()));
    }
    int wait_status = 0;
    waitpid(pid, &wait_status, 0);
    if (input.terminal) close(terminal);
    ProcessResult result;
    result.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    return result;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// The tiny random model plus a tokenizer trained here (100 pieces, inside the model's 256).
class TinyModel : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new llama::test::TempDir("tools-test");
        model_dir_ = dir_->path() / "model";
        fs::create_directories(model_dir_);
        for (const char* file : {"config.json", "model.safetensors"}) {
            fs::copy_file(kTinyModel / file, model_dir_ / file);
        }
        llama::test::train_tokenizer(model_dir_, 100, /*byte_fallback=*/false);
        model_ = new llama::LlamaModel(llama::load_model(model_dir_));
        tokenizer_ = new llama::Tokenizer(llama::Tokenizer::load(model_dir_));
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
        params.prompt_precision = llama::PromptPrecision::F32;
        params.cache_type = llama::CacheType::F32;
        return llama::InferenceContext(*model_, params);
    }

    ProcessResult run_tool(const std::string& tool, const std::vector<std::string>& args,
                           const ProcessInput& input = {}) {
        const fs::path program = kBinaryDir / "tools" / tool;
        if (!fs::exists(program)) {
            ADD_FAILURE() << program << " is not built (build the " << tool << " target)";
            return {};
        }
        return run_process(program, args, dir_->path(), input);
    }

    static llama::test::TempDir* dir_;
    static fs::path model_dir_;
    static llama::LlamaModel* model_;
    static llama::Tokenizer* tokenizer_;
};

llama::test::TempDir* TinyModel::dir_ = nullptr;
fs::path TinyModel::model_dir_;
llama::LlamaModel* TinyModel::model_ = nullptr;
llama::Tokenizer* TinyModel::tokenizer_ = nullptr;

llama::GenerationParams greedy(int64_t n_predict) {
    llama::GenerationParams params;
    params.n_predict = n_predict;
    params.sampler.temperature = 0.0f;
    params.sampler.repeat_penalty = 1.0f;
    params.ignore_eos = true;
    return params;
}

// ---- generation loop -------------------------------------------------------------------------

TEST_F(TinyModel, GreedyGenerationMatchesAStepByStepArgmax) {
    const std::string prompt = "The lord said unto him";
    auto context = make_context(64);
    std::string streamed;
    const auto stats =
        llama::generate(context, *tokenizer_, prompt, greedy(12), [&](std::string_view piece) {
            streamed += piece;
            return true;
        });
    EXPECT_EQ(stats.generated_tokens, 12);
    EXPECT_EQ(stats.stop_reason, llama::StopReason::TokenLimit);
    ASSERT_EQ(stats.output_tokens.size(), 12u);

    // Reference: feed every token through a fresh context, one at a time, taking the argmax over
    // the tokenizer's part of the vocabulary (EOS excluded, as ignore_eos does).
    auto reference = make_context(64);
    std::vector<int32_t> tokens = tokenizer_->encode(prompt, true);
    EXPECT_EQ(stats.prompt_tokens, static_cast<int64_t>(tokens.size()));
    std::span<const float> logits;
    for (int32_t t : tokens) logits = reference.forward(std::span(&t, 1), 1);
    std::vector<int32_t> expected;
    for (int i = 0; i < 12; ++i) {
        int32_t best = -1;
        for (int32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
            if (id == tokenizer_->eos_id()) continue;
            if (best < 0 || logits[id] > logits[best]) best = id;
        }
        expected.push_back(best);
        logits = reference.forward(std::span(&best, 1), 1);
    }
    EXPECT_EQ(stats.output_tokens, expected);

    // The streamed text is the generated part of decoding prompt and output together.
    std::vector<int32_t> all = tokens;
    all.insert(all.end(), expected.begin(), expected.end());
    EXPECT_EQ(tokenizer_->decode(tokens) + streamed, tokenizer_->decode(all));
}

TEST_F(TinyModel, EchoPromptStreamsThePromptFirst) {
    auto context = make_context(64);
    auto params = greedy(3);
    params.echo_prompt = true;
    std::vector<std::string> pieces;
    llama::generate(context, *tokenizer_, "And God said", params, [&](std::string_view piece) {
        pieces.emplace_back(piece);
        return true;
    });
    ASSERT_FALSE(pieces.empty());
    EXPECT_EQ(pieces.front(), "And God said");
}

TEST_F(TinyModel, SameSeedSameText) {
    llama::GenerationParams params;
    params.n_predict = 20;
    params.ignore_eos = true;
    params.sampler.temperature = 1.5f;
    params.sampler.top_k = 0;
    params.sampler.top_p = 1.0f;
    std::vector<std::vector<int32_t>> outputs;
    for (uint64_t seed : {5, 5, 6}) {
        params.sampler.seed = seed;
        auto context = make_context(64);
        outputs.push_back(
            llama::generate(context, *tokenizer_, "the king", params, {}).output_tokens);
    }
    EXPECT_EQ(outputs[0], outputs[1]);
    EXPECT_NE(outputs[0], outputs[2]);
}

TEST_F(TinyModel, CallbackReturningFalseStops) {
    auto context = make_context(64);
    int calls = 0;
    const auto stats = llama::generate(context, *tokenizer_, "the land", greedy(20),
                                       [&](std::string_view) { return ++calls < 3; });
    EXPECT_EQ(stats.stop_reason, llama::StopReason::Callback);
    EXPECT_LE(stats.generated_tokens, 3);
    EXPECT_EQ(calls, 3);
}

TEST_F(TinyModel, StopsWhenTheContextIsFull) {
    auto context = make_context(16);
    const auto stats = llama::generate(context, *tokenizer_, "the king", greedy(100), {});
    EXPECT_EQ(stats.stop_reason, llama::StopReason::ContextFull);
    EXPECT_EQ(stats.prompt_tokens + stats.generated_tokens, 16);
}

TEST_F(TinyModel, PromptThatDoesNotFitIsAnError) {
    auto context = make_context(8);
    const std::string prompt = "the lord said unto him that the king went to the land";
    const auto n_prompt = static_cast<int64_t>(tokenizer_->encode(prompt, true).size());
    ASSERT_GE(n_prompt, 8);
    try {
        llama::generate(context, *tokenizer_, prompt, greedy(4), {});
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        const std::string message = e.what();
        EXPECT_TRUE(contains(message, std::to_string(n_prompt) + " tokens")) << message;
        EXPECT_TRUE(contains(message, "holds 8 tokens")) << message;
    }
}

TEST_F(TinyModel, EmptyPromptWithoutBosIsAnError) {
    auto context = make_context(16);
    auto params = greedy(4);
    params.add_bos = false;
    EXPECT_THROW(llama::generate(context, *tokenizer_, "", params, {}), llama::Error);
}

// ---- perplexity ------------------------------------------------------------------------------

// NLL of the reference logits (tests/data/tiny-gqa-f32.ref.json, from the NumPy reference) for
// the second half of a chunk made of the reference tokens.
struct Reference {
    std::vector<int32_t> tokens;
    std::vector<std::vector<double>> logits;
};

Reference load_reference() {
    const auto json = nlohmann::json::parse(slurp(kSourceDir / "tests/data/tiny-gqa-f32.ref.json"));
    return {json["tokens"].get<std::vector<int32_t>>(),
            json["logits"].get<std::vector<std::vector<double>>>()};
}

double reference_nll(const std::vector<double>& logits, int32_t target) {
    double max = logits[0];
    for (double l : logits) max = std::max(max, l);
    double sum = 0.0;
    for (double l : logits) sum += std::exp(l - max);
    return std::log(sum) + max - logits[target];
}

TEST_F(TinyModel, PerplexityMatchesReferenceLogits) {
    const Reference ref = load_reference();
    const auto n_ctx = static_cast<int64_t>(ref.tokens.size());
    ASSERT_EQ(ref.tokens[0], 1) << "the reference starts with BOS";
    // Two chunks of the reference tokens; the second chunk's first token is something else,
    // which the protocol replaces by BOS, so both chunks see exactly the reference input.
    std::vector<int32_t> tokens = ref.tokens;
    tokens.insert(tokens.end(), ref.tokens.begin(), ref.tokens.end());
    tokens[n_ctx] = 42;
    tokens.push_back(7);  // a partial third chunk, dropped

    double nll = 0.0;
    int64_t scored = 0;
    for (int chunk = 0; chunk < 2; ++chunk) {
        for (int64_t pos = n_ctx / 2; pos < n_ctx - 1; ++pos) {
            nll += reference_nll(ref.logits[pos], ref.tokens[pos + 1]);
            ++scored;
        }
    }
    const double expected_ppl = std::exp(nll / static_cast<double>(scored));

    auto context = make_context(n_ctx);
    std::vector<llama::PerplexityChunk> chunks;
    const auto result =
        llama::compute_perplexity(context, tokens, /*bos_id=*/1,
                                  [&](const llama::PerplexityChunk& c) { chunks.push_back(c); });
    EXPECT_EQ(result.n_chunks, 2);
    EXPECT_EQ(result.n_scored, scored);
    EXPECT_EQ(result.n_tokens, static_cast<int64_t>(tokens.size()));
    EXPECT_NEAR(result.ppl, expected_ppl, 1e-4 * expected_ppl);
    EXPECT_NEAR(result.mean_nll, nll / static_cast<double>(scored), 1e-4);
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[0].index, 0);
    EXPECT_EQ(chunks[1].n_chunks, 2);
    // Both chunks are identical, so the running estimate does not move.
    EXPECT_NEAR(chunks[0].running_ppl, expected_ppl, 1e-4 * expected_ppl);
    EXPECT_DOUBLE_EQ(chunks[1].running_ppl, result.ppl);
}

TEST_F(TinyModel, PerplexityNeedsTwoChunksOfText) {
    auto context = make_context(32);
    const std::vector<int32_t> tokens(63, 5);
    try {
        llama::compute_perplexity(context, tokens, 1);
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        const std::string message = e.what();
        EXPECT_TRUE(contains(message, "63 tokens")) << message;
        EXPECT_TRUE(contains(message, "64")) << message;
    }
}

TEST(NegativeLogLikelihood, MatchesDoubleReference) {
    const std::vector<float> logits = {1000.0f, 999.0f, -5.0f, 0.0f};  // large: needs the max shift
    std::vector<double> as_double(logits.begin(), logits.end());
    for (int32_t target = 0; target < 4; ++target) {
        EXPECT_NEAR(llama::negative_log_likelihood(logits, target),
                    reference_nll(as_double, target), 1e-9);
    }
    EXPECT_THROW(llama::negative_log_likelihood(logits, 4), llama::Error);
}

// ---- llama-run -------------------------------------------------------------------------------

TEST_F(TinyModel, RunGeneratesNTokens) {
    const auto r = run_tool("llama-run", {"-m", model_dir_.string(), "-p", "The lord said", "-n",
                                          "10", "--temp", "0", "--ignore-eos", "-t", "2"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.out.starts_with("The lord said")) << r.out;
    EXPECT_TRUE(contains(r.err, "generation: 10 tokens")) << r.err;
    EXPECT_TRUE(contains(r.err, "load time:")) << r.err;
    EXPECT_TRUE(contains(r.err, "prompt: ")) << r.err;
    EXPECT_TRUE(contains(r.err, "tokens/s")) << r.err;
}

TEST_F(TinyModel, RunIsReproducibleWithASeedAndBothSplitModesAgree) {
    const std::vector<std::string> base = {
        "-m", model_dir_.string(), "-p", "the king", "-n", "16", "--seed", "77", "--ignore-eos"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = base;
        args.insert(args.end(), extra.begin(), extra.end());
        return run_tool("llama-run", args);
    };
    const auto a = with({});
    const auto b = with({"--split-mode", "per-forward"});
    ASSERT_EQ(a.status, 0) << a.err;
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_TRUE(contains(a.err, "seed = 77")) << a.err;
}

TEST_F(TinyModel, RunReadsThePromptFromAFile) {
    const fs::path prompt = dir_->path() / "prompt.txt";
    std::ofstream(prompt) << "In the beginning";
    const auto r = run_tool(
        "llama-run", {"-m", model_dir_.string(), "-f", prompt.string(), "-n", "4", "--ignore-eos"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.out.starts_with("In the beginning")) << r.out;
}

void expect_failure(const ProcessResult& r, const std::vector<std::string>& needles) {
    EXPECT_EQ(r.status, 1) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
    for (const auto& needle : needles) EXPECT_TRUE(contains(r.err, needle)) << r.err;
}

TEST_F(TinyModel, RunMissingModelDirectory) {
    const std::string missing = (dir_->path() / "no-such-model").string();
    expect_failure(run_tool("llama-run", {"-m", missing, "-n", "4"}), {"no-such-model"});
}

TEST_F(TinyModel, RunModelDirectoryWithoutTokenizer) {
    const fs::path no_tok = dir_->path() / "no-tokenizer";
    fs::create_directories(no_tok);
    for (const char* file : {"config.json", "model.safetensors"}) {
        fs::copy_file(kTinyModel / file, no_tok / file, fs::copy_options::overwrite_existing);
    }
    expect_failure(run_tool("llama-run", {"-m", no_tok.string(), "-n", "4"}), {"tokenizer.model"});
}

TEST_F(TinyModel, RunMissingPromptFile) {
    expect_failure(run_tool("llama-run", {"-m", model_dir_.string(), "-f", "/nonexistent/p.txt"}),
                   {"/nonexistent/p.txt"});
}

TEST_F(TinyModel, RunUnknownFlag) {
    expect_failure(run_tool("llama-run", {"-m", model_dir_.string(), "--frobnicate"}),
                   {"unknown flag '--frobnicate'"});
}

TEST_F(TinyModel, RunBadNumbers) {
    expect_failure(run_tool("llama-run", {"-n", "ten"}), {"'ten'", "-n"});
    expect_failure(run_tool("llama-run", {"--temp", "warm"}), {"'warm'", "--temp"});
    expect_failure(run_tool("llama-run", {"-t", "0"}), {"-t", "out of range"});
    expect_failure(run_tool("llama-run", {"-n"}), {"-n needs a value"});
}

TEST_F(TinyModel, RunPromptLongerThanTheContext) {
    const auto r = run_tool("llama-run", {"-m", model_dir_.string(), "-c", "8", "-p",
                                          "the lord said unto him that the king went to the land"});
    expect_failure(r, {"prompt", "context holds 8 tokens"});
    EXPECT_EQ(r.out, "") << "nothing is printed before the error";
}

TEST_F(TinyModel, RunContextLargerThanTheModelAllows) {
    expect_failure(run_tool("llama-run", {"-m", model_dir_.string(), "-c", "100000"}),
                   {"100000", "64"});
}

TEST_F(TinyModel, RunHelp) {
    const auto r = run_tool("llama-run", {"--help"});
    EXPECT_EQ(r.status, 0);
    for (const char* flag :
         {"-m", "-p", "-f", "-n", "-t", "-c", "--temp", "--top-k", "--top-p", "--min-p",
          "--repeat-penalty", "--presence-penalty", "--frequency-penalty", "--seed", "--split-mode",
          "--precision f32|bf16", "--chat", "-sys, --system", "AMX"}) {
        EXPECT_TRUE(contains(r.out, flag)) << flag;
    }
}

TEST_F(TinyModel, RunUsesTheShippedModelByDefault) {
    if (!fs::exists(kSourceDir / "model" / "kjv-tiny" / "model.safetensors")) {
        GTEST_SKIP() << "model/kjv-tiny not present";
    }
    const auto r = run_tool("llama-run", {"-n", "8", "--seed", "1", "--ignore-eos"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.out.starts_with("And God said")) << r.out;
    EXPECT_GT(r.out.size(), std::string("And God said").size() + 8) << r.out;
    EXPECT_TRUE(contains(r.err, "generation: 8 tokens")) << r.err;
}

// ---- llama-run --chat ------------------------------------------------------------------------

// Greedy, repetition penalty off, EOS never sampled: the tool's answers are reproducible in
// process with the same settings.
const std::vector<std::string> kChatFlags = {
    "--chat",       "-n", "3", "--temp",      "0",   "--repeat-penalty", "1",
    "--ignore-eos", "-t", "2", "--precision", "f32", "--cache-type",     "f32"};

// The answers ChatSession gives for `messages` with kChatFlags' settings, each on its own line.
std::string expected_chat_output(const llama::LlamaModel& model, const llama::Tokenizer& tokenizer,
                                 const std::optional<std::string>& system,
                                 const std::vector<std::string>& messages) {
    llama::ContextParams context_params;
    context_params.n_threads = 2;
    context_params.n_ctx = model.config.max_context;
    context_params.prompt_precision = llama::PromptPrecision::F32;
    context_params.cache_type = llama::CacheType::F32;
    llama::InferenceContext context(model, context_params);
    llama::ChatSession session(context, tokenizer, system, greedy(3));
    std::string out;
    for (const auto& message : messages) {
        session.reply(message, [&](std::string_view piece) {
            out += piece;
            return true;
        });
        out += "\n";
    }
    return out;
}

TEST_F(TinyModel, ChatAnswersEachLineOfStdin) {
    std::vector<std::string> args = {"-m", model_dir_.string()};
    args.insert(args.end(), kChatFlags.begin(), kChatFlags.end());
    // The blank line is skipped; surrounding whitespace is stripped.
    const auto r = run_tool("llama-run", args, {"the king said\n\n  him  \n"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              expected_chat_output(*model_, *tokenizer_, std::nullopt, {"the king said", "him"}));
    EXPECT_TRUE(contains(r.err, "generation: 6 tokens")) << r.err;
    EXPECT_FALSE(contains(r.err, "> ")) << "no prompt when stdin is not a terminal: " << r.err;
}

TEST_F(TinyModel, ChatWithAPromptIsOneTurnWithTheSystemPrompt) {
    std::vector<std::string> args = {"-m", model_dir_.string(), "-p", "the king", "-sys", "god"};
    args.insert(args.end(), kChatFlags.begin(), kChatFlags.end());
    // stdin is not read with -p.
    const auto r = run_tool("llama-run", args, {"him\n"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected_chat_output(*model_, *tokenizer_, "god", {"the king"}));
    EXPECT_TRUE(contains(r.err, "generation: 3 tokens")) << r.err;
}

TEST_F(TinyModel, ChatEndsAtBye) {
    std::vector<std::string> args = {"-m", model_dir_.string()};
    args.insert(args.end(), kChatFlags.begin(), kChatFlags.end());
    const auto r = run_tool("llama-run", args, {"the king\n /bye \nhim\n"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected_chat_output(*model_, *tokenizer_, std::nullopt, {"the king"}));
    EXPECT_TRUE(contains(r.err, "generation: 3 tokens")) << r.err;
}

TEST_F(TinyModel, ChatOnATerminalPromptsForEachLine) {
    std::vector<std::string> args = {"-m", model_dir_.string()};
    args.insert(args.end(), kChatFlags.begin(), kChatFlags.end());
    // Two messages, then end of input (Ctrl-D at the start of a line).
    const auto r = run_tool("llama-run", args, {"the king\nhim\n\x04", /*terminal=*/true});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected_chat_output(*model_, *tokenizer_, std::nullopt, {"the king", "him"}));
    EXPECT_TRUE(r.err.starts_with("> > > \n")) << r.err;
    EXPECT_TRUE(contains(r.err, "generation: 6 tokens")) << r.err;
}

TEST_F(TinyModel, ChatAnswerThatFillsTheContextIsAnError) {
    const auto r = run_tool("llama-run", {"-m", model_dir_.string(), "--chat", "-p", "the king",
                                          "-n", "-1", "--ignore-eos"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "error: the conversation filled the context (64 tokens)")) << r.err;
    EXPECT_FALSE(r.out.empty()) << "the answer so far is shown";
}

TEST_F(TinyModel, ChatMessageThatDoesNotFitIsAnError) {
    expect_failure(
        run_tool("llama-run", {"-m", model_dir_.string(), "--chat", "-c", "8", "-p", "the king"}),
        {"no room in the context", "holds 8 tokens", "-c"});
    // The second message does not fit after the first exchange.
    std::vector<std::string> args = {"-m", model_dir_.string(), "-c", "40"};
    args.insert(args.end(), kChatFlags.begin(), kChatFlags.end());
    const auto r = run_tool("llama-run", args,
                            {"the king\nthe lord said unto him that the king went to the land\n"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "error: no room in the context")) << r.err;
    EXPECT_EQ(r.out, expected_chat_output(*model_, *tokenizer_, std::nullopt, {"the king"}));
}

TEST_F(TinyModel, ChatFlagErrors) {
    expect_failure(run_tool("llama-run", {"-m", model_dir_.string(), "--system", "be kind"}),
                   {"--system", "--chat"});
    expect_failure(run_tool("llama-run", {"-m", model_dir_.string(), "--chat", "--no-bos"}),
                   {"--no-bos", "--chat"});
}

// ---- llama-perplexity ------------------------------------------------------------------------

TEST_F(TinyModel, PerplexityToolPrintsRunningEstimatesAndFinalLine) {
    const fs::path text = dir_->path() / "text.txt";
    std::ofstream(text) << llama::test::make_corpus(60);
    const auto r =
        run_tool("llama-perplexity", {"-m", model_dir_.string(), "-f", text.string(), "-c", "32",
                                      "--precision", "f32", "--cache-type", "f32"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> lines;
    std::istringstream out(r.out);
    for (std::string line; std::getline(out, line);) lines.push_back(line);
    ASSERT_GE(lines.size(), 3u) << r.out;
    EXPECT_TRUE(lines[0].starts_with("[1/")) << lines[0];
    const std::string& last = lines.back();
    ASSERT_TRUE(last.starts_with("PPL = ")) << last;
    const double ppl = std::stod(last.substr(6));
    EXPECT_TRUE(std::isfinite(ppl));
    EXPECT_GT(ppl, 1.0);

    // The same number as the library computes.
    auto context = make_context(32);
    const auto result = llama::compute_perplexity(context, *tokenizer_, slurp(text));
    EXPECT_NEAR(ppl, result.ppl, 1e-3 * result.ppl);
    EXPECT_EQ(lines.size(), static_cast<size_t>(result.n_chunks) + 1);
}

TEST_F(TinyModel, PerplexityToolErrors) {
    expect_failure(run_tool("llama-perplexity", {"-m", model_dir_.string()}), {"-f"});
    expect_failure(run_tool("llama-perplexity", {"-m", model_dir_.string(), "-f", "/nonexistent"}),
                   {"/nonexistent"});
    const fs::path short_text = dir_->path() / "short.txt";
    std::ofstream(short_text) << "the king went to the land";
    expect_failure(run_tool("llama-perplexity",
                            {"-m", model_dir_.string(), "-f", short_text.string(), "-c", "32"}),
                   {"tokens", "64"});
    expect_failure(run_tool("llama-perplexity", {"-c", "x"}), {"'x'", "-c"});
}

// ---- the ISA cap -------------------------------------------------------------------------------

TEST_F(TinyModel, RunGivesTheSameGreedyTextAtEveryIsaLevel) {
    std::string first_text;
    for (int i = 0; i <= static_cast<int>(llama::detected_isa()); ++i) {
        if (!llama::isa_supported(static_cast<llama::IsaLevel>(i))) continue;  // avx2-vnni
        const std::string level(llama::isa_name(static_cast<llama::IsaLevel>(i)));
        const auto r =
            run_tool("llama-run", {"-m", model_dir_.string(), "-p", "the king", "-n", "16",
                                   "--temp", "0", "--ignore-eos", "--precision", "f32",
                                   "--cache-type", "f32", "--isa", level, "--log-level", "info"});
        ASSERT_EQ(r.status, 0) << level << ": " << r.err;
        EXPECT_TRUE(contains(r.err, "ISA level " + level)) << r.err;
        if (i == 0) first_text = r.out;
        EXPECT_EQ(r.out, first_text) << "at " << level;
    }
}

TEST_F(TinyModel, IsaEnvironmentVariableCapsTheLevel) {
    setenv("LLAMA_ISA", "scalar", 1);
    const auto r = run_tool(
        "llama-run", {"-m", model_dir_.string(), "-p", "the", "-n", "2", "--log-level", "info"});
    unsetenv("LLAMA_ISA");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(r.err, "ISA level scalar")) << r.err;
}

TEST_F(TinyModel, IsaErrors) {
    expect_failure(run_tool("llama-run", {"--isa", "avx3"}), {"'avx3'", "--isa", "avx512-vnni"});
    expect_failure(run_tool("llama-perplexity", {"--isa", "AVX2"}), {"'AVX2'", "--isa"});
    setenv("LLAMA_ISA", "sse2", 1);
    const auto bad_environment = run_tool("llama-run", {"-m", model_dir_.string(), "-n", "1"});
    unsetenv("LLAMA_ISA");
    expect_failure(bad_environment, {"'sse2'", "LLAMA_ISA"});
    if (llama::detected_isa() != llama::IsaLevel::Amx) {
        const auto above =
            static_cast<llama::IsaLevel>(static_cast<int>(llama::detected_isa()) + 1);
        expect_failure(run_tool("llama-run", {"-m", model_dir_.string(), "-n", "1", "--isa",
                                              std::string(llama::isa_name(above))}),
                       {std::string(llama::isa_name(above)),
                        std::string(llama::isa_name(llama::detected_isa()))});
    }
}

TEST_F(TinyModel, PrecisionFlagRejectsUnknownValues) {
    expect_failure(run_tool("llama-perplexity", {"--precision", "f16"}),
                   {"'f16'", "--precision", "f32, bf16"});
    expect_failure(run_tool("llama-run", {"--precision", "int8"}),
                   {"'int8'", "--precision", "f32, bf16"});
}

}  // namespace
