#include "llama/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_set>

#include "llama/error.h"

namespace llama {

namespace {

// A uniform double in [0, 1) from the top 53 bits, so the sequence does not depend on how the
// standard library implements its distributions.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
    if (std::isnan(params.temperature)) throw Error("sampler temperature is NaN");
    if (!(params.top_p > 0.0f)) {
        throw Error("sampler top_p must be > 0, got " + std::to_string(params.top_p));
    }
    if (!(params.repeat_penalty > 0.0f)) {
        throw Error("sampler repeat_penalty must be > 0, got " +
                    std::to_string(params.repeat_penalty));
    }
    if (params.repeat_last_n < 0) {
        throw Error("sampler repeat_last_n must be >= 0, got " +
                    std::to_string(params.repeat_last_n));
    }
}

void Sampler::accept(int32_t token) {
    if (params_.repeat_last_n == 0) return;
    recent_.push_back(token);
    if (recent_.size() > static_cast<size_t>(params_.repeat_last_n)) {
        recent_.erase(recent_.begin());
    }
}

void Sampler::reset() {
    recent_.clear();
    rng_.seed(params_.seed);
}

void Sampler::apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> recent,
                                       float penalty) {
    if (penalty == 1.0f || recent.empty()) return;
    std::unordered_set<int32_t> seen;
    for (int32_t token : recent) {
        if (token < 0 || static_cast<size_t>(token) >= logits.size()) continue;
        if (!seen.insert(token).second) continue;
        float& logit = logits[token];
        logit = logit > 0.0f ? logit / penalty : logit * penalty;
    }
}

int32_t Sampler::argmax(std::span<const float> logits) {
    if (logits.empty()) throw Error("cannot sample from an empty logits row");
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<TokenProb> Sampler::top_k_softmax(std::span<const float> logits, int32_t k,
                                              float temperature) {
    if (logits.empty()) throw Error("cannot sample from an empty logits row");
    const size_t n = logits.size();
    const size_t keep = (k <= 0 || static_cast<size_t>(k) >= n) ? n : static_cast<size_t>(k);

    std::vector<int32_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    // Larger logit first; equal logits in index order so results do not depend on the sort.
    const auto before = [&](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), before);

    std::vector<TokenProb> kept(keep);
    const double max_logit = logits[ids[0]];
    double sum = 0.0;
    std::vector<double> weights(keep);
    for (size_t i = 0; i < keep; ++i) {
        weights[i] = std::exp((static_cast<double>(logits[ids[i]]) - max_logit) / temperature);
        sum += weights[i];
    }
    for (size_t i = 0; i < keep; ++i) {
        kept[i] = {ids[i], static_cast<float>(weights[i] / sum)};
    }
    return kept;
}

void Sampler::top_p(std::vector<TokenProb>& sorted, float p) {
    if (p >= 1.0f || sorted.empty()) return;
    double cumulative = 0.0;
    size_t keep = sorted.size();
    for (size_t i = 0; i < sorted.size(); ++i) {
        cumulative += sorted[i].prob;
        if (cumulative >= p) {
            keep = i + 1;
            break;
        }
    }
    sorted.resize(keep);
    double sum = 0.0;
    for (const auto& t : sorted) sum += t.prob;
    for (auto& t : sorted) t.prob = static_cast<float>(t.prob / sum);
}

int32_t Sampler::sample(std::span<const float> logits) {
    if (logits.empty()) throw Error("cannot sample from an empty logits row");
    scratch_.assign(logits.begin(), logits.end());
    apply_repetition_penalty(scratch_, recent_, params_.repeat_penalty);
    if (params_.temperature <= 0.0f) return argmax(scratch_);

    std::vector<TokenProb> candidates = top_k_softmax(scratch_, params_.top_k, params_.temperature);
    top_p(candidates, params_.top_p);

    const double u = uniform01(rng_);
    double cumulative = 0.0;
    for (const auto& c : candidates) {
        cumulative += c.prob;
        if (u < cumulative) return c.id;
    }
    return candidates.back().id;  // u fell in the rounding gap below 1
}

}  // namespace llama
