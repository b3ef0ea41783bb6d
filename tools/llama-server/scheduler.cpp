#include "scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>

namespace llama::server {

namespace {

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

}  // namespace

Scheduler::Scheduler(SlotModel& model, const Tokenizer& tokenizer, const SchedulerOptions& options,
                     Metrics& metrics)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      metrics_(metrics),
      slots_(static_cast<size_t>(model.n_slots())) {
    metrics_.set_total_slots(model.n_slots());
    thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { stop(); }

bool Scheduler::submit(std::shared_ptr<Job> job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || static_cast<int64_t>(queue_.size()) >= options_.max_queue) return false;
        queue_.push_back(std::move(job));
        metrics_.set_queue_depth(static_cast<int64_t>(queue_.size()));
    }
    wake_.notify_all();
    return true;
}

void Scheduler::notify() { wake_.notify_all(); }

void Scheduler::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Scheduler::run() {
    while (true) {
        {
            std::unique_lock lock(mutex_);
            const auto idle = [&] {
                return std::none_of(slots_.begin(), slots_.end(),
                                    [](const Slot& s) { return s.job != nullptr; });
            };
            // Sleep while there is nothing to run; cancelled jobs in the queue wake us via
            // notify() and are dropped by take_queued_jobs().
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !idle(); });
            if (stopping_) {
                for (auto& job : queue_) job->finish(FinishReason::Cancelled, 0, 0);
                queue_.clear();
                break;
            }
            take_queued_jobs();
        }
        step();
        publish_gauges();
        if (options_.step_delay_ms > 0) {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::milliseconds(options_.step_delay_ms),
                           [&] { return stopping_; });
        }
    }
    for (Slot& slot : slots_) {
        if (slot.job) finish(slot, FinishReason::Cancelled);
    }
    publish_gauges();
}

bool Scheduler::take_queued_jobs() {
    std::erase_if(queue_, [](const std::shared_ptr<Job>& job) {
        if (!job->cancelled()) return false;
        job->finish(FinishReason::Cancelled, 0, 0);
        return true;
    });
    bool started = false;
    while (!queue_.empty()) {
        // The free slot whose cache shares the longest prefix with the prompt.
        int best = -1;
        size_t best_prefix = 0;
        for (size_t i = 0; i < slots_.size(); ++i) {
            if (slots_[i].job) continue;
            const size_t prefix = common_prefix(slots_[i].cached, queue_.front()->prompt);
            if (best < 0 || prefix > best_prefix) {
                best = static_cast<int>(i);
                best_prefix = prefix;
            }
        }
        if (best < 0) break;
        start(slots_[best], best, std::move(queue_.front()));
        queue_.pop_front();
        started = true;
    }
    metrics_.set_queue_depth(static_cast<int64_t>(queue_.size()));
    return started;
}

void Scheduler::start(Slot& slot, int index, std::shared_ptr<Job> job) {
    const std::vector<int32_t>& prompt = job->prompt;
    // Reuse the cached prefix, but run at least the prompt's last token: its logits give the
    // first generated token.
    size_t reuse = std::min(common_prefix(slot.cached, prompt), prompt.size() - 1);
    if (options_.reproducible) {
        const auto chunk = static_cast<size_t>(chunk_tokens());
        reuse = std::min(reuse, slot.reusable) / chunk * chunk;
    }
    const auto kept = static_cast<size_t>(model_.truncate(index, static_cast<int64_t>(reuse)));
    slot.cached.resize(kept);
    slot.prompt_done = kept;
    slot.reusable = std::min(slot.reusable, kept);
    metrics_.add_reused_prompt_tokens(static_cast<int64_t>(kept));
    spdlog::debug("slot {}: prompt of {} tokens, {} reused from the cache", index, prompt.size(),
                  kept);
    slot.sampler.emplace(job->sampler);
    for (int32_t token : prompt) slot.sampler->accept(token);
    slot.decoder.emplace(tokenizer_);
    if (job->text_after_prompt) {
        for (int32_t token : prompt) slot.decoder->push(token);  // spacing state only
    }
    slot.stop.emplace(job->stop);
    slot.next_token = -1;
    slot.generated = 0;
    slot.job = std::move(job);
}

void Scheduler::step() {
    // Drop cancelled requests first: a client that went away frees its slot at once.
    for (Slot& slot : slots_) {
        if (slot.job && slot.job->cancelled()) finish(slot, FinishReason::Cancelled);
    }
    // The next token of every generating slot: at most n_slots tokens, which the slot model runs
    // with the one-token kernels (ContextParams::exact_batch_tokens), so each slot's logits do not
    // depend on what else is in the batch.
    std::vector<SlotToken> batch;
    for (size_t i = 0; i < slots_.size(); ++i) {
        Slot& slot = slots_[i];
        if (slot.job && !slot.prefilling() && slot.next_token >= 0) {
            batch.push_back({slot.next_token, static_cast<int>(i), true});
        }
    }
    const size_t n_generation = batch.size();
    // Then prefill chunks: up to n_batch prompt tokens of each slot still reading its prompt. A
    // prompt's chunks start where its reused prefix ends and are n_batch long whatever the load,
    // so the prompt's arithmetic does not depend on other requests either.
    // The chunks join the generation tokens' forward (the weights read once for all of them)
    // where that changes no result: in the reproducible mode while the model runs every token of
    // the forward on the one-token kernels, each token's arithmetic then its own; otherwise within
    // n_batch. Several prompts that arrive together are thus read in one forward and start
    // generating in the same step. The first prompt's chunk runs in every step either way (in a
    // forward of its own if it does not fit), so a long prompt is not held up by short ones.
    const auto chunk_size = static_cast<size_t>(chunk_tokens());
    const size_t limit =
        options_.reproducible
            ? static_cast<size_t>(std::max<int64_t>(options_.exact_batch_tokens, 0))
            : chunk_size;
    struct Chunk {
        Slot* slot;
        size_t begin, end;  // prompt positions
    };
    const auto append = [&](const Chunk& chunk, std::vector<SlotToken>& tokens) {
        const std::vector<int32_t>& prompt = chunk.slot->job->prompt;
        const auto index = static_cast<int>(chunk.slot - slots_.data());
        for (size_t k = chunk.begin; k < chunk.end; ++k) {
            tokens.push_back({prompt[k], index, k + 1 == prompt.size()});  // logits: the last
        }
    };
    std::vector<Chunk> joined;
    std::optional<Chunk> alone;
    for (size_t i = 0; i < slots_.size(); ++i) {
        Slot& slot = slots_[i];
        if (!slot.prefilling()) continue;
        size_t n = std::min(slot.job->prompt.size() - slot.prompt_done, chunk_size);
        // Aligned chunks: [k * n_batch, (k + 1) * n_batch) (the reused prefix ends on a bound).
        if (options_.reproducible) n = std::min(n, chunk_size - slot.prompt_done % chunk_size);
        const Chunk chunk{&slot, slot.prompt_done, slot.prompt_done + n};
        if (batch.size() + n > limit) {
            if (joined.empty() && !alone) alone = chunk;
            continue;
        }
        append(chunk, batch);
        joined.push_back(chunk);
    }
    // After a chunk has run: a full chunk is a prefix the slot's next request may reuse.
    const auto chunk_done = [&](const Chunk& chunk) {
        if (!options_.reproducible) {
            chunk.slot->reusable = SIZE_MAX;
        } else if (chunk.end - chunk.begin == chunk_size) {
            chunk.slot->reusable = chunk.end;
        }
    };
    if (!batch.empty()) {
        const auto start = std::chrono::steady_clock::now();
        if (run(batch)) {
            for (const Chunk& chunk : joined) chunk_done(chunk);
            if (n_generation > 0) {
                for (size_t k = 0; k < joined.size(); ++k) metrics_.count_joined_chunk();
                metrics_.add_generation(
                    static_cast<int64_t>(n_generation),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                        .count());
            }
        }
    }
    // A slot that the forward above failed lost its job (finish) and is not prefilling.
    if (alone && alone->slot->prefilling()) {
        std::vector<SlotToken> chunk;
        append(*alone, chunk);
        if (run(chunk)) chunk_done(*alone);
    }
}

bool Scheduler::run(const std::vector<SlotToken>& batch) {
    std::vector<std::span<const float>> rows;
    try {
        rows = model_.decode(batch);
    } catch (const std::exception& e) {
        // Should not happen (prompts are checked against the context); fail the requests in
        // this batch and forget their caches rather than take the server down.
        spdlog::error("decode failed: {}", e.what());
        for (const SlotToken& t : batch) {
            Slot& slot = slots_[t.slot];
            if (slot.job) finish(slot, FinishReason::Error, e.what());
            model_.truncate(t.slot, 0);
            slot.cached.clear();
        }
        return false;
    }
    size_t row = 0;
    for (const SlotToken& t : batch) {
        Slot& slot = slots_[t.slot];
        slot.cached.push_back(t.token);
        if (slot.prefilling()) ++slot.prompt_done;
        if (t.logits && slot.job) sample(slot, rows[row]);
        if (t.logits) ++row;
    }
    return true;
}

void Scheduler::sample(Slot& slot, std::span<const float> logits) {
    Job& job = *slot.job;
    const auto n_vocab = static_cast<size_t>(tokenizer_.vocab_size());
    logits = logits.first(std::min(n_vocab, logits.size()));
    const int32_t eos = tokenizer_.eos_id();
    if (job.ignore_eos && eos >= 0 && static_cast<size_t>(eos) < logits.size()) {
        row_.assign(logits.begin(), logits.end());
        row_[eos] = -std::numeric_limits<float>::infinity();
        logits = row_;
    }
    const int32_t token = slot.sampler->sample(logits);
    if (token == tokenizer_.eos_id()) {
        finish(slot, FinishReason::Stop);
        return;
    }
    slot.sampler->accept(token);
    ++slot.generated;
    job.append(slot.stop->push(slot.decoder->push(token)));
    if (slot.stop->stopped()) {
        finish(slot, FinishReason::Stop);
    } else if (job.max_tokens >= 0 && slot.generated >= job.max_tokens) {
        finish(slot, FinishReason::Length);
    } else if (static_cast<int64_t>(slot.cached.size()) >= model_.n_ctx()) {
        finish(slot, FinishReason::Length);  // no room to store this token
    } else {
        slot.next_token = token;
    }
}

void Scheduler::finish(Slot& slot, FinishReason reason, std::string error) {
    Job& job = *slot.job;
    if (reason == FinishReason::Stop || reason == FinishReason::Length) {
        if (!slot.stop->stopped()) {
            job.append(slot.stop->push(slot.decoder->flush()));
            job.append(slot.stop->flush());
        }
    }
    job.finish(reason, static_cast<int64_t>(job.prompt.size()), slot.generated, std::move(error));
    // A prompt cut short leaves its tokens in the cache: still a valid prefix for the next one.
    slot.job.reset();
    slot.next_token = -1;
}

int64_t Scheduler::chunk_tokens() const { return std::max<int64_t>(options_.n_batch, 1); }

void Scheduler::publish_gauges() {
    metrics_.set_busy_slots(std::count_if(slots_.begin(), slots_.end(),
                                          [](const Slot& s) { return s.job != nullptr; }));
}

}  // namespace llama::server
