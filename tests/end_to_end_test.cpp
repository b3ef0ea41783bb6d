// Runs whole models through load_model + InferenceContext and compares every logit with the
// float64 NumPy reference in tests/reference/llama_ref.py (files in tests/data/*.ref.json; see
// tests/reference/README.md to regenerate them). Also checks that the ways of feeding the same
// tokens (all at once, one at a time, in chunks, several sequences side by side, other thread
// counts, other QKV split modes) agree with each other.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"

namespace {

namespace fs = std::filesystem;

// Logits may differ from the float64 reference by this fraction of the largest |logit| of the
// position: the engine computes in float32 over a handful of layers.
constexpr double kReferenceTolerance = 1e-4;
// Two engine runs that only differ in how work is split between threads.
constexpr double kEngineTolerance = 1e-5;
// The same with CacheType::F16 (see F16CacheStaysCloseToReference).
constexpr double kF16CacheTolerance = 3e-3;

struct Reference {
    fs::path model_dir;
    std::vector<int32_t> tokens;
    int64_t vocab_size = 0;
    std::vector<std::vector<double>> logits;  // [tokens.size(), vocab_size]
};

fs::path data_dir() { return fs::path(LLAMA_SOURCE_DIR) / "tests" / "data"; }

Reference read_reference(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot open " + file.string());
    const nlohmann::json json = nlohmann::json::parse(in);
    Reference ref;
    ref.model_dir = fs::path(LLAMA_SOURCE_DIR) / json.at("model").get<std::string>();
    ref.tokens = json.at("tokens").get<std::vector<int32_t>>();
    ref.vocab_size = json.at("vocab_size").get<int64_t>();
    ref.logits = json.at("logits").get<std::vector<std::vector<double>>>();
    if (ref.logits.size() != ref.tokens.size()) throw std::runtime_error("bad " + file.string());
    for (const auto& row : ref.logits) {
        if (static_cast<int64_t>(row.size()) != ref.vocab_size) {
            throw std::runtime_error("bad logits row in " + file.string());
        }
    }
    return ref;
}

// The worst logit of one position: max_i |ours - expected| relative to max_i |expected|.
struct Deviation {
    double relative = 0.0;
    int64_t index = 0;
    double ours = 0.0;
    double expected = 0.0;
};

template <typename Expected>
Deviation worst_deviation(std::span<const float> ours, std::span<const Expected> expected) {
    Deviation worst;
    double scale = 0.0;
    double max_abs_diff = -1.0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const double e = static_cast<double>(expected[i]);
        double diff = std::abs(static_cast<double>(ours[i]) - e);
        if (std::isnan(diff)) diff = INFINITY;  // a NaN logit is the worst possible
        scale = std::max(scale, std::abs(e));
        if (diff > max_abs_diff) {
            max_abs_diff = diff;
            worst.index = static_cast<int64_t>(i);
            worst.ours = ours[i];
            worst.expected = e;
        }
    }
    worst.relative = max_abs_diff / std::max(scale, 1e-6);
    return worst;
}

std::string describe(const Deviation& d, const std::string& where) {
    std::ostringstream out;
    out << where << ": worst logit " << d.index << " is " << d.ours << ", expected " << d.expected
        << " (relative error " << d.relative << ")";
    return out.str();
}

llama::ContextParams context_params(const llama::LlamaModel& model, int n_threads = 2,
                                    int64_t n_seqs = 1) {
    llama::ContextParams params;
    params.n_ctx = model.config.max_context;
    params.n_seqs = n_seqs;
    params.n_threads = n_threads;
    params.prompt_precision = llama::PromptPrecision::F32;  // exact: compared to 1e-4
    params.cache_type = llama::CacheType::F32;
    return params;
}

// Copies the span the context returns: it is only valid until the next forward.
std::vector<float> copy(std::span<const float> logits) { return {logits.begin(), logits.end()}; }

// All positions' logits of `tokens` fed in one call.
std::vector<float> forward_all(llama::InferenceContext& ctx, std::span<const int32_t> tokens) {
    return copy(ctx.forward(tokens, static_cast<int64_t>(tokens.size()), llama::LogitsMode::All));
}

// All positions' logits of `tokens` fed one token per call (the decode path).
std::vector<float> forward_one_at_a_time(llama::InferenceContext& ctx,
                                         std::span<const int32_t> tokens) {
    std::vector<float> logits;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const auto step = ctx.forward(tokens.subspan(i, 1), 1, llama::LogitsMode::Last);
        logits.insert(logits.end(), step.begin(), step.end());
    }
    return logits;
}

class EndToEnd : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const fs::path file = data_dir() / (GetParam() + ".ref.json");
        if (!fs::exists(file)) {
            // Only kjv-tiny may be absent (its model is trained separately); the tiny models
            // are committed with their references.
            ASSERT_EQ(GetParam(), "kjv-tiny") << file << " is missing";
            GTEST_SKIP() << file << " is missing; run tests/reference/make_references.sh";
        }
        ref_ = read_reference(file);
        ASSERT_TRUE(fs::exists(ref_.model_dir)) << ref_.model_dir << " is missing";
        model_ = llama::load_model(ref_.model_dir);
        ASSERT_EQ(model_.config.vocab_size, ref_.vocab_size);
        ASSERT_GE(model_.config.max_context, static_cast<int64_t>(ref_.tokens.size()));
    }

    int64_t vocab() const { return ref_.vocab_size; }
    int64_t n_tokens() const { return static_cast<int64_t>(ref_.tokens.size()); }

    std::span<const float> row(const std::vector<float>& logits, int64_t position) const {
        return std::span<const float>(logits).subspan(position * vocab(), vocab());
    }

    // Every position of `logits` ([n_tokens, vocab]) against the reference.
    void expect_matches_reference(const std::vector<float>& logits, const std::string& how) {
        ASSERT_EQ(static_cast<int64_t>(logits.size()), n_tokens() * vocab()) << how;
        for (int64_t pos = 0; pos < n_tokens(); ++pos) {
            const Deviation d =
                worst_deviation(row(logits, pos), std::span<const double>(ref_.logits[pos]));
            EXPECT_LE(d.relative, kReferenceTolerance)
                << describe(d, GetParam() + " " + how + ", position " + std::to_string(pos));
        }
    }

    // Every position of two engine results ([n_tokens, vocab]) against each other.
    void expect_close(const std::vector<float>& logits, const std::vector<float>& expected,
                      const std::string& how) {
        ASSERT_EQ(logits.size(), expected.size()) << how;
        const int64_t n_rows = static_cast<int64_t>(expected.size()) / vocab();
        for (int64_t pos = 0; pos < n_rows; ++pos) {
            const Deviation d = worst_deviation(row(logits, pos), row(expected, pos));
            EXPECT_LE(d.relative, kEngineTolerance)
                << describe(d, GetParam() + " " + how + ", row " + std::to_string(pos));
        }
    }

    Reference ref_;
    llama::LlamaModel model_;
};

TEST_P(EndToEnd, AllPositionsInOneForwardMatchReference) {
    llama::InferenceContext ctx(model_, context_params(model_));
    expect_matches_reference(forward_all(ctx, ref_.tokens), "one forward, all logits");
    EXPECT_EQ(ctx.n_past(), n_tokens());
}

// The fast prompt path rounds activations and weights to bfloat16 (AMX): each logit stays within
// a few 1e-3 of the largest logit, and the most likely next token is unchanged. Where the CPU
// has no AMX the context computes in fp32 and this holds trivially.
TEST_P(EndToEnd, Bf16PromptPathStaysCloseToReference) {
    llama::ContextParams params = context_params(model_);
    params.prompt_precision = llama::PromptPrecision::BF16;
    llama::InferenceContext ctx(model_, params);
    const std::vector<float> logits = forward_all(ctx, ref_.tokens);
    for (int64_t pos = 0; pos < n_tokens(); ++pos) {
        const auto expected = std::span<const double>(ref_.logits[pos]);
        const Deviation d = worst_deviation(row(logits, pos), expected);
        EXPECT_LE(d.relative, 2e-2)
            << describe(d, GetParam() + " bf16, position " + std::to_string(pos));
        const auto ours = row(logits, pos);
        const auto best = std::max_element(expected.begin(), expected.end()) - expected.begin();
        double scale = 0.0;
        for (double value : expected) scale = std::max(scale, std::abs(value));
        // The reference's best token is still within bf16 noise of our best.
        EXPECT_GE(ours[best], *std::max_element(ours.begin(), ours.end()) - 2e-2 * scale)
            << GetParam() << " position " << pos;
    }
}

// A half-precision KV cache rounds every cached key and value to 11 significant bits (relative
// error at most 2^-11 ~ 4.9e-4 each). Through the scores, softmax and the layers above, the
// logits move by at most 9.1e-4 of the position's largest logit (measured: tiny-mha-f16; the
// other models 1e-4 to 3.6e-4); kF16CacheTolerance is three times that. Both attention paths are
// covered: prompt (rows widened for BLAS) and decode (widened in registers). The most likely
// next token stays the same: the references' smallest gap between the two best logits is 4e-3 of
// the largest logit, over twice the most that two logits moving 9.1e-4 each can close.
TEST_P(EndToEnd, F16CacheStaysCloseToReference) {
    llama::ContextParams params = context_params(model_);
    params.cache_type = llama::CacheType::F16;
    const std::span<const int32_t> tokens(ref_.tokens);
    const size_t prefill = tokens.size() / 2;
    llama::InferenceContext all_at_once(model_, params);
    llama::InferenceContext decode(model_, params);
    std::vector<float> decoded = forward_all(decode, tokens.first(prefill));
    const std::vector<float> rest = forward_one_at_a_time(decode, tokens.subspan(prefill));
    decoded.insert(decoded.end(), rest.begin(), rest.end());
    const std::pair<std::string, std::vector<float>> runs[] = {
        {"one forward", forward_all(all_at_once, ref_.tokens)}, {"prefill then decode", decoded}};
    for (const auto& [how, logits] : runs) {
        for (int64_t pos = 0; pos < n_tokens(); ++pos) {
            const auto expected = std::span<const double>(ref_.logits[pos]);
            const auto ours = row(logits, pos);
            const Deviation d = worst_deviation(ours, expected);
            EXPECT_LE(d.relative, kF16CacheTolerance) << describe(
                d, GetParam() + " f16 cache, " + how + ", position " + std::to_string(pos));
            EXPECT_EQ(std::max_element(ours.begin(), ours.end()) - ours.begin(),
                      std::max_element(expected.begin(), expected.end()) - expected.begin())
                << GetParam() << " f16 cache, " << how << ", position " << pos;
        }
    }
}

TEST_P(EndToEnd, OneTokenAtATimeMatchesReference) {
    llama::InferenceContext ctx(model_, context_params(model_));
    expect_matches_reference(forward_one_at_a_time(ctx, ref_.tokens), "one token per forward");
}

TEST_P(EndToEnd, PrefillThenChunkMatchesReference) {
    const std::span<const int32_t> tokens(ref_.tokens);
    const size_t prefill = tokens.size() / 2 + 1;
    llama::InferenceContext ctx(model_, context_params(model_));
    std::vector<float> logits = forward_all(ctx, tokens.first(prefill));
    const std::vector<float> rest = forward_all(ctx, tokens.subspan(prefill));
    logits.insert(logits.end(), rest.begin(), rest.end());
    expect_matches_reference(logits, "prefill of " + std::to_string(prefill) + " then the rest");
}

TEST_P(EndToEnd, PrefillThenDecodeMatchesReference) {
    const std::span<const int32_t> tokens(ref_.tokens);
    const size_t prefill = tokens.size() / 2;
    llama::InferenceContext ctx(model_, context_params(model_));
    std::vector<float> logits = forward_all(ctx, tokens.first(prefill));
    const std::vector<float> decoded = forward_one_at_a_time(ctx, tokens.subspan(prefill));
    logits.insert(logits.end(), decoded.begin(), decoded.end());
    expect_matches_reference(logits, "prefill of " + std::to_string(prefill) + " then decode");
}

TEST_P(EndToEnd, SmallBatchSplitsOneForwardIntoChunks) {
    llama::ContextParams params = context_params(model_);
    params.n_batch = 5;  // not a divisor of the token count: the last chunk is short
    llama::InferenceContext ctx(model_, params);
    expect_matches_reference(forward_all(ctx, ref_.tokens), "n_batch 5");
}

TEST_P(EndToEnd, LastModeReturnsTheLastPosition) {
    llama::InferenceContext ctx(model_, context_params(model_));
    const std::vector<float> last = copy(ctx.forward(ref_.tokens, n_tokens()));
    ASSERT_EQ(static_cast<int64_t>(last.size()), vocab());
    const Deviation d =
        worst_deviation(std::span<const float>(last), std::span<const double>(ref_.logits.back()));
    EXPECT_LE(d.relative, kReferenceTolerance) << describe(d, GetParam() + " LogitsMode::Last");
}

TEST_P(EndToEnd, ResetStartsOver) {
    llama::InferenceContext ctx(model_, context_params(model_));
    forward_all(ctx, std::span<const int32_t>(ref_.tokens).first(3));
    ctx.reset();
    EXPECT_EQ(ctx.n_past(), 0);
    expect_matches_reference(forward_all(ctx, ref_.tokens), "after reset");
}

TEST_P(EndToEnd, SplitModesAreBitIdentical) {
    const std::span<const int32_t> tokens(ref_.tokens);
    const size_t prefill = tokens.size() / 2;
    std::vector<float> by_mode[2];
    const llama::SplitMode modes[2] = {llama::SplitMode::Cached, llama::SplitMode::PerForward};
    for (int m = 0; m < 2; ++m) {
        llama::ContextParams params = context_params(model_);
        params.split_mode = modes[m];
        llama::InferenceContext ctx(model_, params);
        by_mode[m] = forward_all(ctx, tokens.first(prefill));
        const std::vector<float> decoded = forward_one_at_a_time(ctx, tokens.subspan(prefill));
        by_mode[m].insert(by_mode[m].end(), decoded.begin(), decoded.end());
    }
    ASSERT_EQ(by_mode[0].size(), by_mode[1].size());
    EXPECT_EQ(std::memcmp(by_mode[0].data(), by_mode[1].data(), by_mode[0].size() * sizeof(float)),
              0)
        << "SplitMode::Cached and SplitMode::PerForward logits differ";

    // Switching the mode of a live context must not change results either.
    llama::InferenceContext ctx(model_, context_params(model_));
    std::vector<float> switched = forward_all(ctx, tokens.first(prefill));
    ctx.set_split_mode(llama::SplitMode::PerForward);
    const std::vector<float> decoded = forward_one_at_a_time(ctx, tokens.subspan(prefill));
    switched.insert(switched.end(), decoded.begin(), decoded.end());
    EXPECT_EQ(std::memcmp(switched.data(), by_mode[0].data(), switched.size() * sizeof(float)), 0)
        << "switching to SplitMode::PerForward mid-sequence changed the logits";
}

TEST_P(EndToEnd, ThreadCountsAgree) {
    llama::InferenceContext one_thread(model_, context_params(model_, 1));
    llama::InferenceContext two_threads(model_, context_params(model_, 2));
    expect_close(forward_all(one_thread, ref_.tokens), forward_all(two_threads, ref_.tokens),
                 "1 vs 2 threads, one forward");
    one_thread.reset();
    two_threads.reset();
    expect_close(forward_one_at_a_time(one_thread, ref_.tokens),
                 forward_one_at_a_time(two_threads, ref_.tokens), "1 vs 2 threads, decode");
}

TEST_P(EndToEnd, TwoSequencesMatchSingleSequences) {
    // Sequence 0 is the reference prompt, sequence 1 the same ids reversed, so the two differ at
    // every position and any mixing of their caches shows.
    const std::vector<int32_t>& first = ref_.tokens;
    const std::vector<int32_t> second(first.rbegin(), first.rend());
    const int64_t n = n_tokens();
    const int64_t prefill = n / 2;

    std::vector<float> single[2];
    const std::vector<int32_t>* inputs[2] = {&first, &second};
    for (int s = 0; s < 2; ++s) {
        llama::InferenceContext ctx(model_, context_params(model_));
        single[s] = forward_all(ctx, *inputs[s]);
    }

    // [2, n] in one call with all logits: layout [seq, position, vocab].
    llama::InferenceContext ctx(model_, context_params(model_, 2, 2));
    std::vector<int32_t> both(first);
    both.insert(both.end(), second.begin(), second.end());
    const std::vector<float> joint = copy(ctx.forward(both, n, llama::LogitsMode::All));
    ASSERT_EQ(static_cast<int64_t>(joint.size()), 2 * n * vocab());
    for (int s = 0; s < 2; ++s) {
        const std::vector<float> part(joint.begin() + s * n * vocab(),
                                      joint.begin() + (s + 1) * n * vocab());
        expect_close(part, single[s], "2 sequences in one forward, sequence " + std::to_string(s));
    }
    expect_matches_reference(std::vector<float>(joint.begin(), joint.begin() + n * vocab()),
                             "sequence 0 of 2");

    // Prefill both, then decode both a token at a time: LogitsMode::Last gives [2, vocab].
    ctx.reset();
    std::vector<int32_t> prefill_both(first.begin(), first.begin() + prefill);
    prefill_both.insert(prefill_both.end(), second.begin(), second.begin() + prefill);
    const std::vector<float> prefilled =
        copy(ctx.forward(prefill_both, prefill, llama::LogitsMode::All));
    std::vector<float> stepped[2];
    for (int s = 0; s < 2; ++s) {
        stepped[s].assign(prefilled.begin() + s * prefill * vocab(),
                          prefilled.begin() + (s + 1) * prefill * vocab());
    }
    for (int64_t pos = prefill; pos < n; ++pos) {
        const int32_t step_tokens[2] = {first[pos], second[pos]};
        const auto step = ctx.forward(step_tokens, 1, llama::LogitsMode::Last);
        ASSERT_EQ(static_cast<int64_t>(step.size()), 2 * vocab());
        for (int s = 0; s < 2; ++s) {
            stepped[s].insert(stepped[s].end(), step.begin() + s * vocab(),
                              step.begin() + (s + 1) * vocab());
        }
    }
    for (int s = 0; s < 2; ++s) {
        expect_close(stepped[s], single[s],
                     "2 sequences, prefill then decode, sequence " + std::to_string(s));
    }
}

TEST_P(EndToEnd, RejectsBadTokensAndOverflow) {
    llama::ContextParams params = context_params(model_);
    params.n_ctx = n_tokens();
    llama::InferenceContext ctx(model_, params);
    const int32_t out_of_range[1] = {static_cast<int32_t>(vocab())};
    EXPECT_THROW(ctx.forward(out_of_range, 1), llama::Error);
    const int32_t negative[1] = {-1};
    EXPECT_THROW(ctx.forward(negative, 1), llama::Error);

    ctx.reset();
    forward_all(ctx, ref_.tokens);  // fills the context exactly
    const int32_t one_more[1] = {ref_.tokens.front()};
    EXPECT_THROW(ctx.forward(one_more, 1), llama::Error);
}

INSTANTIATE_TEST_SUITE_P(Models, EndToEnd,
                         ::testing::Values("tiny-gqa-f32", "tiny-gqa-bf16-sharded", "tiny-mha-f16",
                                           "kjv-tiny"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

}  // namespace
