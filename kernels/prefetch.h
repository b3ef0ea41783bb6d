#pragma once

// Software prefetch for the one-token (decode) kernels, which read each weight row front to back
// as one stream from DRAM, and for the blocked prompt GEMMs (SpreadPrefetch, RowPrefetch, at the
// end).
//
// 4 KB ahead, into L2 (PREFETCHT1). Measured on an Intel Xeon with AMX (2 cores, 11008 x 4096
// matrices from DRAM; kernels_bench BM_Matvec, quant_bench BM_MatvecQuant, GB/s a thread): the
// hardware prefetcher alone F16 10.0, Q4_0 interleaved 9.7, Q6_K 9.5, Q8_0 9.1; 2 KB ahead into
// L1 (T0) F16 13.3, Q6_K 9.5, Q8_0 9.1; 4 KB into L2 F16 14.8, Q4_0 12.8, Q6_K 11.2, Q8_0 12.5
// (MemoryRead: 15 on one thread). Into L1 the prefetches wait for L1's few fill buffers like the
// loads do; into L2 they run ahead, and 3-12 KB measured alike. (On Zen 4 earlier sessions saw
// 2-4 KB ahead into L1 as fast as without or slightly faster.)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace llama::kernels {

inline constexpr int64_t kStreamPrefetchBytes = 4096;

// The cache line kStreamPrefetchBytes after p.
inline void prefetch_stream(const void* p) {
    __builtin_prefetch(static_cast<const char*>(p) + kStreamPrefetchBytes, 0, 2);
}

// Every cache line of the `bytes` that start kAhead after p, with __builtin_prefetch's locality
// (3: into L1, 2: into L2).
template <int64_t kAhead, int kLocality>
inline void prefetch_lines(const void* p, int64_t bytes) {
    for (int64_t line = 0; line < bytes; line += 64) {
        __builtin_prefetch(static_cast<const char*>(p) + kAhead + line, 0, kLocality);
    }
}

// Every cache line of the `bytes` that start kStreamPrefetchBytes after p.
inline void prefetch_stream_lines(const void* p, int64_t bytes) {
    prefetch_lines<kStreamPrefetchBytes, 2>(p, bytes);
}

// Software prefetch into L2 of a span (the next tile's weight rows, which the blocked prompt
// GEMMs' caller packs after them), spread over `steps` calls of step(): a few lines each, since
// all at once they held up the core.
class SpreadPrefetch {
  public:
    SpreadPrefetch(std::span<const std::byte> bytes, int64_t steps)
        : next_(bytes.data()),
          end_(bytes.data() + bytes.size()),
          lines_a_step_(ceil_div((static_cast<int64_t>(bytes.size()) + 63) / 64,
                                 std::max<int64_t>(steps, 1))) {}

    void step() {
        for (int64_t line = 0; line < lines_a_step_ && next_ < end_; ++line, next_ += 64) {
            __builtin_prefetch(next_, 0, 2);
        }
    }

  private:
    static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

    const std::byte* next_;
    const std::byte* end_;
    int64_t lines_a_step_;
};

// Software prefetch into L2 of a run of rows (the same `lines` cache lines of each, from
// `first` on, rows row_stride bytes apart), spread over `shares` calls of next_share: the
// blocked loop reads a short piece of each of 32 rows, which the hardware prefetchers do not run
// ahead of, and all the prefetches at once held up the core. (A class with state: GCC judged a
// lambda that held only prefetches free of side effects and dropped its calls.)
class RowPrefetch {
  public:
    RowPrefetch(const std::byte* first, int64_t row_stride, int64_t n_rows, int64_t lines,
                int64_t shares)
        : next_(first),
          row_stride_(row_stride),
          left_(std::max<int64_t>(0, n_rows)),
          lines_(std::max<int64_t>(0, lines)),
          rows_per_share_((left_ + shares - 1) / std::max<int64_t>(1, shares)) {}

    void next_share() {
        for (int64_t i = 0; i < rows_per_share_ && left_ > 0; ++i, --left_, next_ += row_stride_) {
            prefetch_lines<0, 2>(next_, lines_ * 64);
        }
    }

  private:
    const std::byte* next_;
    int64_t row_stride_;
    int64_t left_;  // rows
    int64_t lines_;
    int64_t rows_per_share_;
};

}  // namespace llama::kernels
