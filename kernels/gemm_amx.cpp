// AMX-BF16 tile kernel over packed operands (layouts in gemm_amx.h).
//
// Tile registers: C tiles 0-3 hold a 32 x 32 fp32 output block (tokens x rows), A tiles 4-5 two
// 16-token activation blocks, B tiles 6-7 two 16-row weight blocks. Each column step does 4 tile
// loads for 4 TDPBF16PS, so every loaded tile feeds two multiplies.

#include "kernels/gemm_amx.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/prefetch.h"
#include "kernels/simd.h"
#include "llama/error.h"

#if defined(__x86_64__) && defined(__linux__)
#define LLAMA_HAVE_AMX_CODE 1
#endif

namespace llama::kernels {

namespace {

// Column steps per chunk (4096 columns). Within a chunk, a pair of token blocks (64 KB per 1024
// columns) stays in L2 while the weight tile's row blocks stream past it; chunking bounds that
// working set for long rows (the 11008-column down projection) at the cost of reloading the
// partial sums from y once per chunk. Shorter chunks measured slower: more reloads, and a chunk's
// slices of the row blocks (ksteps KB apart, 128 KB for 4096 columns) share L2 sets.
constexpr int64_t kColumnChunkSteps = 128;

#if defined(LLAMA_HAVE_AMX_CODE)

#define LLAMA_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f")))

constexpr int64_t kBlockValues = kAmxTokenBlock * kAmxColumnStep;  // 512 bf16 = 1 KB

struct alignas(64) TileConfig {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
};

LLAMA_AMX_TARGET void configure_tiles() {
    TileConfig config{};
    config.palette_id = 1;
    for (int tile = 0; tile < 8; ++tile) {
        config.rows[tile] = 16;
        config.bytes_per_row[tile] = 64;
    }
    // Not _tile_loadconfig: GCC 12 declares it as reading only the first 8 bytes of the
    // configuration, so the stores of the row and column sizes above can be dropped as dead.
    __asm__ volatile("ldtilecfg %0" ::"m"(config));
    // GCC 12's tile loads do not tell the compiler that they read memory either: make every
    // store to the operands (the packing, should it ever be inlined here) happen first.
    __asm__ volatile("" ::: "memory");
}

// Copies the valid corner of a stored 16 x 16 C tile into y.
inline void copy_tile_corner(const float* block, float* y, int64_t ldy, int64_t valid_tokens,
                             int64_t valid_rows) {
    for (int64_t t = 0; t < std::min<int64_t>(valid_tokens, 16); ++t) {
        std::memcpy(y + t * ldy, block + t * 16, std::min<int64_t>(valid_rows, 16) * sizeof(float));
    }
}

// Stores C tile `tile` (16 tokens x 16 rows) to y, keeping only the valid corner when the block
// hangs over the end of the tokens or rows. A macro because the tile intrinsics take the tile
// number as a literal.
#define LLAMA_STORE_C_TILE(tile, y, ldy, valid_tokens, valid_rows)             \
    do {                                                                       \
        if ((valid_tokens) >= 16 && (valid_rows) >= 16) {                      \
            _tile_stored(tile, (y), (ldy) * sizeof(float));                    \
        } else {                                                               \
            alignas(64) float block[16 * 16];                                  \
            _tile_stored(tile, block, 16 * sizeof(float));                     \
            copy_tile_corner(block, (y), (ldy), (valid_tokens), (valid_rows)); \
        }                                                                      \
    } while (0)

// Where one call's output block sits: a and b point at column step 0 of its first token / row
// block (the second block of each follows block_stride values later), y at its first output.
struct BlockArgs {
    const uint16_t* a;
    const uint16_t* b;
    int64_t block_stride;  // ksteps * 512
    float* y;
    int64_t ldy;
    int64_t valid_tokens;  // from the block's first token; >= 16 * TokenTiles means all valid
    int64_t valid_rows;
};

// Multiplies column steps [s_begin, s_end) into a TokenTiles x RowTiles block of C tiles. With
// `accumulate` the tiles start from y (only for blocks of whole tiles), else from zero.
template <int TokenTiles, int RowTiles>
LLAMA_AMX_TARGET void multiply_block(const BlockArgs& args, int64_t s_begin, int64_t s_end,
                                     bool accumulate, SpreadPrefetch& prefetch) {
    const int64_t next = args.block_stride;
    float* y = args.y;
    const int64_t ldy = args.ldy;
    const int64_t ldy_bytes = ldy * sizeof(float);
    if (accumulate) {
        _tile_loadd(0, y, ldy_bytes);
        if constexpr (RowTiles > 1) _tile_loadd(1, y + 16, ldy_bytes);
        if constexpr (TokenTiles > 1) _tile_loadd(2, y + 16 * ldy, ldy_bytes);
        if constexpr (TokenTiles > 1 && RowTiles > 1) _tile_loadd(3, y + 16 * ldy + 16, ldy_bytes);
    } else {
        _tile_zero(0);
        if constexpr (RowTiles > 1) _tile_zero(1);
        if constexpr (TokenTiles > 1) _tile_zero(2);
        if constexpr (TokenTiles > 1 && RowTiles > 1) _tile_zero(3);
    }
    const uint16_t* a = args.a;
    const uint16_t* b = args.b;
    for (int64_t s = s_begin; s < s_end; ++s) {
        const int64_t offset = s * kBlockValues;
        prefetch.step();
        _tile_loadd(4, a + offset, 64);
        _tile_loadd(6, b + offset, 64);
        _tile_dpbf16ps(0, 4, 6);
        if constexpr (RowTiles > 1) {
            _tile_loadd(7, b + next + offset, 64);
            _tile_dpbf16ps(1, 4, 7);
        }
        if constexpr (TokenTiles > 1) {
            _tile_loadd(5, a + next + offset, 64);
            _tile_dpbf16ps(2, 5, 6);
            if constexpr (RowTiles > 1) _tile_dpbf16ps(3, 5, 7);
        }
    }
    const int64_t tokens = args.valid_tokens;
    const int64_t rows = args.valid_rows;
    LLAMA_STORE_C_TILE(0, y, ldy, tokens, rows);
    if constexpr (RowTiles > 1) LLAMA_STORE_C_TILE(1, y + 16, ldy, tokens, rows - 16);
    if constexpr (TokenTiles > 1) {
        LLAMA_STORE_C_TILE(2, y + 16 * ldy, ldy, tokens - 16, rows);
        if constexpr (RowTiles > 1) {
            LLAMA_STORE_C_TILE(3, y + 16 * ldy + 16, ldy, tokens - 16, rows - 16);
        }
    }
}

LLAMA_AMX_TARGET void multiply_any_block(int token_tiles, int row_tiles, const BlockArgs& args,
                                         int64_t s_begin, int64_t s_end, bool accumulate,
                                         SpreadPrefetch& prefetch) {
    if (token_tiles == 2) {
        if (row_tiles == 2) {
            return multiply_block<2, 2>(args, s_begin, s_end, accumulate, prefetch);
        }
        return multiply_block<2, 1>(args, s_begin, s_end, accumulate, prefetch);
    }
    if (row_tiles == 2) return multiply_block<1, 2>(args, s_begin, s_end, accumulate, prefetch);
    multiply_block<1, 1>(args, s_begin, s_end, accumulate, prefetch);
}

// The whole product. Whole 16 x 16 tiles run chunk by chunk of column steps, token block pairs
// outside, row block pairs inside, so the weight tile's chunk is reused by every token block
// while one token pair sits in L2; partial sums wait in y between chunks. Tiles over the ragged
// token and row ends run over all columns at once, since y has no room for their padding.
LLAMA_AMX_TARGET void gemm_tiles(const uint16_t* x, int64_t n_tokens, int64_t cols,
                                 const uint16_t* w, int64_t rows, float* y, int64_t ldy,
                                 int64_t chunk_steps, std::span<const std::byte> next_tile) {
    const int64_t ksteps = (cols + kAmxColumnStep - 1) / kAmxColumnStep;
    const int64_t stride = ksteps * kBlockValues;
    const int64_t full_token_blocks = n_tokens / kAmxTokenBlock;
    const int64_t full_row_blocks = rows / kAmxRowBlock;
    const int64_t token_blocks = (n_tokens + kAmxTokenBlock - 1) / kAmxTokenBlock;
    auto args_at = [&](int64_t tb, int64_t rb) {
        return BlockArgs{x + tb * stride,
                         w + rb * stride,
                         stride,
                         y + tb * kAmxTokenBlock * ldy + rb * kAmxRowBlock,
                         ldy,
                         n_tokens - tb * kAmxTokenBlock,
                         rows - rb * kAmxRowBlock};
    };
    // The caller's next tile (its weight rows, packed after this call), prefetched into L2 over
    // the column steps of all the block calls below, so that packing it does not wait for DRAM.
    const int64_t token_pairs = (full_token_blocks + 1) / 2;
    const int64_t row_pairs = (full_row_blocks + 1) / 2;
    const int64_t steps =
        ksteps * (token_pairs * row_pairs +
                  (full_row_blocks * kAmxRowBlock < rows ? (token_blocks + 1) / 2 : 0) +
                  (full_token_blocks < token_blocks ? row_pairs : 0));
    SpreadPrefetch prefetch(next_tile, steps);
    configure_tiles();
    for (int64_t s0 = 0; s0 < ksteps; s0 += chunk_steps) {
        const int64_t s1 = std::min(s0 + chunk_steps, ksteps);
        for (int64_t tb = 0; tb < full_token_blocks; tb += 2) {
            const int token_tiles = tb + 1 < full_token_blocks ? 2 : 1;
            for (int64_t rb = 0; rb < full_row_blocks; rb += 2) {
                const int row_tiles = rb + 1 < full_row_blocks ? 2 : 1;
                multiply_any_block(token_tiles, row_tiles, args_at(tb, rb), s0, s1, s0 > 0,
                                   prefetch);
            }
        }
    }
    if (full_row_blocks * kAmxRowBlock < rows) {  // last rows, every token
        for (int64_t tb = 0; tb < token_blocks; tb += 2) {
            const int token_tiles = tb + 1 < token_blocks ? 2 : 1;
            multiply_any_block(token_tiles, 1, args_at(tb, full_row_blocks), 0, ksteps, false,
                               prefetch);
        }
    }
    if (full_token_blocks < token_blocks) {  // last tokens, the rows of whole blocks
        for (int64_t rb = 0; rb < full_row_blocks; rb += 2) {
            const int row_tiles = rb + 1 < full_row_blocks ? 2 : 1;
            multiply_any_block(1, row_tiles, args_at(full_token_blocks, rb), 0, ksteps, false,
                               prefetch);
        }
    }
    _tile_release();
}

#endif  // LLAMA_HAVE_AMX_CODE

}  // namespace

bool amx_bf16_available() { return cpu_supports(IsaLevel::Amx); }

void gemm_bf16_amx(std::span<const uint16_t> packed_x, int64_t n_tokens, int64_t cols,
                   std::span<const uint16_t> packed_w, int64_t rows, std::span<float> y,
                   int64_t ldy, std::span<const std::byte> prefetch) {
    detail::gemm_bf16_amx_chunked(packed_x, n_tokens, cols, packed_w, rows, y, ldy,
                                  kColumnChunkSteps, prefetch);
}

void detail::gemm_bf16_amx_chunked(std::span<const uint16_t> packed_x, int64_t n_tokens,
                                   int64_t cols, std::span<const uint16_t> packed_w, int64_t rows,
                                   std::span<float> y, int64_t ldy, int64_t chunk_steps,
                                   std::span<const std::byte> prefetch) {
    if (chunk_steps < 1) throw Error("gemm_bf16_amx: chunk_steps must be positive");
    if (!amx_bf16_available()) throw Error("gemm_bf16_amx: this CPU or OS does not offer AMX-BF16");
    if (n_tokens <= 0 || rows <= 0 || cols <= 0) return;
    detail::check_packed_gemm_args("gemm_bf16_amx", packed_x, n_tokens, cols, packed_w, rows, y,
                                   ldy);
#if defined(LLAMA_HAVE_AMX_CODE)
    gemm_tiles(packed_x.data(), n_tokens, cols, packed_w.data(), rows, y.data(), ldy, chunk_steps,
               prefetch);
#else
    (void)prefetch;
#endif
}

}  // namespace llama::kernels
