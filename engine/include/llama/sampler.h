#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace llama {

// The defaults are llama.cpp's (common/common.h), so the same request samples alike in both.
struct SamplerParams {
    float temperature = 0.8f;        // <= 0: greedy (argmax after the penalties)
    int32_t top_k = 40;              // <= 0 or >= vocab: keep every token
    float top_p = 0.95f;             // >= 1: keep every token
    float min_p = 0.05f;             // keep tokens with p >= min_p * p(most likely); 0: off
    float repeat_penalty = 1.0f;     // 1: off
    float presence_penalty = 0.0f;   // subtracted once from every recent token's logit; 0: off
    float frequency_penalty = 0.0f;  // subtracted per occurrence in the recent tokens; 0: off
    int32_t repeat_last_n = 64;      // how many recent tokens the penalties look at; 0: off
    uint64_t seed = 0;
};

// One candidate token and its probability after softmax.
struct TokenProb {
    int32_t id;
    float prob;
};

// Picks the next token from a row of logits, llama.cpp style: repetition, presence and frequency
// penalties, top-k, min-p (on the logits, so before temperature, as in llama.cpp's chain), softmax
// with temperature, top-p, then a draw from the remaining distribution. The same seed and the
// same logits give the same tokens.
class Sampler {
  public:
    explicit Sampler(const SamplerParams& params);

    // Samples a token and does not record it; call accept() with the token that is kept.
    int32_t sample(std::span<const float> logits);
    // The distribution sample() draws from for `logits` (after every step), most probable
    // first; empty when sampling is greedy. Draws nothing.
    std::vector<TokenProb> distribution(std::span<const float> logits);
    // Records a token (prompt or generated) for the repetition penalty.
    void accept(int32_t token);
    void reset();  // forgets the history and restarts the random sequence from the seed

    const SamplerParams& params() const { return params_; }
    std::span<const int32_t> recent_tokens() const { return recent_; }

    // The steps, exposed for tests and other callers.

    // llama.cpp's penalty: each distinct token in `recent` gets logit / penalty when its logit
    // is positive and logit * penalty otherwise, once however often it occurs.
    static void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> recent,
                                         float penalty);
    // OpenAI's presence and frequency penalties, as llama.cpp applies them: a token occurring c > 0
    // times in `recent` loses c * frequency + presence from its logit.
    static void apply_presence_frequency_penalty(std::span<float> logits,
                                                 std::span<const int32_t> recent, float presence,
                                                 float frequency);
    // Sets every logit below max + log(p) to -inf: what remains has probability at least p times
    // the most likely token's at temperature 1. Does nothing when p <= 0.
    static void min_p(std::span<float> logits, float p);
    // Index of the largest logit (the lowest index among equals).
    static int32_t argmax(std::span<const float> logits);
    // The k tokens with the largest logits, largest first, with probabilities
    // softmax(logit / temperature) over the kept tokens. When k <= 0 or k >= size every token is
    // kept, in id order: sorting the whole vocabulary is left to top_p, which needs only a prefix.
    static std::vector<TokenProb> top_k_softmax(std::span<const float> logits, int32_t k,
                                                float temperature);
    // Keeps the fewest most probable candidates whose mass reaches p (at least one token), in
    // descending order of probability (ties by id), and renormalizes them. Does nothing when
    // p >= 1.
    static void top_p(std::vector<TokenProb>& candidates, float p);

  private:
    void penalize(std::span<const float> logits);         // scratch_ = logits after the penalties
    std::vector<TokenProb> candidates_after_penalties();  // top-k, min-p, softmax, top-p

    SamplerParams params_;
    std::mt19937_64 rng_;
    std::vector<int32_t> recent_;  // the last repeat_last_n accepted tokens, oldest first
    std::vector<float> scratch_;
};

}  // namespace llama
