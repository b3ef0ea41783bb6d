#include "llama/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace {

// Every index in [0, n) is visited exactly once, chunks start on grain boundaries, and each
// thread index is within the pool.
void check_cover(int n_threads, int64_t n, int64_t grain) {
    llama::ThreadPool pool(n_threads);
    std::vector<std::atomic<int>> visits(n);
    std::atomic<int> bad_thread{0}, bad_start{0};
    for (int repeat = 0; repeat < 3; ++repeat) {
        pool.parallel_for(n, grain, [&](int64_t begin, int64_t end, int thread) {
            if (thread < 0 || thread >= n_threads) ++bad_thread;
            if (begin % grain != 0) ++bad_start;
            for (int64_t i = begin; i < end; ++i) ++visits[i];
        });
    }
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[i].load(), 3) << "index " << i;
    EXPECT_EQ(bad_thread.load(), 0);
    EXPECT_EQ(bad_start.load(), 0);
}

TEST(ThreadPool, CoversRangeOnce) {
    for (int threads : {1, 2, 3, 5}) {
        for (int64_t n : {1, 2, 7, 64, 1000}) {
            for (int64_t grain : {1, 4, 16}) check_cover(threads, n, grain);
        }
    }
}

TEST(ThreadPool, EmptyRangeCallsNothing) {
    llama::ThreadPool pool(2);
    int calls = 0;
    pool.parallel_for(0, 1, [&](int64_t, int64_t, int) { ++calls; });
    EXPECT_EQ(calls, 0);
}

TEST(ThreadPool, UsesAllThreadsWhenWorkAllows) {
    llama::ThreadPool pool(3);
    std::vector<std::atomic<int>> seen(3);
    pool.parallel_for(300, 1, [&](int64_t, int64_t, int thread) { ++seen[thread]; });
    for (auto& count : seen) EXPECT_EQ(count.load(), 1);
}

}  // namespace
