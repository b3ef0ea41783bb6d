// The memory-read ceiling for decode: decode reads every weight once per token, so tokens/s <=
// read bandwidth / weight bytes. A single load stream per thread underestimates what the machine
// can do (an earlier probe with one 8-byte load per line said 27 GB/s where llama.cpp's F16
// decode moved 44 GB/s on the same AVX2 EPYC), so this probe tries the ways a kernel can read:
// scalar, AVX2 and AVX-512 loads, 1 to 8 independent streams per thread (separate regions, so
// each gets its own hardware prefetcher stream; staggered so they do not share cache sets),
// software prefetch (T0, T1 as the decode kernels use it, NTA) and non-temporal loads, with 1 and
// 2 threads (std::thread, each its own region of a 2 GiB buffer, 64x L3), in 4 KiB pages and, for
// some variants, in transparent huge pages.
//
// Each benchmark iteration reads the buffer once (all but the gaps that stagger the streams),
// split between the threads, so bytes_per_second is the machine's total (GB is the same in 10^9
// bytes; peak_GB_per_s is the fastest pass). MemoryRead/best screens the 4 KiB-page variants and
// times the fastest: the ceiling for weights read from the mapped file (F16, BF16, F32).
// MemoryRead/best_hugepages screens the huge-page variants: the ceiling for the quantized
// weights, which the loader copies into huge pages (model/weight_buffer.h). On an Intel Xeon with
// AMX the fastest huge-page variant (scalar, one stream) read 17.8 GB/s on one thread and 32.7 on
// two, where the 4 KiB-page best read 14.7 and 28.7: a probe in 4 KiB pages undersold it.

#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernels/prefetch.h"

namespace llama::kernels {
namespace {

constexpr size_t kBufferBytes = size_t{2} << 30;
constexpr size_t kLine = 64;
constexpr size_t kPrefetchAhead = kStreamPrefetchBytes;  // as the decode kernels prefetch

// The buffer, written once so every page is backed. In 4 KiB pages, like a memory-mapped model
// file in the page cache; the /hugepages variants read a second buffer in transparent huge pages,
// which shows how much of the gap to DRAM's speed is TLB misses the engine cannot avoid.
const std::byte* map_buffer(bool huge) {
    void* p =
        mmap(nullptr, kBufferBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    madvise(p, kBufferBytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    std::memset(p, 1, kBufferBytes);
    return static_cast<std::byte*>(p);
}
const std::byte* buffer(bool huge) {
    if (huge) {
        static const std::byte* data = map_buffer(true);
        return data;
    }
    static const std::byte* data = map_buffer(false);
    return data;
}

enum class Isa { Scalar, Avx2, Avx512 };
enum class Hint { None, PrefetchT0, PrefetchT1, PrefetchNta, StreamLoad };

// The software prefetch of one line kPrefetchAhead after p, if the hint asks for one.
template <Hint H>
inline void prefetch_ahead(const std::byte* p) {
    const char* ahead = reinterpret_cast<const char*>(p) + kPrefetchAhead;
    if constexpr (H == Hint::PrefetchT0) _mm_prefetch(ahead, _MM_HINT_T0);
    if constexpr (H == Hint::PrefetchT1) _mm_prefetch(ahead, _MM_HINT_T1);
    if constexpr (H == Hint::PrefetchNta) _mm_prefetch(ahead, _MM_HINT_NTA);
}

// ---- read kernels: `Streams` slices of `slice` bytes, `stride` apart from `begin`, side by side
// ---- Every 64-byte line is loaded in full (one zmm, two ymm, or eight 8-byte words) and folded
// into independent accumulators, so no add chain limits the loads in flight.

template <int Streams, Hint H>
uint64_t read_scalar(const std::byte* begin, size_t slice, size_t stride) {
    uint64_t acc[Streams][4] = {};
    for (size_t off = 0; off < slice; off += kLine) {
        for (int s = 0; s < Streams; ++s) {
            prefetch_ahead<H>(begin + s * stride + off);
            const auto* line = reinterpret_cast<const uint64_t*>(begin + s * stride + off);
            acc[s][0] ^= line[0] ^ line[4];
            acc[s][1] ^= line[1] ^ line[5];
            acc[s][2] ^= line[2] ^ line[6];
            acc[s][3] ^= line[3] ^ line[7];
        }
    }
    uint64_t r = 0;
    for (auto& a : acc) r ^= a[0] ^ a[1] ^ a[2] ^ a[3];
    return r;
}

// Two lines per stream per step.
template <int Streams, Hint H>
__attribute__((target("avx2"))) uint64_t read_avx2(const std::byte* begin, size_t slice,
                                                   size_t stride) {
    __m256i acc[Streams][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_si256();
    for (size_t off = 0; off < slice; off += 2 * kLine) {
        for (int s = 0; s < Streams; ++s) {
            const std::byte* p = begin + s * stride + off;
            prefetch_ahead<H>(p);
            prefetch_ahead<H>(p + kLine);
            const auto* v = reinterpret_cast<const __m256i*>(p);
            __m256i a, b, c, d;
            if constexpr (H == Hint::StreamLoad) {
                a = _mm256_stream_load_si256(v);
                b = _mm256_stream_load_si256(v + 1);
                c = _mm256_stream_load_si256(v + 2);
                d = _mm256_stream_load_si256(v + 3);
            } else {
                a = _mm256_load_si256(v);
                b = _mm256_load_si256(v + 1);
                c = _mm256_load_si256(v + 2);
                d = _mm256_load_si256(v + 3);
            }
            acc[s][0] = _mm256_xor_si256(acc[s][0], _mm256_xor_si256(a, c));
            acc[s][1] = _mm256_xor_si256(acc[s][1], _mm256_xor_si256(b, d));
        }
    }
    __m256i r = _mm256_setzero_si256();
    for (auto& a : acc) r = _mm256_xor_si256(r, _mm256_xor_si256(a[0], a[1]));
    return static_cast<uint64_t>(_mm256_extract_epi64(r, 0) ^ _mm256_extract_epi64(r, 3));
}

template <int Streams, Hint H>
__attribute__((target("avx512f"))) uint64_t read_avx512(const std::byte* begin, size_t slice,
                                                        size_t stride) {
    __m512i acc[Streams][2];
    for (auto& a : acc) a[0] = a[1] = _mm512_setzero_si512();
    for (size_t off = 0; off < slice; off += 2 * kLine) {
        for (int s = 0; s < Streams; ++s) {
            const std::byte* p = begin + s * stride + off;
            prefetch_ahead<H>(p);
            prefetch_ahead<H>(p + kLine);
            const auto* v = reinterpret_cast<const __m512i*>(p);
            __m512i a, b;
            if constexpr (H == Hint::StreamLoad) {
                a = _mm512_stream_load_si512(const_cast<__m512i*>(v));
                b = _mm512_stream_load_si512(const_cast<__m512i*>(v + 1));
            } else {
                a = _mm512_load_si512(v);
                b = _mm512_load_si512(v + 1);
            }
            acc[s][0] = _mm512_xor_si512(acc[s][0], a);
            acc[s][1] = _mm512_xor_si512(acc[s][1], b);
        }
    }
    __m512i r = _mm512_setzero_si512();
    for (auto& a : acc) r = _mm512_xor_si512(r, _mm512_xor_si512(a[0], a[1]));
    alignas(64) uint64_t lanes[8];
    _mm512_store_si512(lanes, r);
    return lanes[0] ^ lanes[7];
}

using ReadFn = uint64_t (*)(const std::byte*, size_t, size_t);

struct Variant {
    std::string name;
    Isa isa;
    ReadFn read;
    int streams;
    bool huge_pages = false;
    // Streams exactly a power of two apart (256 MiB and more): every stream's lines fall in the
    // same cache sets and, likely, DRAM banks, so they evict each other and conflict on row
    // buffers. Kept to show the cost; the other variants stagger the streams by kStagger.
    bool aligned = false;
};

// Stagger between consecutive streams: an odd number of lines, not a multiple of 4 KiB.
constexpr size_t kStagger = 67 * kLine;

// Where the streams go: all threads' streams over the whole buffer, `stride` apart, each `slice`
// bytes (a multiple of two lines).
struct Layout {
    size_t slice, stride;
};
Layout layout(const Variant& v, int threads) {
    const size_t n = static_cast<size_t>(threads) * static_cast<size_t>(v.streams);
    if (v.aligned) return {kBufferBytes / n, kBufferBytes / n};
    const size_t slice = (kBufferBytes - (n - 1) * kStagger) / n / (2 * kLine) * (2 * kLine);
    return {slice, slice + kStagger};
}

template <Isa I, int Streams, Hint H>
Variant make_variant() {
    static constexpr const char* kIsa[] = {"scalar", "avx2", "avx512"};
    static constexpr const char* kHint[] = {"", "/prefetch_t0", "/prefetch_t1", "/prefetch_nta",
                                            "/stream_load"};
    ReadFn read = nullptr;
    if constexpr (I == Isa::Scalar) read = read_scalar<Streams, H>;
    if constexpr (I == Isa::Avx2) read = read_avx2<Streams, H>;
    if constexpr (I == Isa::Avx512) read = read_avx512<Streams, H>;
    return {std::string(kIsa[static_cast<int>(I)]) + "/streams:" + std::to_string(Streams) +
                kHint[static_cast<int>(H)],
            I, read, Streams};
}

Variant on_huge_pages(Variant v) {
    v.name += "/hugepages";
    v.huge_pages = true;
    return v;
}

Variant power_of_two_apart(Variant v) {
    v.name += "/aligned";
    v.aligned = true;
    return v;
}

template <Isa I, Hint H>
void add_stream_counts(std::vector<Variant>& out) {
    out.push_back(make_variant<I, 1, H>());
    out.push_back(make_variant<I, 2, H>());
    out.push_back(make_variant<I, 4, H>());
    out.push_back(make_variant<I, 8, H>());
}

const std::vector<Variant>& variants() {
    static const std::vector<Variant> all = [] {
        std::vector<Variant> v;
        add_stream_counts<Isa::Scalar, Hint::None>(v);
        add_stream_counts<Isa::Avx2, Hint::None>(v);
        add_stream_counts<Isa::Avx512, Hint::None>(v);
        // The hints, on one stream and on several.
        v.push_back(make_variant<Isa::Avx2, 4, Hint::PrefetchT0>());
        v.push_back(make_variant<Isa::Avx2, 4, Hint::PrefetchNta>());
        v.push_back(make_variant<Isa::Avx2, 4, Hint::StreamLoad>());
        v.push_back(make_variant<Isa::Avx512, 1, Hint::PrefetchT0>());
        v.push_back(make_variant<Isa::Avx512, 4, Hint::PrefetchT0>());
        v.push_back(make_variant<Isa::Avx2, 1, Hint::PrefetchT1>());
        v.push_back(make_variant<Isa::Avx2, 4, Hint::PrefetchT1>());
        v.push_back(make_variant<Isa::Avx512, 1, Hint::PrefetchT1>());
        v.push_back(make_variant<Isa::Avx512, 4, Hint::PrefetchT1>());
        v.push_back(make_variant<Isa::Avx512, 1, Hint::PrefetchNta>());
        v.push_back(make_variant<Isa::Avx512, 4, Hint::PrefetchNta>());
        v.push_back(make_variant<Isa::Avx512, 4, Hint::StreamLoad>());
        v.push_back(power_of_two_apart(make_variant<Isa::Avx2, 4, Hint::None>()));
        v.push_back(power_of_two_apart(make_variant<Isa::Avx512, 4, Hint::None>()));
        v.push_back(on_huge_pages(make_variant<Isa::Scalar, 1, Hint::None>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx2, 1, Hint::None>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx2, 4, Hint::None>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx512, 1, Hint::None>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx512, 4, Hint::None>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx2, 1, Hint::PrefetchT1>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx2, 4, Hint::PrefetchT1>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx512, 1, Hint::PrefetchT1>()));
        v.push_back(on_huge_pages(make_variant<Isa::Avx512, 4, Hint::PrefetchT1>()));
        return v;
    }();
    return all;
}

bool supported(Isa isa) {
    switch (isa) {
        case Isa::Avx2:
            return __builtin_cpu_supports("avx2");
        case Isa::Avx512:
            return __builtin_cpu_supports("avx512f");
        default:
            return true;
    }
}

// Reads the buffer once with `threads` threads, each its own streams (layout()); returns the wall
// time from the moment all threads are ready until the last one finishes.
double read_once(const Variant& v, int threads) {
    const std::byte* data = buffer(v.huge_pages);
    const Layout l = layout(v, threads);
    const size_t share = l.stride * static_cast<size_t>(v.streams);
    std::barrier start(threads + 1);
    std::vector<std::thread> workers;
    std::vector<uint64_t> sums(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            start.arrive_and_wait();
            sums[static_cast<size_t>(t)] =
                v.read(data + static_cast<size_t>(t) * share, l.slice, l.stride);
        });
    }
    start.arrive_and_wait();
    const auto begin = std::chrono::steady_clock::now();
    for (std::thread& w : workers) w.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    benchmark::DoNotOptimize(sums.data());
    return seconds;
}

bool prepare(benchmark::State& state, const Variant* v) {
    if (buffer(v != nullptr && v->huge_pages) == nullptr) {
        state.SkipWithError("cannot map the 2 GiB buffer");
        return false;
    }
    if (v != nullptr && !supported(v->isa)) {
        state.SkipWithError("this CPU lacks the instructions");
        return false;
    }
    return true;
}

void run_timed(benchmark::State& state, const Variant& v, int threads) {
    double fastest = 0;
    for (auto _ : state) {
        const double seconds = read_once(v, threads);
        state.SetIterationTime(seconds);
        if (fastest == 0 || seconds < fastest) fastest = seconds;
    }
    const Layout l = layout(v, threads);
    const auto pass = static_cast<int64_t>(l.slice) * threads * v.streams;
    state.SetBytesProcessed(pass * state.iterations());
    // bytes_per_second is in binary units (G = 2^30); "GB=x/s" is the same rate in 10^9 bytes.
    state.counters["GB"] = benchmark::Counter(static_cast<double>(pass * state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
    // The fastest single pass: on a shared machine (or a VM whose neighbours share the memory
    // controller) the mean carries their traffic too, and a ceiling is what one pass can reach.
    if (fastest > 0) state.counters["peak_GB_per_s"] = static_cast<double>(pass) / 1e9 / fastest;
}

void BM_MemoryRead(benchmark::State& state, size_t index) {
    const Variant& v = variants()[index];
    if (!prepare(state, &v)) return;
    run_timed(state, v, static_cast<int>(state.range(0)));
}

// The fastest variant in 4 KiB pages (what reading a mapped model file can reach) or in huge
// pages (the loader's copies) for this thread count, screened by the best of three passes each,
// then timed like the others; its name is the label.
void BM_MemoryReadBest(benchmark::State& state, bool huge_pages) {
    if (!prepare(state, nullptr)) return;
    const int threads = static_cast<int>(state.range(0));
    const Variant* best = nullptr;
    double best_seconds = 0;
    for (const Variant& v : variants()) {
        if (!supported(v.isa) || v.huge_pages != huge_pages) continue;
        const double seconds =
            std::min({read_once(v, threads), read_once(v, threads), read_once(v, threads)});
        if (best == nullptr || seconds < best_seconds) {
            best = &v;
            best_seconds = seconds;
        }
    }
    state.SetLabel(best->name);
    run_timed(state, *best, threads);
}

// Names: MemoryRead/<isa>/streams:<n>[/<hint>][/hugepages]/threads:<t>, and
// MemoryRead/best[_hugepages]/threads:<t>.
const bool kRegistered = [] {
    for (size_t i = 0; i < variants().size(); ++i) {
        benchmark::RegisterBenchmark(("MemoryRead/" + variants()[i].name).c_str(), BM_MemoryRead, i)
            ->ArgName("threads")
            ->Arg(1)
            ->Arg(2)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
    for (const bool huge_pages : {false, true}) {
        benchmark::RegisterBenchmark(huge_pages ? "MemoryRead/best_hugepages" : "MemoryRead/best",
                                     BM_MemoryReadBest, huge_pages)
            ->ArgName("threads")
            ->Arg(1)
            ->Arg(2)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
    return true;
}();

}  // namespace
}  // namespace llama::kernels
