// InferenceContext::decode() with independent sequences: ragged batches (a prompt chunk of one
// sequence beside decode tokens of others, sequences started at different times) against each
// sequence run alone and against the float64 reference; the sequence cache operations (truncate
// for prompt reuse, copy for a shared prefix); and every way a batch or an operation is rejected.
// All runs use the exact fp32 settings; where a batch runs the same kernels as the run it is
// compared with, the logits must be bit-identical.

#include "llama/batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"

namespace {

namespace fs = std::filesystem;

// As in end_to_end_test.cpp: against the float64 reference, and between two engine runs whose
// projections run through different kernels (matrix-vector vs GEMM, other row counts).
constexpr double kReferenceTolerance = 1e-4;
constexpr double kEngineTolerance = 1e-5;

struct Reference {
    fs::path model_dir;
    std::vector<int32_t> tokens;
    std::vector<std::vector<double>> logits;  // [tokens.size(), vocab]
};

Reference read_reference(const std::string& name) {
    const fs::path file = fs::path(LLAMA_SOURCE_DIR) / "tests" / "data" / (name + ".ref.json");
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot open " + file.string());
    const nlohmann::json json = nlohmann::json::parse(in);
    return {fs::path(LLAMA_SOURCE_DIR) / json.at("model").get<std::string>(),
            json.at("tokens").get<std::vector<int32_t>>(),
            json.at("logits").get<std::vector<std::vector<double>>>()};
}

// max_i |ours - expected| relative to max_i |expected| over one logits row.
template <class T>
double relative_deviation(std::span<const float> ours, std::span<const T> expected) {
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const double e = static_cast<double>(expected[i]);
        double diff = std::abs(static_cast<double>(ours[i]) - e);
        if (std::isnan(diff)) diff = INFINITY;
        worst = std::max(worst, diff);
        scale = std::max(scale, std::abs(e));
    }
    return worst / std::max(scale, 1e-6);
}

bool bit_identical(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Logits rows of one sequence, by position.
using Rows = std::vector<std::vector<float>>;

class Batches : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        const fs::path file =
            fs::path(LLAMA_SOURCE_DIR) / "tests" / "data" / (GetParam() + ".ref.json");
        if (!fs::exists(file)) {
            ASSERT_EQ(GetParam(), "kjv-tiny") << file << " is missing";
            GTEST_SKIP() << file << " is missing; run tests/reference/make_references.sh";
        }
        ref_ = read_reference(GetParam());
        model_ = llama::load_model(ref_.model_dir);
        vocab_ = model_.config.vocab_size;
        // Three different prompts of the same length: the reference tokens, reversed, rotated.
        prompts_.push_back(ref_.tokens);
        prompts_.emplace_back(ref_.tokens.rbegin(), ref_.tokens.rend());
        std::vector<int32_t> rotated = ref_.tokens;
        std::rotate(rotated.begin(), rotated.begin() + 5, rotated.end());
        prompts_.push_back(rotated);
    }

    llama::ContextParams params(int64_t n_seqs, int64_t n_batch = 512) const {
        llama::ContextParams p;
        p.n_ctx = model_.config.max_context;
        p.n_seqs = n_seqs;
        p.n_batch = n_batch;
        p.n_threads = 2;
        p.prompt_precision = llama::PromptPrecision::F32;
        p.cache_type = llama::CacheType::F32;
        return p;
    }

    int64_t n() const { return static_cast<int64_t>(ref_.tokens.size()); }

    std::span<const float> row(std::span<const float> logits, int64_t i) const {
        return logits.subspan(i * vocab_, vocab_);
    }

    // Every position of `tokens` run alone in a fresh context: a prefill of `prefill` tokens in
    // one forward, then (when decode_rest) one token per forward, else the rest in one forward.
    Rows alone(std::span<const int32_t> tokens, int64_t prefill, bool decode_rest) const {
        llama::InferenceContext ctx(model_, params(1));
        Rows rows;
        auto keep = [&](std::span<const float> logits, int64_t count) {
            for (int64_t i = 0; i < count; ++i) {
                const auto r = row(logits, i);
                rows.emplace_back(r.begin(), r.end());
            }
        };
        keep(ctx.forward(tokens.first(prefill), prefill, llama::LogitsMode::All), prefill);
        const auto rest = static_cast<int64_t>(tokens.size()) - prefill;
        if (rest == 0) return rows;
        if (decode_rest) {
            for (int64_t i = prefill; i < static_cast<int64_t>(tokens.size()); ++i) {
                keep(ctx.forward(tokens.subspan(i, 1), 1, llama::LogitsMode::Last), 1);
            }
        } else {
            keep(ctx.forward(tokens.subspan(prefill), rest, llama::LogitsMode::All), rest);
        }
        return rows;
    }

    Reference ref_;
    llama::LlamaModel model_;
    int64_t vocab_ = 0;
    std::vector<std::vector<int32_t>> prompts_;
};

// One step of a schedule: `count` more tokens of sequence `seq`, all with logits.
struct Piece {
    int64_t seq, count;
};

// Runs every prompt through one context by the schedule (one decode() per step, the rest of every
// sequence one token per step afterwards) and returns each sequence's logits by position.
std::vector<Rows> run_schedule(llama::InferenceContext& ctx,
                               const std::vector<std::vector<int32_t>>& prompts,
                               const std::vector<std::vector<Piece>>& steps) {
    std::vector<Rows> rows(prompts.size());
    std::vector<int64_t> done(prompts.size(), 0);
    auto run = [&](const std::vector<Piece>& step) {
        llama::Batch batch;
        for (const Piece& piece : step) {
            for (int64_t i = 0; i < piece.count; ++i) {
                const int64_t pos = done[piece.seq]++;
                batch.add(prompts[piece.seq][pos], piece.seq, pos, true);
            }
        }
        ctx.decode(batch);
        for (size_t i = 0; i < batch.size(); ++i) {
            const auto r = ctx.logits(i);
            rows[batch[i].seq].emplace_back(r.begin(), r.end());
        }
    };
    for (const auto& step : steps) run(step);
    while (true) {
        std::vector<Piece> step;
        for (size_t s = 0; s < prompts.size(); ++s) {
            if (done[s] < static_cast<int64_t>(prompts[s].size())) {
                step.push_back({static_cast<int64_t>(s), 1});
            }
        }
        if (step.empty()) break;
        run(step);
    }
    return rows;
}

TEST_P(Batches, RaggedBatchesMatchEachSequenceAlone) {
    // Sequence 0 starts with a prefill beside sequence 1's first token; sequence 2 starts later
    // with a prefill beside decode tokens; a prompt chunk of 2 runs beside 1-token steps; sequence
    // 0 appears twice in one batch (two runs, the second attending to the first's keys).
    const std::vector<std::vector<Piece>> steps = {
        {{0, 6}, {1, 1}},
        {{1, 1}, {0, 1}, {2, 4}},
        {{2, 3}, {0, 1}, {1, 2}},
        {{0, 1}, {2, 1}, {0, 1}},
    };
    std::vector<Rows> expected;
    for (const auto& prompt : prompts_) expected.push_back(alone(prompt, n(), false));

    for (const int64_t n_batch : {512, 3}) {
        llama::InferenceContext ctx(model_, params(3, n_batch));
        const std::vector<Rows> got = run_schedule(ctx, prompts_, steps);
        for (size_t s = 0; s < prompts_.size(); ++s) {
            ASSERT_EQ(static_cast<int64_t>(got[s].size()), n());
            EXPECT_EQ(ctx.seq_length(static_cast<int64_t>(s)), n());
            for (int64_t pos = 0; pos < n(); ++pos) {
                const std::string where = GetParam() + " n_batch " + std::to_string(n_batch) +
                                          ", sequence " + std::to_string(s) + ", position " +
                                          std::to_string(pos);
                EXPECT_LE(relative_deviation<float>(got[s][pos], expected[s][pos]),
                          kEngineTolerance)
                    << where << " vs the sequence alone";
                if (s == 0) {
                    EXPECT_LE(relative_deviation<double>(got[s][pos], ref_.logits[pos]),
                              kReferenceTolerance)
                        << where << " vs the reference";
                }
            }
        }
    }
}

TEST_P(Batches, DecodeStepsOfSeveralSequencesAreBitIdenticalToEachAlone) {
    // Each sequence prefilled in a batch of its own, then one token of every sequence per
    // decode(): a few tokens run the same matrix-vector kernels as one, so nothing may change.
    const int64_t prefill = n() / 2;
    llama::InferenceContext ctx(model_, params(3));
    std::vector<Rows> got(3);
    for (int64_t s = 0; s < 3; ++s) {
        llama::Batch batch;
        batch.add_sequence(std::span(prompts_[s]).first(prefill), s, 0, true);
        ctx.decode(batch);
        for (int64_t i = 0; i < prefill; ++i) {
            const auto r = ctx.logits(i);
            got[s].emplace_back(r.begin(), r.end());
        }
    }
    for (int64_t pos = prefill; pos < n(); ++pos) {
        llama::Batch batch;
        for (int64_t s = 2; s >= 0; --s) batch.add(prompts_[s][pos], s, pos, true);  // any order
        const auto logits = ctx.decode(batch);
        ASSERT_EQ(static_cast<int64_t>(logits.size()), 3 * vocab_);
        for (size_t i = 0; i < batch.size(); ++i) {
            EXPECT_TRUE(bit_identical(ctx.logits(i), row(logits, static_cast<int64_t>(i))));
            const auto r = ctx.logits(i);
            got[batch[i].seq].emplace_back(r.begin(), r.end());
        }
    }
    for (int64_t s = 0; s < 3; ++s) {
        const Rows expected = alone(prompts_[s], prefill, true);
        for (int64_t pos = 0; pos < n(); ++pos) {
            EXPECT_TRUE(bit_identical(got[s][pos], expected[pos]))
                << GetParam() << " sequence " << s << ", position " << pos;
        }
    }
}

TEST_P(Batches, OnlyTheRequestedLogitsComeBack) {
    llama::InferenceContext ctx(model_, params(2));
    llama::Batch batch;
    batch.add_sequence(std::span(prompts_[0]).first(4), 0, 0);  // logits of the last only
    batch.add(prompts_[1][0], 1, 0, false);
    batch.add(prompts_[1][1], 1, 1, true);
    const auto logits = ctx.decode(batch);
    ASSERT_EQ(static_cast<int64_t>(logits.size()), 2 * vocab_);
    EXPECT_TRUE(bit_identical(ctx.logits(3), row(logits, 0)));
    EXPECT_TRUE(bit_identical(ctx.logits(5), row(logits, 1)));
    const Rows first = alone(std::span(prompts_[0]).first(4), 4, false);
    EXPECT_LE(relative_deviation<float>(ctx.logits(3), first[3]), kEngineTolerance);
}

TEST_P(Batches, TruncateThenDecodeEqualsAFreshRun) {
    // Prompt reuse: a cached prompt, a continuation that is thrown away, then another one.
    const int64_t prefix = n() / 2;
    const std::span<const int32_t> tokens = ref_.tokens;
    llama::InferenceContext ctx(model_, params(2));
    ctx.decode(llama::Batch().add_sequence(prompts_[2], 1, 0));  // another sequence, untouched
    ctx.decode(llama::Batch().add_sequence(tokens.first(prefix), 0, 0, true));
    ctx.decode(llama::Batch().add_sequence(std::span(prompts_[1]).first(3), 0, prefix, true));
    ASSERT_EQ(ctx.seq_length(0), prefix + 3);
    ctx.seq_truncate(0, prefix);
    EXPECT_EQ(ctx.seq_length(0), prefix);
    EXPECT_EQ(ctx.seq_length(1), n());
    const auto continued =
        ctx.decode(llama::Batch().add_sequence(tokens.subspan(prefix), 0, prefix, true));

    const Rows fresh = alone(tokens, prefix, false);
    for (int64_t i = 0; i < n() - prefix; ++i) {
        EXPECT_TRUE(bit_identical(row(continued, i), fresh[prefix + i]))
            << GetParam() << " position " << prefix + i;
        EXPECT_LE(relative_deviation<double>(row(continued, i), ref_.logits[prefix + i]),
                  kReferenceTolerance);
    }

    // Truncating to nothing (= clearing) starts the sequence over.
    ctx.seq_clear(0);
    EXPECT_EQ(ctx.seq_length(0), 0);
    const auto again = ctx.decode(llama::Batch().add_sequence(tokens.first(prefix), 0, 0, true));
    for (int64_t i = 0; i < prefix; ++i) EXPECT_TRUE(bit_identical(row(again, i), fresh[i]));
}

TEST_P(Batches, CopiedSequenceContinuesLikeItsSource) {
    // A shared prefix decoded once, copied into two sequences (one of which held something
    // longer), each continued separately: both continue exactly as a fresh run does.
    const int64_t prefix = n() / 2;
    const std::span<const int32_t> tokens = ref_.tokens;
    llama::InferenceContext ctx(model_, params(3));
    ctx.decode(llama::Batch().add_sequence(prompts_[1], 2, 0));
    ctx.decode(llama::Batch().add_sequence(tokens.first(prefix), 0, 0));
    ctx.seq_copy(0, 1);
    ctx.seq_copy(0, 2);
    ctx.seq_copy(0, 0);  // a no-op
    for (int64_t s = 0; s < 3; ++s) EXPECT_EQ(ctx.seq_length(s), prefix);

    const Rows fresh = alone(tokens, prefix, false);
    for (int64_t s : {2, 0, 1}) {
        const auto continued =
            ctx.decode(llama::Batch().add_sequence(tokens.subspan(prefix), s, prefix, true));
        for (int64_t i = 0; i < n() - prefix; ++i) {
            EXPECT_TRUE(bit_identical(row(continued, i), fresh[prefix + i]))
                << GetParam() << " sequence " << s << ", position " << prefix + i;
        }
        EXPECT_EQ(ctx.seq_length(s), n());
    }
}

TEST_P(Batches, LockstepForwardContinuesSequencesOfDifferentLengths) {
    // forward() appends after what each sequence holds, wherever decode() left it.
    llama::InferenceContext ctx(model_, params(2));
    ctx.decode(llama::Batch().add_sequence(std::span(prompts_[0]).first(3), 0, 0));
    ctx.decode(llama::Batch().add_sequence(std::span(prompts_[1]).first(5), 1, 0));
    const int32_t next[2] = {prompts_[0][3], prompts_[1][5]};
    const auto logits = ctx.forward(next, 1, llama::LogitsMode::Last);
    EXPECT_EQ(ctx.seq_length(0), 4);
    EXPECT_EQ(ctx.seq_length(1), 6);
    const Rows first = alone(std::span(prompts_[0]).first(4), 4, false);
    const Rows second = alone(std::span(prompts_[1]).first(6), 6, false);
    EXPECT_LE(relative_deviation<float>(row(logits, 0), first[3]), kEngineTolerance);
    EXPECT_LE(relative_deviation<float>(row(logits, 1), second[5]), kEngineTolerance);
}

// Calls f, which must throw llama::Error with `text` in its message.
void expect_error(const std::function<void()>& f, const std::string& text) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one mentioning \"" << text << "\"";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos)
            << "\"" << e.what() << "\" does not mention \"" << text << "\"";
    }
}

TEST_P(Batches, RejectsBadBatchesAndLeavesTheCacheAsItWas) {
    llama::ContextParams p = params(2);
    p.n_ctx = 8;
    llama::InferenceContext ctx(model_, p);
    const int32_t t = ref_.tokens[1];
    auto decode = [&](const llama::Batch& batch) { return [&ctx, batch] { ctx.decode(batch); }; };

    expect_error(decode(llama::Batch()), "empty");
    expect_error(decode(llama::Batch().add(t, -1, 0)), "sequence id -1 is out of range");
    expect_error(decode(llama::Batch().add(t, 2, 0)), "sequence id 2 is out of range");
    expect_error(decode(llama::Batch().add(-1, 0, 0)), "token id -1 is outside the vocabulary");
    expect_error(decode(llama::Batch().add(static_cast<int32_t>(vocab_), 0, 0)),
                 "outside the vocabulary");
    expect_error(decode(llama::Batch().add(t, 0, 1)), "the next position is 0");  // a gap
    expect_error(decode(llama::Batch().add(t, 0, 0).add(t, 0, 0)), "the next position is 1");

    // Three held by sequence 0; a batch that is good but for its last entry changes nothing.
    ctx.decode(llama::Batch().add(t, 0, 0).add(t, 0, 1).add(t, 0, 2, true));
    expect_error(decode(llama::Batch().add(t, 1, 0).add(t, 0, 3).add(t, 0, 2)),
                 "batch entry 2: position 2 of sequence 0");
    expect_error(decode(llama::Batch().add(t, 1, 0).add(t, 1, 1).add(-5, 0, 3)), "token id -5");
    EXPECT_EQ(ctx.seq_length(0), 3);
    EXPECT_EQ(ctx.seq_length(1), 0);

    // Full: sequence 1 may take 8 tokens, not 9; sequence 0 5 more, not 6.
    std::vector<int32_t> nine(9, t);
    expect_error(decode(llama::Batch().add_sequence(nine, 1, 0)), "context is full");
    expect_error(decode(llama::Batch().add_sequence(std::span(nine).first(6), 0, 3)),
                 "context is full");
    EXPECT_EQ(ctx.seq_length(0), 3);
    EXPECT_EQ(ctx.seq_length(1), 0);
    ctx.decode(llama::Batch().add_sequence(std::span(nine).first(8), 1, 0));
    EXPECT_EQ(ctx.seq_length(1), 8);
    expect_error(decode(llama::Batch().add(t, 1, 8)), "context is full");
    const int32_t lockstep[2] = {t, t};
    expect_error([&] { ctx.forward(lockstep, 1); }, "context is full");

    // Logits of entries that did not ask for them, or that do not exist.
    ctx.decode(llama::Batch().add(t, 0, 3, false).add(t, 0, 4, true));
    EXPECT_EQ(ctx.logits(1).size(), static_cast<size_t>(vocab_));
    expect_error([&] { ctx.logits(0); }, "did not ask");
    expect_error([&] { ctx.logits(2); }, "has 2 entries");

    // Sequence operations.
    expect_error([&] { ctx.seq_length(-1); }, "sequence id -1 is out of range");
    expect_error([&] { ctx.seq_length(2); }, "sequence id 2 is out of range");
    expect_error([&] { ctx.seq_clear(7); }, "sequence id 7");
    expect_error([&] { ctx.seq_truncate(0, 6); }, "it holds 5");
    expect_error([&] { ctx.seq_truncate(0, -1); }, "cannot truncate");
    expect_error([&] { ctx.seq_copy(0, 2); }, "sequence id 2");
    expect_error([&] { ctx.seq_copy(-3, 0); }, "sequence id -3");
    EXPECT_EQ(ctx.seq_length(0), 5);
    EXPECT_EQ(ctx.seq_length(1), 8);
}

INSTANTIATE_TEST_SUITE_P(Models, Batches,
                         ::testing::Values("tiny-gqa-f32", "tiny-gqa-bf16-sharded", "tiny-mha-f16",
                                           "kjv-tiny"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

}  // namespace
