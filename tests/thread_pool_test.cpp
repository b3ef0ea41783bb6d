#include "llama/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Every index in [0, n) is visited exactly once, chunks start on grain boundaries, and each
// thread index is within the pool.
// With dynamic scheduling every call is also exactly one block (at most `grain` long).
void check_cover(int n_threads, int64_t n, int64_t grain, bool dynamic = false) {
    llama::ThreadPool pool(n_threads);
    std::vector<std::atomic<int>> visits(n);
    std::atomic<int> bad_thread{0}, bad_start{0}, bad_length{0};
    const auto visit = [&](int64_t begin, int64_t end, int thread) {
        if (thread < 0 || thread >= n_threads) ++bad_thread;
        if (begin % grain != 0) ++bad_start;
        if (dynamic && (end - begin > grain || (end - begin < grain && end != n))) ++bad_length;
        for (int64_t i = begin; i < end; ++i) ++visits[i];
    };
    for (int repeat = 0; repeat < 3; ++repeat) {
        if (dynamic) {
            pool.parallel_for_dynamic(n, grain, visit);
        } else {
            pool.parallel_for(n, grain, visit);
        }
    }
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[i].load(), 3) << "index " << i;
    EXPECT_EQ(bad_thread.load(), 0);
    EXPECT_EQ(bad_start.load(), 0);
    EXPECT_EQ(bad_length.load(), 0);
}

TEST(ThreadPool, CoversRangeOnce) {
    for (int threads : {1, 2, 3, 5}) {
        for (int64_t n : {1, 2, 7, 64, 1000}) {
            for (int64_t grain : {1, 4, 16}) check_cover(threads, n, grain);
        }
    }
}

TEST(ThreadPool, DynamicCoversRangeOnceInBlocks) {
    for (int threads : {1, 2, 3, 5}) {
        for (int64_t n : {1, 2, 7, 64, 1000}) {
            for (int64_t grain : {1, 4, 16}) check_cover(threads, n, grain, true);
        }
    }
}

// A thread that is held up takes fewer blocks: the others finish the range meanwhile.
TEST(ThreadPool, DynamicBalancesASlowThread) {
    llama::ThreadPool pool(2);
    std::vector<std::atomic<int>> blocks(2);
    std::atomic<bool> slow_started{false};
    pool.parallel_for_dynamic(64, 1, [&](int64_t, int64_t, int thread) {
        ++blocks[thread];
        if (!slow_started.exchange(true)) {
            // The first block taken holds its thread until every other block has been taken.
            while (blocks[0].load() + blocks[1].load() < 64) std::this_thread::yield();
        }
    });
    EXPECT_EQ(blocks[0].load() + blocks[1].load(), 64);
    EXPECT_TRUE(blocks[0].load() == 1 || blocks[1].load() == 1)
        << blocks[0].load() << " + " << blocks[1].load();
}

// Guided blocks: every index once, each block starting where the one before it ended and as long
// as the rule says from where it starts (a 2 x threads-th of what is left, in whole grains, at
// least one grain, cut at n), so they shrink to one grain at the end.
void check_guided(int n_threads, int64_t n, int64_t grain) {
    llama::ThreadPool pool(n_threads);
    std::mutex mutex;
    std::vector<std::pair<int64_t, int64_t>> blocks;
    std::atomic<int> bad_thread{0};
    pool.parallel_for_guided(n, grain, [&](int64_t begin, int64_t end, int thread) {
        if (thread < 0 || thread >= n_threads) ++bad_thread;
        std::lock_guard lock(mutex);
        blocks.emplace_back(begin, end);
    });
    EXPECT_EQ(bad_thread.load(), 0);
    std::sort(blocks.begin(), blocks.end());
    int64_t next = 0;
    for (const auto& [begin, end] : blocks) {
        ASSERT_EQ(begin, next) << "threads " << n_threads << " n " << n << " grain " << grain;
        const int64_t share = (n - begin) / (2 * n_threads) / grain * grain;
        const int64_t expected = n_threads == 1 ? n : std::min(n - begin, std::max(grain, share));
        EXPECT_EQ(end - begin, expected) << "block at " << begin << " of " << n;
        next = end;
    }
    EXPECT_EQ(next, n);
    if (n_threads > 1 && n >= 2 * grain) {
        EXPECT_EQ(blocks.back().second - blocks.back().first,
                  std::min(grain, n - blocks.back().first));
    }
}

TEST(ThreadPool, GuidedCoversRangeOnceInShrinkingBlocks) {
    for (int threads : {1, 2, 3, 5}) {
        for (int64_t n : {1, 2, 7, 64, 1000, 11008}) {
            for (int64_t grain : {1, 4, 32}) check_guided(threads, n, grain);
        }
    }
}

// A thread held up on its first block leaves the rest of the range to the other.
TEST(ThreadPool, GuidedBalancesASlowThread) {
    llama::ThreadPool pool(2);
    std::atomic<int64_t> done{0};
    std::vector<std::atomic<int64_t>> rows(2);
    constexpr int64_t n = 4096;
    pool.parallel_for_guided(n, 32, [&](int64_t begin, int64_t end, int thread) {
        rows[thread] += end - begin;
        done += end - begin;
        if (begin == 0) {
            // The first block (a quarter of the range) holds its thread until the rest is done.
            while (done.load() < n) std::this_thread::yield();
        }
    });
    EXPECT_EQ(rows[0].load() + rows[1].load(), n);
    EXPECT_TRUE(rows[0].load() == n / 4 || rows[1].load() == n / 4)
        << rows[0].load() << " + " << rows[1].load();
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
