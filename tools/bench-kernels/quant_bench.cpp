// Micro-benchmarks of the quantized kernels. matvec reports weight bytes streamed per second (the
// figure to compare with memory bandwidth); the activation quantization and dequantization
// (the prefill path's tile conversion) report values per second.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "kernels/quant.h"
#include "kernels/simd.h"
#include "model/weight_buffer.h"
#include "tools/bench-kernels/bench_data.h"

namespace llama::kernels {
namespace {

using bench::quantized_bytes;

using bench::random_floats;

// The AVX-512 Q8_0/Q4_0 kernels as they were before rows were processed in groups (one row at a
// time, each block's scale widened in the loop, 2 KB prefetch), kept as the baseline that any
// change to quant_avx512.cpp is measured against in the same run.
namespace baseline_kernel {
#if defined(__x86_64__)
#define BASELINE_AVX512 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

BASELINE_AVX512 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

BASELINE_AVX512 inline float hsum128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

BASELINE_AVX512 inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

BASELINE_AVX512 inline __m256i bias_vector(int32_t bias) {
    return _mm256_castsi128_si256(_mm_cvtsi32_si128(bias));
}

BASELINE_AVX512 float dot_q8_0(const BlockQ8_0* w, const QuantizedActivations& x) {
    const int64_t n_blocks = x.n / 32;
    const int8_t* xq = x.qs.data();
    const int32_t* bias = x.bias.data();
    const float* dx = x.scales.data();
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    auto block = [&](int64_t i) BASELINE_AVX512 {
        const __m256i w0 = _mm256_xor_si256(load256(w[i].qs), flip);
        const __m256i d0 = _mm256_dpbusd_epi32(bias_vector(bias[i]), w0, load256(xq + 32 * i));
        const __m256 scale = _mm256_mul_ps(
            _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(w[i].d))), _mm256_set1_ps(dx[i]));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(d0), scale);
    };
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        _mm_prefetch(reinterpret_cast<const char*>(w + b) + 2048, _MM_HINT_T0);
        acc0 = _mm256_add_ps(acc0, block(b));
        acc1 = _mm256_add_ps(acc1, block(b + 1));
    }
    if (b < n_blocks) acc0 = _mm256_add_ps(acc0, block(b));
    return hsum(_mm256_add_ps(acc0, acc1));
}

BASELINE_AVX512 float dot_q4_0(const BlockQ4_0* w, const QuantizedActivations& x) {
    const int64_t n_blocks = x.n / 32;
    const int8_t* xq = x.qs.data();
    const int32_t* bias = x.bias.data();
    const float* dx = x.scales.data();
    const __m256i nibble_mask =
        _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(0xF0)), _mm_set1_epi8(0x0F));
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    auto block = [&](int64_t i) BASELINE_AVX512 {
        const __m256i q = _mm256_and_si256(
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].qs))),
            nibble_mask);
        const __m256i dot = _mm256_dpbusd_epi32(bias_vector(bias[i]), q, load256(xq + 32 * i));
        const __m256 scale = _mm256_mul_ps(
            _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(w[i].d))), _mm256_set1_ps(dx[i]));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(dot), scale);
    };
    int64_t b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        _mm_prefetch(reinterpret_cast<const char*>(w + b) + 2048, _MM_HINT_T0);
        acc0 = _mm256_add_ps(acc0, block(b));
        acc1 = _mm256_add_ps(acc1, block(b + 1));
    }
    if (b < n_blocks) acc0 = _mm256_add_ps(acc0, block(b));
    const __m256 acc = _mm256_add_ps(acc0, acc1);
    return hsum128(_mm256_castps256_ps128(acc)) +
           hsum128(_mm256_extractf128_ps(acc, 1)) * (1.0f / 16.0f);
}

void matvec(const Matrix& w, const QuantizedActivations& x, std::span<float> y) {
    for (int64_t r = 0; r < w.rows; ++r) {
        if (w.dtype == DType::Q4_0) {
            y[r] = dot_q4_0(reinterpret_cast<const BlockQ4_0*>(w.row(r)), x);
        } else {
            y[r] = dot_q8_0(reinterpret_cast<const BlockQ8_0*>(w.row(r)), x);
        }
    }
}
#undef BASELINE_AVX512
#else
void matvec(const Matrix& w, const QuantizedActivations& x, std::span<float> y) {
    matvec_quant(QuantPath::Scalar, w, x, y);
}
#endif
}  // namespace baseline_kernel

// Path argument kBaselinePath runs the baseline above instead of a QuantPath.
constexpr int kBaselinePath = -1;

// Arguments: rows, cols, path, streamed. Streamed runs copy the weights until they fill
// kStreamBytes and use the next copy each iteration, so every product reads DRAM as at decode
// time (the last-level cache of this machine can hold a whole 7B layer); the others reuse one
// matrix that stays in cache and show the kernel's compute ceiling.
constexpr size_t kStreamBytes = size_t{1} << 30;

void BM_MatvecQuant(benchmark::State& state, DType dtype) {
    const int64_t rows = state.range(0);
    const int64_t cols = state.range(1);
    const bool baseline = state.range(2) == kBaselinePath;
    const auto path = baseline ? QuantPath::Avx512Vnni : static_cast<QuantPath>(state.range(2));
    const bool streamed = state.range(3) != 0;
    if (!quant_path_supported(path)) {
        state.SkipWithError("path not supported by this CPU");
        return;
    }
    state.SetLabel(std::string(baseline ? "baseline" : quant_path_name(path)) +
                   (streamed ? " dram" : " cached"));
    const auto matrix = quantized_bytes(dtype, rows, cols);
    const size_t copies = streamed ? (kStreamBytes + matrix.size() - 1) / matrix.size() : 1;
    // In transparent huge pages where the kernel allows them, as the loader's copies of the
    // quantized weights are (model/weight_buffer.h). In 4 KiB pages (a std::vector) the streamed
    // runs read 5-15% slower (one Xeon thread, alternating: Q4_K 12.4-12.7 -> 13.6-13.8 GB/s,
    // Q4_0 11.9-12.1 -> 13.5, Q6_K 9.9-11.2 -> 11.4-11.5).
    const auto bytes = allocate_weight_buffer(copies * matrix.size());
    for (size_t c = 0; c < copies; ++c) {
        std::memcpy(bytes.get() + c * matrix.size(), matrix.data(), matrix.size());
    }
    const auto x = random_floats(static_cast<size_t>(cols), 2);
    QuantizedActivations xq;
    quantize_activations(dtype, x, xq);
    std::vector<float> y(static_cast<size_t>(rows));
    size_t next = 0;
    for (auto _ : state) {
        const Matrix w{dtype, rows, cols, bytes.get() + next * matrix.size()};
        if (baseline) {
            baseline_kernel::matvec(w, xq, y);
        } else {
            matvec_quant(path, w, xq, y);
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        next = next + 1 == copies ? 0 : next + 1;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(matrix.size()));
}

void matvec_args(benchmark::internal::Benchmark* b) {
    for (const int streamed : {1, 0}) {
        for (const QuantPath path : {QuantPath::Avx512Vnni, QuantPath::Avx2, QuantPath::Scalar}) {
            b->Args({4096, 4096, static_cast<int>(path), streamed});
            b->Args({11008, 4096, static_cast<int>(path), streamed});
        }
    }
    // 256 rows stay in L2 (at most 1.1 MB): the kernel's own ceiling, where the 11008-row matrix
    // in cache measures the last-level cache (about 25 GB/s a thread on the Intel Xeon, the same
    // for every type).
    for (const QuantPath path : {QuantPath::Avx512Vnni, QuantPath::Avx2}) {
        b->Args({256, 4096, static_cast<int>(path), 0});
    }
}

// Q8_0/Q4_0 also run the baseline kernel, right before the current one.
void matvec_args_with_baseline(benchmark::internal::Benchmark* b) {
    for (const int streamed : {1, 0}) {
        for (const int64_t rows : {4096, 11008}) {
            b->Args({rows, 4096, kBaselinePath, streamed});
            b->Args({rows, 4096, static_cast<int>(QuantPath::Avx512Vnni), streamed});
        }
        for (const QuantPath path : {QuantPath::Avx2, QuantPath::Scalar}) {
            b->Args({4096, 4096, static_cast<int>(path), streamed});
        }
    }
}

BENCHMARK_CAPTURE(BM_MatvecQuant, q8_0, DType::Q8_0)
    ->Apply(matvec_args_with_baseline)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_0, DType::Q4_0)
    ->Apply(matvec_args_with_baseline)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_k, DType::Q4_K)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_0_r16, DType::Q4_0_R16)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_k_r16, DType::Q4_K_R16)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q8_0_r16, DType::Q8_0_R16)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q6_k_r16, DType::Q6_K_R16)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q5_k_r16, DType::Q5_K_R16)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q5_k, DType::Q5_K)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q6_k, DType::Q6_K)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q4_1, DType::Q4_1)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q5_0, DType::Q5_0)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q5_1, DType::Q5_1)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, iq4_nl, DType::IQ4_NL)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, iq4_xs, DType::IQ4_XS)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q2_k, DType::Q2_K)->Apply(matvec_args)->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecQuant, q3_k, DType::Q3_K)->Apply(matvec_args)->UseRealTime();

void BM_QuantizeActivations(benchmark::State& state, DType dtype) {
    const auto x = random_floats(static_cast<size_t>(state.range(0)), 3);
    QuantizedActivations xq;
    for (auto _ : state) {
        quantize_activations(dtype, x, xq);
        benchmark::DoNotOptimize(xq.qs.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_QuantizeActivations, q8_0, DType::Q8_0)->Arg(4096)->Arg(11008);
BENCHMARK_CAPTURE(BM_QuantizeActivations, q4_k, DType::Q4_K)->Arg(4096)->Arg(11008 / 256 * 256);

// Dequantizing a 64-row tile, as a prefill path does before a float GEMM.
void BM_DequantizeRows(benchmark::State& state, DType dtype) {
    const int64_t rows = 64, cols = 4096;
    const auto bytes = quantized_bytes(dtype, rows, cols);
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (auto _ : state) {
        dequantize_rows_quant(dtype, bytes.data(), rows, cols, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * rows * cols);
}
BENCHMARK_CAPTURE(BM_DequantizeRows, q8_0, DType::Q8_0);
BENCHMARK_CAPTURE(BM_DequantizeRows, q4_0, DType::Q4_0);
BENCHMARK_CAPTURE(BM_DequantizeRows, q4_k, DType::Q4_K);
BENCHMARK_CAPTURE(BM_DequantizeRows, q5_k, DType::Q5_K);
BENCHMARK_CAPTURE(BM_DequantizeRows, q6_k, DType::Q6_K);

}  // namespace
}  // namespace llama::kernels

BENCHMARK_MAIN();
