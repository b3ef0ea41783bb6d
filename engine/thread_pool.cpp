#include "llama/thread_pool.h"

#include <algorithm>

namespace llama {

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
}

void ThreadPool::run_chunk(int thread) {
    const int64_t blocks = (job_n_ + job_grain_ - 1) / job_grain_;
    const int64_t begin_block = blocks * thread / n_threads_;
    const int64_t end_block = blocks * (thread + 1) / n_threads_;
    const int64_t begin = std::min(job_n_, begin_block * job_grain_);
    const int64_t end = std::min(job_n_, end_block * job_grain_);
    if (begin < end) (*job_)(begin, end, thread);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    if (n_threads_ == 1 || n <= grain) {
        fn(0, n, 0);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        job_ = &fn;
        job_n_ = n;
        job_grain_ = grain;
        pending_ = n_threads_ - 1;
        ++generation_;
    }
    wake_.notify_all();
    run_chunk(0);
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        run_chunk(index);
        {
            std::lock_guard lock(mutex_);
            if (--pending_ == 0) done_.notify_one();
        }
    }
}

}  // namespace llama
