#include "llama/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_map>
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
    if (!(params.min_p >= 0.0f && params.min_p <= 1.0f)) {
        throw Error("sampler min_p must be in [0, 1], got " + std::to_string(params.min_p));
    }
    if (!std::isfinite(params.presence_penalty) || !std::isfinite(params.frequency_penalty)) {
        throw Error("sampler presence and frequency penalties must be finite");
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

void Sampler::apply_presence_frequency_penalty(std::span<float> logits,
                                               std::span<const int32_t> recent, float presence,
                                               float frequency) {
    if ((presence == 0.0f && frequency == 0.0f) || recent.empty()) return;
    std::unordered_map<int32_t, int> counts;
    for (int32_t token : recent) {
        if (token >= 0 && static_cast<size_t>(token) < logits.size()) ++counts[token];
    }
    for (const auto& [token, count] : counts) {
        logits[token] -= static_cast<float>(count) * frequency + presence;
    }
}

void Sampler::min_p(std::span<float> logits, float p) {
    if (p <= 0.0f || logits.empty()) return;
    const float max_logit = *std::max_element(logits.begin(), logits.end());
    const float threshold = max_logit + std::log(p);
    for (float& logit : logits) {
        if (logit < threshold) logit = -std::numeric_limits<float>::infinity();
    }
}

int32_t Sampler::argmax(std::span<const float> logits) {
    if (logits.empty()) throw Error("cannot sample from an empty logits row");
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

namespace {

// Larger probability first; equal ones in id order, so results never depend on the sort.
bool more_probable(const TokenProb& a, const TokenProb& b) {
    return a.prob > b.prob || (a.prob == b.prob && a.id < b.id);
}

}  // namespace

std::vector<TokenProb> Sampler::top_k_softmax(std::span<const float> logits, int32_t k,
                                              float temperature) {
    if (logits.empty()) throw Error("cannot sample from an empty logits row");
    const size_t n = logits.size();
    const bool all = k <= 0 || static_cast<size_t>(k) >= n;

    // Logits ride in the prob field until the softmax below.
    std::vector<TokenProb> kept(n);
    for (size_t i = 0; i < n; ++i) kept[i] = {static_cast<int32_t>(i), logits[i]};
    if (!all) {
        std::partial_sort(kept.begin(), kept.begin() + k, kept.end(), more_probable);
        kept.resize(k);
    }

    // Single-precision exp: this runs over the whole vocabulary per token when top-k is off, and
    // sampling needs no more precision than that (the sum is kept in double).
    float max_logit = kept[0].prob;
    for (const auto& t : kept) max_logit = std::max(max_logit, t.prob);
    const float inv_temperature = 1.0f / temperature;
    double sum = 0.0;
    for (auto& t : kept) {
        t.prob = std::exp((t.prob - max_logit) * inv_temperature);
        sum += t.prob;
    }
    const auto inv_sum = static_cast<float>(1.0 / sum);
    for (auto& t : kept) t.prob *= inv_sum;
    return kept;
}

void Sampler::top_p(std::vector<TokenProb>& candidates, float p) {
    if (p >= 1.0f || candidates.empty()) return;
    // Sort a growing prefix until it holds mass p: the nucleus is usually a small part of the
    // vocabulary, and sorting all of it per token would cost more than the model on small models.
    size_t sorted = 0;
    size_t keep = 0;
    double cumulative = 0.0;
    for (size_t prefix = std::min<size_t>(64, candidates.size()); keep == 0;
         prefix = std::min(prefix * 4, candidates.size())) {
        const auto middle = candidates.begin() + static_cast<std::ptrdiff_t>(prefix);
        std::nth_element(candidates.begin() + sorted, middle, candidates.end(), more_probable);
        std::sort(candidates.begin() + sorted, middle, more_probable);
        for (; sorted < prefix; ++sorted) {
            cumulative += candidates[sorted].prob;
            if (cumulative >= p) {
                keep = sorted + 1;
                break;
            }
        }
        if (keep == 0 && prefix == candidates.size()) keep = prefix;  // rounding kept it below p
    }
    candidates.resize(keep);
    double sum = 0.0;
    for (const auto& t : candidates) sum += t.prob;
    for (auto& t : candidates) t.prob = static_cast<float>(t.prob / sum);
}

void Sampler::penalize(std::span<const float> logits) {
    if (logits.empty()) throw Error("cannot sample from an empty logits row");
    scratch_.assign(logits.begin(), logits.end());
    apply_repetition_penalty(scratch_, recent_, params_.repeat_penalty);
    apply_presence_frequency_penalty(scratch_, recent_, params_.presence_penalty,
                                     params_.frequency_penalty);
}

std::vector<TokenProb> Sampler::candidates_after_penalties() {
    // top-k first (a partial sort), then min-p on the kept logits: the order does not matter,
    // both keep a prefix of the ranking, and min-p's reference is the top logit either way.
    std::vector<TokenProb> candidates;
    if (params_.min_p > 0.0f) {
        min_p(scratch_, params_.min_p);
        candidates = top_k_softmax(scratch_, params_.top_k, params_.temperature);
        // Tokens min-p removed have probability exactly 0 (exp(-inf)).
        std::erase_if(candidates, [](const TokenProb& t) { return t.prob == 0.0f; });
    } else {
        candidates = top_k_softmax(scratch_, params_.top_k, params_.temperature);
    }
    top_p(candidates, params_.top_p);
    return candidates;
}

std::vector<TokenProb> Sampler::distribution(std::span<const float> logits) {
    penalize(logits);
    if (params_.temperature <= 0.0f) return {};
    std::vector<TokenProb> candidates = candidates_after_penalties();
    std::sort(candidates.begin(), candidates.end(), more_probable);
    return candidates;
}

int32_t Sampler::sample(std::span<const float> logits) {
    penalize(logits);
    if (params_.temperature <= 0.0f) return argmax(scratch_);

    const std::vector<TokenProb> candidates = candidates_after_penalties();
    const double u = uniform01(rng_);
    double cumulative = 0.0;
    for (const auto& c : candidates) {
        cumulative += c.prob;
        if (u < cumulative) return c.id;
    }
    return candidates.back().id;  // u fell in the rounding gap below 1
}

}  // namespace llama
