// How close the AVX2 16-bit integer GEMM (gemm_int16.h, Q8_0 prompts at the avx2 level) runs to
// what the CPU's vector pipes allow. Without VNNI an exact product of an 8-bit weight and a 15-bit
// activation costs a VPMADDWD (16 products) and a VPADDD into an int32 sum; VPMADDUBSW instead
// needs an unsigned operand and a VPMADDWD to widen its 16-bit sums, so it costs as many
// multiplies. The probes time those instruction mixes in registers, in cycles of the clock that a
// chain of dependent scalar adds measures (one add a cycle), and then the kernel itself on a
// 7B-shape projection in one thread. Build kernels_bench; run with LLAMA_ISA=avx2 to time the
// avx2 level's kernel on a CPU that has more.
//
// Zen 5 EPYC (avx2 cap, one core, ~4.28 GHz): VPMADDWD 2.0 a cycle, VPADDD 4.0, 4 VPMADDWD + 8
// VPADDD in 3.0 cycles (four vector pipes, the multiplies on two of them); the tile's column step
// (12 VPMADDWD each feeding a VPADDD into its own accumulator) 6.8 cycles where the pipes would
// allow 6.0: 28 of 32 products a cycle. The whole kernel, with Q8_0's scale folds every 32
// columns, the panel packing and the loop, 23-24 products a cycle over 4096 x 4096 for 128 and 512
// tokens (~100 G/s); the tile alone (not timed here: it is internal) ran 7.6 cycles a step, 25 a
// cycle. The Winograd tile (gemm_int16.h), as many vector instructions but half the multiplies:
// one thread here within noise of the plain one (22.7 / 23.5 -> 23.4 / 24.0 in one run, equal in
// another), two threads through linear() 1-4% faster, the model 2% (engine/linear.cpp). Its
// column groups alone, streaming through a panel in L1 as the tile does (BM_WinogradGroups), 29.8
// products a cycle; the tile's other work is Q8_0's per-block: each 32-column block's sums
// converted and scaled into fp32 (~8% of the tile's time in a scratch build that left it out) and
// started from the cross terms (~1.5%). With its group loop unrolled, 23.4 / 24.0 at 128 / 512
// tokens.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm_int16.h"
#include "tools/bench-kernels/bench_data.h"

namespace llama::kernels {
namespace {

#if defined(LLAMA_HAVE_X86_TARGETS)

// Cycles a second: 4 dependent scalar adds an iteration, one a cycle on every x86 core since the
// Pentium Pro.
double clock_hz() {
    static const double hz = [] {
        constexpr int64_t kIterations = 100'000'000;
        uint64_t x = 0;
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < kIterations; ++i) {
            asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
        }
        const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - t0;
        return 4.0 * kIterations / seconds.count();
    }();
    return hz;
}

#define LLAMA_PROBE_CLOBBERS                                                                 \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

// Each probe runs one asm body (kInstructions vector instructions) per iteration.
using Probe = void (*)(int64_t iterations);

LLAMA_TARGET_AVX2 void probe_vpmaddwd(int64_t n) {  // 8 independent VPMADDWD
    asm volatile(
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
        "1:\n\t"
        "vpmaddwd %%ymm0, %%ymm1, %%ymm2\n\tvpmaddwd %%ymm0, %%ymm1, %%ymm3\n\t"
        "vpmaddwd %%ymm0, %%ymm1, %%ymm4\n\tvpmaddwd %%ymm0, %%ymm1, %%ymm5\n\t"
        "vpmaddwd %%ymm0, %%ymm1, %%ymm6\n\tvpmaddwd %%ymm0, %%ymm1, %%ymm7\n\t"
        "vpmaddwd %%ymm0, %%ymm1, %%ymm8\n\tvpmaddwd %%ymm0, %%ymm1, %%ymm9\n\t"
        "dec %0\n\tjnz 1b"
        : "+r"(n)
        :
        : LLAMA_PROBE_CLOBBERS);
}

LLAMA_TARGET_AVX2 void probe_vpaddd(int64_t n) {  // 8 independent VPADDD
    asm volatile(
        "1:\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm2\n\tvpaddd %%ymm0, %%ymm1, %%ymm3\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm4\n\tvpaddd %%ymm0, %%ymm1, %%ymm5\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm6\n\tvpaddd %%ymm0, %%ymm1, %%ymm7\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm8\n\tvpaddd %%ymm0, %%ymm1, %%ymm9\n\t"
        "dec %0\n\tjnz 1b"
        : "+r"(n)
        :
        : LLAMA_PROBE_CLOBBERS);
}

LLAMA_TARGET_AVX2 void probe_madd_add_mix(int64_t n) {  // 4 VPMADDWD + 8 VPADDD, independent
    asm volatile(
        "1:\n\t"
        "vpmaddwd %%ymm0, %%ymm1, %%ymm2\n\tvpmaddwd %%ymm0, %%ymm1, %%ymm3\n\t"
        "vpmaddwd %%ymm0, %%ymm1, %%ymm4\n\tvpmaddwd %%ymm0, %%ymm1, %%ymm5\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm6\n\tvpaddd %%ymm0, %%ymm1, %%ymm7\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm8\n\tvpaddd %%ymm0, %%ymm1, %%ymm9\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm10\n\tvpaddd %%ymm0, %%ymm1, %%ymm11\n\t"
        "vpaddd %%ymm0, %%ymm1, %%ymm12\n\tvpaddd %%ymm0, %%ymm1, %%ymm13\n\t"
        "dec %0\n\tjnz 1b"
        : "+r"(n)
        :
        : LLAMA_PROBE_CLOBBERS);
}

// The tile's column step in registers: 6 tokens x 2 row vectors, each VPMADDWD's products added
// into its own accumulator (ymm2-13) right after it, as gemm_int16_avx2.cpp's dot_pairs does.
#define LLAMA_PROBE_TOKEN(low, high)                                     \
    "vpmaddwd %%ymm0, %%ymm14, %%ymm15\n\tvpaddd %%ymm15, " low ", " low \
    "\n\t"                                                               \
    "vpmaddwd %%ymm1, %%ymm14, %%ymm15\n\tvpaddd %%ymm15, " high ", " high "\n\t"

LLAMA_TARGET_AVX2 void probe_tile_step(int64_t n) {  // 12 VPMADDWD + 12 dependent VPADDD
    asm volatile("1:\n\t" LLAMA_PROBE_TOKEN("%%ymm2", "%%ymm3") LLAMA_PROBE_TOKEN(
                     "%%ymm4", "%%ymm5") LLAMA_PROBE_TOKEN("%%ymm6", "%%ymm7")
                     LLAMA_PROBE_TOKEN("%%ymm8", "%%ymm9") LLAMA_PROBE_TOKEN("%%ymm10", "%%ymm11")
                         LLAMA_PROBE_TOKEN("%%ymm12", "%%ymm13") "dec %0\n\tjnz 1b"
                 : "+r"(n)
                 :
                 : LLAMA_PROBE_CLOBBERS);
}

#undef LLAMA_PROBE_TOKEN

// The Winograd tile's column group (gemm_int16_avx2.cpp) for 4 tokens, streaming as the tile
// does: 8 groups a 32-column block over a 16 KB panel (4 weight vectors a group, 128 bytes on) and
// a token tile (the tokens' two words 24 bytes apart, 48 bytes on a group), all in L1; 256
// products a group. Reports products a cycle of the groups alone, without the blocks' scale folds.
#define LLAMA_PROBE_WINOGRAD_TOKEN(off, low, high)                       \
    "vpbroadcastd " #off                                                 \
    "(%%rax), %%ymm4\n\t"                                                \
    "vpbroadcastd " #off                                                 \
    "+24(%%rax), %%ymm5\n\t"                                             \
    "vpaddw %%ymm2, %%ymm4, %%ymm6\n\tvpaddw %%ymm0, %%ymm5, %%ymm7\n\t" \
    "vpmaddwd %%ymm7, %%ymm6, %%ymm6\n\tvpaddd %%ymm6, " low ", " low    \
    "\n\t"                                                               \
    "vpaddw %%ymm3, %%ymm4, %%ymm6\n\tvpaddw %%ymm1, %%ymm5, %%ymm7\n\t" \
    "vpmaddwd %%ymm7, %%ymm6, %%ymm6\n\tvpaddd %%ymm6, " high ", " high "\n\t"

constexpr int64_t kProbeGroups = 128;  // 16 blocks of 8

LLAMA_TARGET_AVX2 void probe_winograd_groups(int64_t n, const int32_t* panel, const int32_t* x) {
    asm volatile(
        "2:\n\t"
        "mov %[x], %%rax\n\tmov %[panel], %%rdx\n\tmov %[groups], %%ecx\n\t"
        "1:\n\t"
        "vmovdqa (%%rdx), %%ymm0\n\tvmovdqa 32(%%rdx), %%ymm1\n\t"
        "vmovdqa 64(%%rdx), %%ymm2\n\tvmovdqa 96(%%rdx), %%ymm3\n\t"
        LLAMA_PROBE_WINOGRAD_TOKEN(0, "%%ymm8", "%%ymm9")
        LLAMA_PROBE_WINOGRAD_TOKEN(4, "%%ymm10", "%%ymm11")
        LLAMA_PROBE_WINOGRAD_TOKEN(8, "%%ymm12", "%%ymm13")
        LLAMA_PROBE_WINOGRAD_TOKEN(12, "%%ymm14", "%%ymm15")
        "add $48, %%rax\n\tsub $-128, %%rdx\n\tdec %%ecx\n\tjnz 1b\n\t"
        "dec %[n]\n\tjnz 2b"
        : [n] "+r"(n)
        : [x] "r"(x), [panel] "r"(panel), [groups] "i"(kProbeGroups)
        : LLAMA_PROBE_CLOBBERS, "rax", "rcx", "rdx", "memory");
}

#undef LLAMA_PROBE_WINOGRAD_TOKEN
#undef LLAMA_PROBE_CLOBBERS

// Times `run` once per benchmark iteration and reports `units` (what one run does) a cycle, in
// cycles of clock_hz(); returns the cycles a run took.
template <class Run>
double report_per_cycle(benchmark::State& state, Run run, double units) {
    const double hz = clock_hz();
    double seconds = 0;
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        run();
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    const double cycles = seconds * hz / static_cast<double>(state.iterations());
    state.counters["GHz"] = hz * 1e-9;
    state.counters["per_cycle"] = units / cycles;
    return cycles;
}

// Arguments: the probe, its vector instructions an iteration; reports instructions a cycle.
void BM_VectorPipes(benchmark::State& state, Probe probe, int instructions) {
    if (!cpu_supports(IsaLevel::Avx2)) {
        state.SkipWithError("no AVX2");
        return;
    }
    constexpr int64_t kIterations = 10'000'000;
    const double cycles = report_per_cycle(
        state, [&] { probe(kIterations); }, static_cast<double>(kIterations) * instructions);
    state.counters["cycles_per_iteration"] = cycles / kIterations;
}

BENCHMARK_CAPTURE(BM_VectorPipes, vpmaddwd, probe_vpmaddwd, 8);
BENCHMARK_CAPTURE(BM_VectorPipes, vpaddd, probe_vpaddd, 8);
BENCHMARK_CAPTURE(BM_VectorPipes, madd4_add8, probe_madd_add_mix, 12);
BENCHMARK_CAPTURE(BM_VectorPipes, tile_step_madd12_add12, probe_tile_step, 24);

void BM_WinogradGroups(benchmark::State& state) {
    if (!cpu_supports(IsaLevel::Avx2)) {
        state.SkipWithError("no AVX2");
        return;
    }
    // Zeros: the probe's sums are not read, only its instructions timed.
    std::vector<int32_t, CacheAlignedAllocator<int32_t>> panel(kProbeGroups * 32);
    std::vector<int32_t, CacheAlignedAllocator<int32_t>> x(kProbeGroups * 12 + 16);
    constexpr int64_t kRepeats = 100'000;
    report_per_cycle(
        state, [&] { probe_winograd_groups(kRepeats, panel.data(), x.data()); },
        static_cast<double>(kRepeats) * kProbeGroups * 256);
}

BENCHMARK(BM_WinogradGroups);

// gemm_int16_rows on Q8_0 at the active level over a 7B-shape projection (rows x cols) for
// n_tokens tokens, one thread, in blocks of kInt16BlockRows rows as linear() hands them out, the
// activations without and with cross terms (the plain and the Winograd tile at the avx2 level);
// reports products a second and a cycle.
void BM_Int16Rows(benchmark::State& state) {
    const int64_t rows = state.range(0), cols = state.range(1), n_tokens = state.range(2);
    const bool cross_terms = state.range(3) != 0;  // the Winograd tile at the plain AVX2 level
    state.SetLabel(cross_terms && gemm_int16_wants_cross_terms(DType::Q8_0) ? "winograd" : "plain");
    if (!gemm_int16_avx2_available()) {
        state.SkipWithError("no AVX2");
        return;
    }
    const auto bytes = bench::quantized_bytes(DType::Q8_0, rows, cols);
    const auto x_values = bench::random_floats(static_cast<size_t>(n_tokens * cols), 2);
    Int16Activations x;
    prepare_int16_activations(n_tokens, cols, x, cross_terms);
    quantize_int16_activations(x_values, 0, x.n_tiles(), x);
    std::vector<float> y(static_cast<size_t>(n_tokens * rows));
    Int16Scratch scratch;
    const int64_t row_stride = static_cast<int64_t>(bytes.size()) / rows;
    const double products = static_cast<double>(rows) * cols * n_tokens;
    report_per_cycle(
        state,
        [&] {
            for (int64_t row0 = 0; row0 < rows; row0 += kInt16BlockRows) {
                gemm_int16_rows({.type = DType::Q8_0,
                                 .rows = bytes.data() + row0 * row_stride,
                                 .row_stride = row_stride,
                                 .n_rows = std::min(kInt16BlockRows, rows - row0),
                                 .x = &x,
                                 .y = y.data() + row0,
                                 .ldy = rows},
                                scratch);
            }
            benchmark::DoNotOptimize(y.data());
        },
        products);
    state.counters["products_per_s"] = benchmark::Counter(
        products * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Int16Rows)
    ->Args({4096, 4096, 128, 0})
    ->Args({4096, 4096, 128, 1})
    ->Args({4096, 4096, 512, 0})
    ->Args({4096, 4096, 512, 1})
    ->UseRealTime();

#endif

}  // namespace
}  // namespace llama::kernels
