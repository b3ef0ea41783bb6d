#include "llama/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace llama {

namespace {

// How long a waiting thread spins before it sleeps: longer than the gaps between the parallel
// sections of a forward pass (microseconds) and than sampling between two decode steps, short
// enough that an idle pool gives its cores back almost at once.
constexpr auto kSpin = std::chrono::microseconds(500);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

// Spins until done() or kSpin has passed; returns done().
template <class Done>
bool spin_until(Done&& done) {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= deadline) return done();
    }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)),
      spin_(static_cast<unsigned>(n_threads_) <=
            std::max(1u, std::thread::hardware_concurrency())) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_.store(true);
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_chunk(int thread) {
    if (job_schedule_ == Schedule::Guided) {
        int64_t begin = next_block_.load(std::memory_order_relaxed);
        while (begin < job_n_) {
            const int64_t share = (job_n_ - begin) / (2 * n_threads_) / job_grain_ * job_grain_;
            const int64_t end = std::min(job_n_, begin + std::max(job_grain_, share));
            // On failure `begin` is reloaded with what another thread left.
            if (next_block_.compare_exchange_weak(begin, end, std::memory_order_relaxed)) {
                (*job_)(begin, end, thread);
                begin = next_block_.load(std::memory_order_relaxed);
            }
        }
        return;
    }
    if (job_schedule_ == Schedule::Dynamic) {
        // Blocks in order, each to whichever thread is free: a thread slowed down (by another
        // process, an interrupt, its SMT sibling) takes fewer, so no one waits at the end.
        for (;;) {
            const int64_t block = next_block_.fetch_add(1, std::memory_order_relaxed);
            const int64_t begin = block * job_grain_;
            if (begin >= job_n_) return;
            (*job_)(begin, std::min(job_n_, begin + job_grain_), thread);
        }
    }
    const int64_t blocks = (job_n_ + job_grain_ - 1) / job_grain_;
    const int64_t begin_block = blocks * thread / n_threads_;
    const int64_t end_block = blocks * (thread + 1) / n_threads_;
    const int64_t begin = std::min(job_n_, begin_block * job_grain_);
    const int64_t end = std::min(job_n_, end_block * job_grain_);
    if (begin < end) (*job_)(begin, end, thread);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
    run(n, grain, fn, Schedule::Static);
}

void ThreadPool::parallel_for_dynamic(int64_t n, int64_t grain, const RangeFn& fn) {
    run(n, grain, fn, Schedule::Dynamic);
}

void ThreadPool::parallel_for_guided(int64_t n, int64_t grain, const RangeFn& fn) {
    run(n, grain, fn, Schedule::Guided);
}

void ThreadPool::run(int64_t n, int64_t grain, const RangeFn& fn, Schedule schedule) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    if (n_threads_ == 1 || n <= grain) {
        // One block per call for Dynamic, as with several threads; the whole range otherwise.
        const int64_t step = schedule == Schedule::Dynamic ? grain : n;
        for (int64_t begin = 0; begin < n; begin += step) fn(begin, std::min(n, begin + step), 0);
        return;
    }
    job_ = &fn;
    job_n_ = n;
    job_grain_ = grain;
    job_schedule_ = schedule;
    next_block_.store(0, std::memory_order_relaxed);
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        // Under the mutex, so a worker that found no new job and is about to sleep either sees
        // this generation or is already waiting for the notification.
        std::lock_guard lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunk(0);
    const auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (spin_ && spin_until(all_done)) return;
    std::unique_lock lock(mutex_);
    done_.wait(lock, all_done);
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    const auto new_job = [&] {
        return stop_.load(std::memory_order_acquire) ||
               generation_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
        if (!(spin_ && spin_until(new_job))) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, new_job);
        }
        if (stop_.load(std::memory_order_acquire)) return;
        seen = generation_.load(std::memory_order_acquire);
        run_chunk(index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            // The caller may be asleep: notify under the mutex so the wake-up cannot slip in
            // between its check and its wait.
            std::lock_guard lock(mutex_);
            done_.notify_one();
        }
    }
}

}  // namespace llama
