#include "llama/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "llama/error.h"

namespace {

using llama::Sampler;
using llama::SamplerParams;
using llama::TokenProb;

std::vector<float> random_logits(size_t n, uint32_t seed, float scale = 3.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> logits(n);
    for (auto& l : logits) l = dist(rng);
    return logits;
}

// Reference: ids sorted by logit, largest first (ties by lower id).
std::vector<int32_t> ranked(const std::vector<float>& logits) {
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    return ids;
}

// Reference softmax(logits / temperature) in double.
std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
    const double max = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(logits.size());
    double sum = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) {
        p[i] = std::exp((logits[i] - max) / temperature);
        sum += p[i];
    }
    for (auto& x : p) x /= sum;
    return p;
}

void check_top_p(const std::vector<float>& logits);

SamplerParams plain(float temperature, int top_k, float top_p, uint64_t seed = 1) {
    SamplerParams params;
    params.temperature = temperature;
    params.top_k = top_k;
    params.top_p = top_p;
    params.min_p = 0.0f;
    params.repeat_penalty = 1.0f;
    params.repeat_last_n = 0;
    params.seed = seed;
    return params;
}

// Expects `got` (most probable first) to be exactly `expected`: {id, probability} pairs.
void expect_distribution(const std::vector<TokenProb>& got,
                         const std::vector<std::pair<int32_t, double>>& expected) {
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(got[i].id, expected[i].first) << "rank " << i;
        EXPECT_NEAR(got[i].prob, expected[i].second, 1e-5) << "rank " << i;
    }
}

TEST(Sampler, GreedyIsArgmax) {
    for (uint32_t seed = 0; seed < 50; ++seed) {
        const auto logits = random_logits(1000, seed);
        Sampler sampler(plain(0.0f, 40, 0.95f, seed));
        const auto expected = std::max_element(logits.begin(), logits.end()) - logits.begin();
        EXPECT_EQ(sampler.sample(logits), expected);
        EXPECT_EQ(Sampler::argmax(logits), expected);
    }
    // Negative temperatures are greedy too.
    const auto logits = random_logits(100, 99);
    Sampler sampler(plain(-1.0f, 0, 1.0f));
    EXPECT_EQ(sampler.sample(logits), ranked(logits)[0]);
}

TEST(Sampler, TopKNeverSamplesOutsideTheK) {
    const auto logits = random_logits(500, 3, 1.0f);
    for (int k : {1, 2, 5, 20}) {
        const auto order = ranked(logits);
        const std::set<int32_t> allowed(order.begin(), order.begin() + k);
        Sampler sampler(plain(5.0f, k, 1.0f, 42 + k));  // hot: the tail would be likely
        std::set<int32_t> seen;
        for (int draw = 0; draw < 3000; ++draw) {
            const int32_t token = sampler.sample(logits);
            ASSERT_TRUE(allowed.count(token)) << "k=" << k << " sampled " << token;
            seen.insert(token);
        }
        EXPECT_EQ(seen.size(), static_cast<size_t>(k)) << "every one of the k should turn up";
    }
}

TEST(Sampler, TopKSoftmaxMatchesReference) {
    const auto logits = random_logits(64, 11);
    for (float temperature : {0.5f, 1.0f, 2.0f}) {
        const int k = 10;
        const auto kept = Sampler::top_k_softmax(logits, k, temperature);
        const auto order = ranked(logits);
        std::vector<float> top(k);
        for (int i = 0; i < k; ++i) top[i] = logits[order[i]];
        const auto expected = softmax(top, temperature);
        ASSERT_EQ(kept.size(), static_cast<size_t>(k));
        for (int i = 0; i < k; ++i) {
            EXPECT_EQ(kept[i].id, order[i]);
            EXPECT_NEAR(kept[i].prob, expected[i], 1e-6);
        }
    }
    // k <= 0 and k >= n keep every token.
    EXPECT_EQ(Sampler::top_k_softmax(logits, 0, 1.0f).size(), logits.size());
    EXPECT_EQ(Sampler::top_k_softmax(logits, 1000, 1.0f).size(), logits.size());
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
    // Flat distributions over a large vocabulary need big nuclei (several rounds of top_p's
    // growing sort); peaked ones small.
    for (const auto& [n, scale] : {std::pair{200, 2.0f}, std::pair{5000, 0.5f}}) {
        SCOPED_TRACE("n=" + std::to_string(n));
        check_top_p(random_logits(n, 5, scale));
    }
}

void check_top_p(const std::vector<float>& logits) {
    // Every token, in id order; the reference sorts them by probability itself.
    const auto unsorted = Sampler::top_k_softmax(logits, 0, 1.0f);
    ASSERT_EQ(unsorted.size(), logits.size());
    auto all = unsorted;
    std::stable_sort(all.begin(), all.end(),
                     [](const TokenProb& a, const TokenProb& b) { return a.prob > b.prob; });
    for (float p : {0.1f, 0.3f, 0.5f, 0.9f, 0.99f, 0.99999f}) {
        // Reference: shortest prefix of the sorted distribution with mass >= p.
        size_t expected_size = 0;
        double mass = 0.0;
        while (mass < p) mass += all[expected_size++].prob;
        auto kept = unsorted;
        Sampler::top_p(kept, p);
        ASSERT_EQ(kept.size(), expected_size) << "p=" << p;
        double kept_mass = 0.0;
        for (size_t i = 0; i < kept.size(); ++i) {
            EXPECT_EQ(kept[i].id, all[i].id);
            kept_mass += kept[i].prob;
        }
        EXPECT_NEAR(kept_mass, 1.0, 1e-5);
        // The prefix one shorter would not have reached p.
        double shorter = 0.0;
        for (size_t i = 0; i + 1 < expected_size; ++i) shorter += all[i].prob;
        EXPECT_LT(shorter, p);
    }
    auto one = unsorted;
    Sampler::top_p(one, 1e-9f);
    EXPECT_EQ(one.size(), 1u) << "at least one token is always kept";
}

TEST(Sampler, TopPNeverSamplesOutsideTheNucleus) {
    const auto logits = random_logits(300, 8, 2.0f);
    const float p = 0.6f;
    auto nucleus = Sampler::top_k_softmax(logits, 0, 1.0f);
    Sampler::top_p(nucleus, p);
    std::set<int32_t> allowed;
    for (const auto& t : nucleus) allowed.insert(t.id);
    Sampler sampler(plain(1.0f, 0, p, 3));
    for (int draw = 0; draw < 3000; ++draw) ASSERT_TRUE(allowed.count(sampler.sample(logits)));
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
    const std::vector<float> logits = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f};
    const double temperature = 0.7;
    const auto expected = softmax(logits, temperature);
    Sampler sampler(plain(static_cast<float>(temperature), 0, 1.0f, 2024));
    std::vector<int> counts(logits.size());
    const int n = 40000;
    for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits)];
    for (size_t i = 0; i < logits.size(); ++i) {
        // Five standard deviations of a binomial proportion: a fixed seed, so never flaky.
        const double sigma = std::sqrt(expected[i] * (1 - expected[i]) / n);
        EXPECT_NEAR(static_cast<double>(counts[i]) / n, expected[i], 5 * sigma) << "token " << i;
    }
}

TEST(Sampler, SameSeedSameSequence) {
    const auto logits = random_logits(1000, 21, 1.5f);
    SamplerParams params;  // the defaults: temperature, top-k, top-p and penalty all on
    params.seed = 1234;
    Sampler a(params), b(params);
    std::vector<int32_t> seq_a, seq_b;
    for (int i = 0; i < 300; ++i) {
        seq_a.push_back(a.sample(logits));
        a.accept(seq_a.back());
        seq_b.push_back(b.sample(logits));
        b.accept(seq_b.back());
    }
    EXPECT_EQ(seq_a, seq_b);

    // reset() replays the same sequence.
    a.reset();
    std::vector<int32_t> replay;
    for (int i = 0; i < 300; ++i) {
        replay.push_back(a.sample(logits));
        a.accept(replay.back());
    }
    EXPECT_EQ(replay, seq_a);
}

TEST(Sampler, DifferentSeedsDiffer) {
    const auto logits = random_logits(1000, 22, 1.0f);
    std::set<std::vector<int32_t>> sequences;
    for (uint64_t seed = 0; seed < 5; ++seed) {
        Sampler sampler(plain(1.0f, 0, 1.0f, seed));
        std::vector<int32_t> seq;
        for (int i = 0; i < 50; ++i) seq.push_back(sampler.sample(logits));
        sequences.insert(seq);
    }
    EXPECT_EQ(sequences.size(), 5u);
}

TEST(Sampler, RepetitionPenaltyMath) {
    const std::vector<float> original = {2.0f, -2.0f, 0.5f, 0.0f, -0.25f, 3.0f};
    const std::vector<int32_t> recent = {0, 1, 1, 3, 4, 4, 4, 77, -1};  // repeats, out of range
    const float penalty = 1.5f;
    std::vector<float> logits = original;
    Sampler::apply_repetition_penalty(logits, recent, penalty);
    const std::set<int32_t> penalized(recent.begin(), recent.end());
    for (size_t i = 0; i < original.size(); ++i) {
        float expected = original[i];
        if (penalized.count(static_cast<int32_t>(i))) {
            // llama.cpp: shrink positive logits, push negative ones further down, once each.
            expected = original[i] > 0 ? original[i] / penalty : original[i] * penalty;
        }
        EXPECT_FLOAT_EQ(logits[i], expected) << "token " << i;
    }
    std::vector<float> unchanged = original;
    Sampler::apply_repetition_penalty(unchanged, recent, 1.0f);
    EXPECT_EQ(unchanged, original);
}

TEST(Sampler, RepetitionPenaltyChangesGreedyChoice) {
    // Token 0 leads narrowly; once it is recent, the penalty hands the win to token 1.
    const std::vector<float> logits = {2.0f, 1.9f, 0.1f};
    SamplerParams params = plain(0.0f, 0, 1.0f);
    params.repeat_penalty = 1.2f;
    params.repeat_last_n = 4;
    Sampler sampler(params);
    EXPECT_EQ(sampler.sample(logits), 0);
    sampler.accept(0);
    EXPECT_EQ(sampler.sample(logits), 1);
    // After repeat_last_n other tokens, token 0 is out of the window again.
    for (int i = 0; i < 4; ++i) sampler.accept(2);
    EXPECT_EQ(sampler.sample(logits), 0);
}

TEST(Sampler, HistoryKeepsTheLastN) {
    SamplerParams params = plain(1.0f, 0, 1.0f);
    params.repeat_last_n = 3;
    Sampler sampler(params);
    for (int32_t t = 0; t < 10; ++t) sampler.accept(t);
    const auto recent = sampler.recent_tokens();
    EXPECT_EQ(std::vector<int32_t>(recent.begin(), recent.end()), (std::vector<int32_t>{7, 8, 9}));
}

TEST(Sampler, DefaultsAreLlamaCppOnes) {
    const SamplerParams params;
    EXPECT_FLOAT_EQ(params.temperature, 0.8f);
    EXPECT_EQ(params.top_k, 40);
    EXPECT_FLOAT_EQ(params.top_p, 0.95f);
    EXPECT_FLOAT_EQ(params.min_p, 0.05f);
    EXPECT_FLOAT_EQ(params.repeat_penalty, 1.0f);
    EXPECT_FLOAT_EQ(params.presence_penalty, 0.0f);
    EXPECT_FLOAT_EQ(params.frequency_penalty, 0.0f);
    EXPECT_EQ(params.repeat_last_n, 64);
}

TEST(Sampler, MinPMasksLogitsBelowTheThreshold) {
    // Probabilities relative to the best: 1, 0.5, 0.1, 0.04. With p = 0.05 only the last one is
    // below log(0.05) ~ -3.00 (log(0.04) ~ -3.22).
    std::vector<float> logits = {0.0f, std::log(0.5f), std::log(0.1f), std::log(0.04f)};
    const std::vector<float> original = logits;
    Sampler::min_p(logits, 0.05f);
    EXPECT_EQ(logits[0], original[0]);
    EXPECT_EQ(logits[1], original[1]);
    EXPECT_EQ(logits[2], original[2]);
    EXPECT_EQ(logits[3], -std::numeric_limits<float>::infinity());
    std::vector<float> off = original;
    Sampler::min_p(off, 0.0f);
    EXPECT_EQ(off, original);
}

TEST(Sampler, MinPDistributionByHand) {
    // p = {0.6, 0.25, 0.1, 0.04, 0.01}; min-p 0.1 keeps p >= 0.06: the first three.
    const std::vector<float> logits = {std::log(0.25f), std::log(0.6f), std::log(0.01f),
                                       std::log(0.1f), std::log(0.04f)};
    SamplerParams params = plain(1.0f, 0, 1.0f);
    params.min_p = 0.1f;
    Sampler sampler(params);
    // Renormalized over the three: 0.6/0.95, 0.25/0.95, 0.1/0.95.
    expect_distribution(sampler.distribution(logits),
                        {{1, 0.631579}, {0, 0.263158}, {3, 0.105263}});
    // Temperature 2 after min-p (which looks at the logits, as llama.cpp's chain does): the same
    // three tokens, p proportional to sqrt(0.6), sqrt(0.25), sqrt(0.1) = 0.774597, 0.5, 0.316228
    // (sum 1.590825).
    params.temperature = 2.0f;
    Sampler hot(params);
    expect_distribution(hot.distribution(logits), {{1, 0.486915}, {0, 0.314302}, {3, 0.198783}});
    // Sampling never leaves the kept set.
    for (int draw = 0; draw < 2000; ++draw) {
        const int32_t token = hot.sample(logits);
        ASSERT_TRUE(token == 0 || token == 1 || token == 3) << token;
    }
}

TEST(Sampler, PresenceAndFrequencyPenaltyMath) {
    std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
    const std::vector<int32_t> recent = {0, 0, 2, 99, -3};  // out-of-range ids are ignored
    Sampler::apply_presence_frequency_penalty(logits, recent, 0.5f, 0.25f);
    // token 0: twice -> 1 - 2 * 0.25 - 0.5; token 2: once -> 1 - 0.25 - 0.5.
    EXPECT_EQ(logits, (std::vector<float>{0.0f, 1.0f, 0.25f, 1.0f}));
    // Negative penalties (OpenAI allows -2..2) raise the logits instead.
    std::vector<float> raised = {0.0f, 0.0f};
    Sampler::apply_presence_frequency_penalty(raised, std::vector<int32_t>{1}, -1.0f, -0.5f);
    EXPECT_EQ(raised, (std::vector<float>{0.0f, 1.5f}));
}

TEST(Sampler, PenaltiesDistributionByHand) {
    const std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
    SamplerParams params = plain(1.0f, 0, 1.0f);
    params.presence_penalty = 0.5f;
    params.frequency_penalty = 0.25f;
    params.repeat_last_n = 8;
    Sampler sampler(params);
    for (int32_t token : {0, 0, 2}) sampler.accept(token);
    // Penalized logits {0, 1, 0.25, 1}: exp = 1, e, e^0.25, e; sum = 7.720589.
    expect_distribution(sampler.distribution(logits),
                        {{1, 0.352082}, {3, 0.352082}, {2, 0.166312}, {0, 0.129524}});

    // The repetition penalty comes first, then the subtraction (llama.cpp's order): logit 2 of a
    // token seen once with penalty 2 and presence 0.5 becomes 2 / 2 - 0.5 = 0.5, so greedy picks
    // the unpenalized token 1 (logit 0.9) over token 0.
    SamplerParams greedy = plain(0.0f, 0, 1.0f);
    greedy.repeat_penalty = 2.0f;
    greedy.presence_penalty = 0.5f;
    greedy.repeat_last_n = 8;
    Sampler g(greedy);
    g.accept(0);
    EXPECT_EQ(g.sample(std::vector<float>{2.0f, 0.9f, -1.0f}), 1);
    g.accept(1);  // now 0.9 / 2 - 0.5 = -0.05 for token 1; token 0 still 0.5
    EXPECT_EQ(g.sample(std::vector<float>{2.0f, 0.9f, -1.0f}), 0);
}

TEST(Sampler, AllStepsTogetherByHand) {
    // top-k 3 keeps ids 4, 1, 0 (logits 3, 2, 1); min-p 0.2 then drops id 0 (e^-2 = 0.135 < 0.2
    // relative to the best); softmax at T = 1 over {3, 2}: 0.731059, 0.268941; top-p 0.7 keeps
    // the first alone.
    const std::vector<float> logits = {1.0f, 2.0f, -5.0f, 0.5f, 3.0f};
    SamplerParams params = plain(1.0f, 3, 1.0f);
    params.min_p = 0.2f;
    Sampler sampler(params);
    expect_distribution(sampler.distribution(logits), {{4, 0.731059}, {1, 0.268941}});
    params.top_p = 0.7f;
    Sampler nucleus(params);
    expect_distribution(nucleus.distribution(logits), {{4, 1.0}});
    EXPECT_EQ(nucleus.sample(logits), 4);
    // Greedy has no distribution.
    Sampler greedy(plain(0.0f, 0, 1.0f));
    EXPECT_TRUE(greedy.distribution(logits).empty());
}

TEST(Sampler, BadParametersThrow) {
    {
        SamplerParams params = plain(1.0f, 0, 1.0f);
        params.min_p = 1.5f;
        EXPECT_THROW(Sampler{params}, llama::Error);
        params.min_p = -0.1f;
        EXPECT_THROW(Sampler{params}, llama::Error);
        params = plain(1.0f, 0, 1.0f);
        params.presence_penalty = std::numeric_limits<float>::quiet_NaN();
        EXPECT_THROW(Sampler{params}, llama::Error);
        params = plain(1.0f, 0, 1.0f);
        params.frequency_penalty = std::numeric_limits<float>::infinity();
        EXPECT_THROW(Sampler{params}, llama::Error);
    }
    EXPECT_THROW(Sampler(plain(1.0f, 0, 0.0f)), llama::Error);
    SamplerParams params = plain(1.0f, 0, 1.0f);
    params.repeat_penalty = 0.0f;
    EXPECT_THROW(Sampler{params}, llama::Error);
    params = plain(1.0f, 0, 1.0f);
    params.repeat_last_n = -1;
    EXPECT_THROW(Sampler{params}, llama::Error);
    Sampler sampler(plain(1.0f, 0, 1.0f));
    EXPECT_THROW(sampler.sample(std::vector<float>{}), llama::Error);
}

}  // namespace
