// Serves several prompts at once with the batch API: each prompt gets its own sequence of one
// InferenceContext and its own sampler. Each prompt is prefilled as it arrives; then every step
// runs the next token of all unfinished sequences in one decode() call, and each sequence stops on
// its own (end of sequence, token limit or full context). Prints each prompt's text in order.
//
// Usage: batch MODEL N_PREDICT PROMPT...   (greedy sampling, one thread: the same text as
// `llama-run -m MODEL -n N_PREDICT --temp 0 -t 1 -p PROMPT` for each prompt)

#include "llama/batch.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/log.h"
#include "llama/model.h"
#include "llama/sampler.h"
#include "llama/tokenizer.h"

namespace {

// One request: its sequence and sampler, and its text so far.
struct Request {
    int64_t seq;
    llama::Sampler sampler;
    llama::StreamingDecoder decoder;
    std::string text;
    int64_t cached = 0;     // tokens in the sequence's cache
    int64_t generated = 0;  // tokens sampled and kept
    int32_t next = -1;      // the sampled token to run next
    bool done = false;
};

// Samples r's next token from its logits and decides whether r goes on, as llama::generate does.
void sample(Request& r, std::span<const float> logits, const llama::Tokenizer& tokenizer,
            int64_t n_predict, int64_t n_ctx) {
    if (n_predict == 0) {
        r.done = true;
        return;
    }
    const int32_t token = r.sampler.sample(logits.first(tokenizer.vocab_size()));
    if (token == tokenizer.eos_id()) {
        r.done = true;
    } else {
        r.sampler.accept(token);
        r.text += r.decoder.push(token);
        ++r.generated;
        r.next = token;
        // No room to run it and sample another: stop here.
        r.done = (n_predict >= 0 && r.generated >= n_predict) || r.cached + 1 >= n_ctx;
    }
    if (r.done) r.text += r.decoder.flush();
}

int run(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s MODEL N_PREDICT PROMPT...\n", argv[0]);
        return 1;
    }
    // The library logs what it loads on stdout, which carries the text here: warnings only.
    llama::set_log_level(llama::LogLevel::Warn);

    const llama::LlamaModel model = llama::load_model(argv[1]);
    const llama::Tokenizer tokenizer = llama::Tokenizer::load(argv[1]);
    const int64_t n_predict = std::atoll(argv[2]);
    const int n_prompts = argc - 3;

    llama::ContextParams params;
    params.n_seqs = n_prompts;  // one sequence per prompt
    llama::InferenceContext context(model, params);
    llama::SamplerParams sampling;
    sampling.temperature = 0.0f;  // greedy

    // Prefill: one decode() per prompt, as requests arriving one by one would be.
    std::vector<Request> requests;
    requests.reserve(n_prompts);
    for (int i = 0; i < n_prompts; ++i) {
        Request& r = requests.emplace_back(
            Request{i, llama::Sampler(sampling), llama::StreamingDecoder(tokenizer), argv[3 + i]});
        const std::vector<int32_t> tokens = tokenizer.encode(r.text, /*add_bos=*/true);
        if (static_cast<int64_t>(tokens.size()) >= context.n_ctx()) {
            throw llama::Error("prompt " + std::to_string(i) + " does not fit in the context");
        }
        for (int32_t t : tokens) {
            r.sampler.accept(t);
            r.decoder.push(t);  // sets the spacing state; the prompt's text is r.text already
        }
        context.decode(llama::Batch().add_sequence(tokens, r.seq, 0));  // logits of the last
        r.cached = static_cast<int64_t>(tokens.size());
        sample(r, context.logits(tokens.size() - 1), tokenizer, n_predict, context.n_ctx());
    }

    // Decode: the next token of every unfinished sequence in one batch per step.
    llama::Batch batch;
    std::vector<Request*> in_batch;
    while (true) {
        batch.clear();
        in_batch.clear();
        for (Request& r : requests) {
            if (r.done) continue;
            batch.add(r.next, r.seq, r.cached, /*logits=*/true);
            in_batch.push_back(&r);
        }
        if (batch.empty()) break;
        context.decode(batch);
        for (size_t i = 0; i < in_batch.size(); ++i) {
            Request& r = *in_batch[i];
            ++r.cached;
            sample(r, context.logits(i), tokenizer, n_predict, context.n_ctx());
            if (r.done) {
                std::fprintf(stderr, "sequence %lld done: %lld tokens generated\n",
                             static_cast<long long>(r.seq), static_cast<long long>(r.generated));
            }
        }
    }
    for (const Request& r : requests) std::printf("%s\n", r.text.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
