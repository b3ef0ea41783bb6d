// The libFuzzer entry point of one target (LLAMA_FUZZ_TARGET names it at compile time).
//
// Besides the sanitizers' checks and the target's own, it bounds memory: the heap may grow by at
// most target.memory_factor * input size + kMemorySlack while one input runs, so no file can make
// a parser allocate far beyond its own size (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch
// only what exceeds the whole process's limit).

#include <sanitizer/allocator_interface.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/targets.h"

namespace {

const llama::fuzz::Target* target = nullptr;

std::atomic<bool> tracking{false};
std::atomic<int64_t> live_bytes{0};
std::atomic<int64_t> peak_bytes{0};

void on_malloc(const volatile void*, size_t size) {
    if (!tracking.load(std::memory_order_relaxed)) return;
    const int64_t now =
        live_bytes.fetch_add(static_cast<int64_t>(size), std::memory_order_relaxed) +
        static_cast<int64_t>(size);
    int64_t peak = peak_bytes.load(std::memory_order_relaxed);
    while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
    }
}

void on_free(const volatile void* pointer) {
    if (!tracking.load(std::memory_order_relaxed) || pointer == nullptr) return;
    // Called before the block is released, so its size is still known.
    const auto size = __sanitizer_get_allocated_size(const_cast<const void*>(pointer));
    live_bytes.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    target = llama::fuzz::find_target(LLAMA_FUZZ_TARGET);
    if (target == nullptr) {
        std::fprintf(stderr, "unknown fuzz target %s\n", LLAMA_FUZZ_TARGET);
        std::abort();
    }
    spdlog::set_level(spdlog::level::off);  // loaders log every success
    llama::fuzz::prepare_targets();
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    live_bytes = 0;
    peak_bytes = 0;
    tracking = true;
    llama::fuzz::run_target(*target, {data, size});
    tracking = false;
    const int64_t limit =
        target->memory_factor * static_cast<int64_t>(size) + llama::fuzz::kMemorySlack;
    if (peak_bytes > limit) {
        std::fprintf(stderr,
                     "%s: a %zu-byte input made the heap grow by %lld bytes (limit %lld: %lld x "
                     "input + %lld)\n",
                     LLAMA_FUZZ_TARGET, size, static_cast<long long>(peak_bytes.load()),
                     static_cast<long long>(limit), static_cast<long long>(target->memory_factor),
                     static_cast<long long>(llama::fuzz::kMemorySlack));
        std::abort();
    }
    return 0;
}
