#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llama {

// A fixed set of worker threads that split index ranges. The calling thread takes part, so a pool
// of N threads starts N - 1 workers. BLAS is set to one thread per caller (see Engine), so every
// core is used by exactly one thread: ours.
//
// A decode step runs hundreds of short parallel_for calls (a few per layer), microseconds apart.
// Waking a sleeping thread through the kernel costs about as much as one of them, so between
// calls the threads spin on atomics for a while (kSpin below) before they sleep on a condition
// variable; when the pool has more threads than the machine has cores, spinning would take a
// core from a thread with work, so such pools sleep at once.
class ThreadPool {
  public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls fn(begin, end, thread_index) on disjoint chunks covering [0, n), one chunk per thread,
    // each chunk a multiple of `grain` (except the last). Returns when all chunks are done.
    using RangeFn = std::function<void(int64_t begin, int64_t end, int thread)>;
    void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);
    // Calls fn on the blocks [k * grain, (k + 1) * grain) of [0, n), handed out in order to
    // whichever thread is free (a thread may get several, passed one at a time). For work that
    // is bound by memory bandwidth, where a thread slowed down by others must not hold up the
    // rest.
    void parallel_for_dynamic(int64_t n, int64_t grain, const RangeFn& fn);
    // Calls fn on blocks of [0, n), each a multiple of `grain` (except the last) handed out in
    // order to whichever thread is free, each a share of what is left (a 2 x size()-th, at least
    // one grain): large blocks first, single grains at the end, so the threads finish within about
    // one grain of each other with few hand-outs. For one-token matrix-vector products, where a
    // fixed block size either leaves a thread waiting up to a block at the end or hands out many.
    void parallel_for_guided(int64_t n, int64_t grain, const RangeFn& fn);

  private:
    enum class Schedule { Static, Dynamic, Guided };
    void run(int64_t n, int64_t grain, const RangeFn& fn, Schedule schedule);
    void worker_loop(int index);
    void run_chunk(int thread);

    int n_threads_;
    bool spin_;  // whether waiting threads spin before sleeping (n_threads_ <= cores)
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    // The current job; written before generation_ is bumped (release), read after (acquire).
    const RangeFn* job_ = nullptr;
    int64_t job_n_ = 0;
    int64_t job_grain_ = 1;
    Schedule job_schedule_ = Schedule::Static;
    std::atomic<int64_t> next_block_{0};  // Dynamic: the next block; Guided: the next index
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};  // workers still running the current job
    std::atomic<bool> stop_{false};
};

}  // namespace llama
