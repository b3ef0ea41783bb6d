// AVX512-BF16 fallback for the prompt GEMM of gemm_amx.h, for CPUs with VDPBF16PS but no AMX
// (AMD Zen 4, Intel Cooper Lake). It reads the same packed operands: one 64-byte row of a weight
// block (a column pair of 16 rows) is exactly the B operand of VDPBF16PS, and the matching
// column pair of a token is broadcast as the A operand.
//
// Register block: 8 tokens x 3 row blocks (48 rows) = 24 accumulators, 3 weight vectors and one
// broadcast, so each weight load feeds 8 dot products and each broadcast 3. Register blocks run
// over the columns in passes (kPassSteps) that keep their operands in L1 and L2.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/gemm_amx.h"
#include "kernels/prefetch.h"
#include "kernels/simd.h"
#include "llama/error.h"

namespace llama::kernels {

namespace {

constexpr int64_t kBlockValues = kAmxTokenBlock * kAmxColumnStep;  // 512 bf16 = 1 KB
constexpr int kTokensPerBlock = 8;  // tokens per register block (half a packed token block)
constexpr int kRowVectors = 3;      // row blocks of 16 per register block
// Column steps a pass: a register block's 48 rows x 2048 columns of bf16 (192 KB) stay in L2 and
// 8 tokens' 2048 columns (32 KB) in L1 while every token runs over them. Over whole rows, a down
// projection's (11008 columns) 48 rows (1 MB) streamed from L3 for every 8 tokens (Zen 5, one core,
// 512 tokens, operands in cache, dot products a cycle, 48 / 128 rows: whole rows 1.26 / 1.13;
// whole rows with the tokens prefetched 1.68 / 1.61; passes of 512, 1024, 2048 columns 1.84 /
// 1.74, 1.85 / 1.81, 1.92 / 1.81; 4096 columns at 2048 a pass 1.92 / 1.87).
constexpr int64_t kPassSteps = 64;

#if defined(__x86_64__)
#define LLAMA_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// Multiplies 8 tokens (starting at `a`, a packed token block offset by the first token's row)
// by RowVectors row blocks (starting at `b`, block_stride apart) over column steps [s0, s1). The
// sums start from zero at s0 == 0 and from the partial sums stored in y otherwise: the same fp32
// additions in the same order as one pass over every step, so splitting the columns changes no
// bit of the result.
template <int RowVectors>
LLAMA_BF16_TARGET void multiply_register_block(const uint16_t* a, const uint16_t* next_a,
                                               const uint16_t* b, int64_t block_stride, int64_t s0,
                                               int64_t s1, float* y, int64_t ldy,
                                               int64_t valid_tokens, int64_t valid_rows,
                                               std::span<const std::byte> prefetch) {
    // `prefetch` into L2 a few lines a column step.
    SpreadPrefetch spread(prefetch, s1 - s0);
    const int64_t tokens = std::min<int64_t>(valid_tokens, kTokensPerBlock);
    __mmask16 row_mask[RowVectors];
    for (int j = 0; j < RowVectors; ++j) {
        const int64_t left = std::clamp<int64_t>(valid_rows - 16 * j, 0, 16);
        row_mask[j] = static_cast<__mmask16>((1u << left) - 1);
    }
    __m512 acc[kTokensPerBlock][RowVectors];
    for (int t = 0; t < kTokensPerBlock; ++t) {
        for (int j = 0; j < RowVectors; ++j) {
            acc[t][j] = s0 == 0 || t >= tokens
                            ? _mm512_setzero_ps()
                            : _mm512_maskz_loadu_ps(row_mask[j], y + t * ldy + 16 * j);
        }
    }
    for (int64_t s = s0; s < s1; ++s) {
        const uint16_t* as = a + s * kBlockValues;
        const uint16_t* bs = b + s * kBlockValues;
        for (int t = 0; t < kTokensPerBlock; ++t) {
            _mm_prefetch(
                reinterpret_cast<const char*>(next_a + s * kBlockValues + t * kAmxColumnStep),
                _MM_HINT_T0);
        }
        spread.step();
        for (int64_t pair = 0; pair < kAmxColumnStep / 2; ++pair) {
            __m512bh weights[RowVectors];
            for (int j = 0; j < RowVectors; ++j) {
                weights[j] = (__m512bh)_mm512_loadu_si512(bs + j * block_stride + pair * 32);
            }
            for (int t = 0; t < kTokensPerBlock; ++t) {
                int32_t x_pair;
                std::memcpy(&x_pair, as + t * kAmxColumnStep + 2 * pair, sizeof(x_pair));
                const __m512bh x = (__m512bh)_mm512_set1_epi32(x_pair);
                for (int j = 0; j < RowVectors; ++j) {
                    acc[t][j] = _mm512_dpbf16_ps(acc[t][j], x, weights[j]);
                }
            }
        }
    }
    for (int64_t t = 0; t < tokens; ++t) {
        for (int j = 0; j < RowVectors; ++j) {
            _mm512_mask_storeu_ps(y + t * ldy + 16 * j, row_mask[j], acc[t][j]);
        }
    }
}

LLAMA_BF16_TARGET void gemm_dot_products(const uint16_t* x, int64_t n_tokens, int64_t cols,
                                         const uint16_t* w, int64_t rows, float* y, int64_t ldy,
                                         std::span<const std::byte> prefetch) {
    const int64_t ksteps = (cols + kAmxColumnStep - 1) / kAmxColumnStep;
    const int64_t stride = ksteps * kBlockValues;
    const int64_t row_blocks = (rows + kAmxRowBlock - 1) / kAmxRowBlock;
    const int64_t passes = (ksteps + kPassSteps - 1) / kPassSteps;
    const int64_t register_blocks = (n_tokens + kTokensPerBlock - 1) / kTokensPerBlock *
                                    ((row_blocks + kRowVectors - 1) / kRowVectors) * passes;
    // Whole cache lines of `prefetch` a register block, the last share possibly shorter.
    const auto prefetch_bytes = static_cast<int64_t>(prefetch.size());
    const int64_t lines = (prefetch_bytes + 63) / 64;
    const int64_t share = (lines + register_blocks - 1) / register_blocks * 64;
    int64_t prefetched = 0;
    // A register block's weight rows over one pass of columns stay in L2 while every token runs
    // over them, a token block's columns of the pass in L1.
    for (int64_t rb = 0; rb < row_blocks; rb += kRowVectors) {
        const uint16_t* b = w + rb * stride;
        const int64_t valid_rows = rows - rb * kAmxRowBlock;
        for (int64_t s0 = 0; s0 < ksteps; s0 += kPassSteps) {
            const int64_t s1 = std::min(s0 + kPassSteps, ksteps);
            for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokensPerBlock) {
                // Token t0 sits in packed block t0 / 16, at row t0 % 16 of every column step.
                const uint16_t* a =
                    x + (t0 / kAmxTokenBlock) * stride + (t0 % kAmxTokenBlock) * kAmxColumnStep;
                // The next register block's tokens (after the last, the first ones' next pass),
                // prefetched into L1 a column step at a time: the hardware prefetchers fell
                // behind the 8 rows of 64 bytes a column step reads (1.26 -> 1.68 above).
                const int64_t t1 = t0 + kTokensPerBlock;
                const uint16_t* next_a = t1 < n_tokens ? x + (t1 / kAmxTokenBlock) * stride +
                                                             (t1 % kAmxTokenBlock) * kAmxColumnStep
                                                       : x + (s1 - s0) * kBlockValues;
                float* out = y + t0 * ldy + rb * kAmxRowBlock;
                const int64_t valid_tokens = n_tokens - t0;
                const int64_t count = std::min(share, prefetch_bytes - prefetched);
                const auto share_span = prefetch.subspan(prefetched, count);
                prefetched += count;
                switch (std::min<int64_t>(row_blocks - rb, kRowVectors)) {
                    case 3:
                        multiply_register_block<3>(a, next_a, b, stride, s0, s1, out, ldy,
                                                   valid_tokens, valid_rows, share_span);
                        break;
                    case 2:
                        multiply_register_block<2>(a, next_a, b, stride, s0, s1, out, ldy,
                                                   valid_tokens, valid_rows, share_span);
                        break;
                    default:
                        multiply_register_block<1>(a, next_a, b, stride, s0, s1, out, ldy,
                                                   valid_tokens, valid_rows, share_span);
                }
            }
        }
    }
}
#endif

}  // namespace

bool avx512_bf16_available() { return cpu_supports(IsaLevel::Avx512Bf16); }

void gemm_bf16_avx512(std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                      std::span<const uint16_t> packed_w, int64_t rows, std::span<float> y,
                      int64_t ldy, std::span<const std::byte> prefetch) {
    if (!avx512_bf16_available()) {
        throw Error("gemm_bf16_avx512: this CPU does not offer AVX512-BF16");
    }
    if (n_tokens <= 0 || rows <= 0 || cols <= 0) return;
    detail::check_packed_gemm_args("gemm_bf16_avx512", packed_x, n_tokens, cols, packed_w, rows, y,
                                   ldy);
#if defined(__x86_64__)
    gemm_dot_products(packed_x.data(), n_tokens, cols, packed_w.data(), rows, y.data(), ldy,
                      prefetch);
#else
    (void)prefetch;
#endif
}

}  // namespace llama::kernels
