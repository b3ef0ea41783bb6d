// Interleaving 16 rows of Q4_0 / Q4_K / Q5_K / IQ4_NL / Q8_0 / Q6_K blocks and back (layout in
// quant_interleave.h).

#include "kernels/quant_interleave.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "llama/error.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace llama::kernels {

namespace {

// A run of `words` words of `word_bytes` bytes at `offset` in each row's block; in a block group
// the runs follow each other as [words][16 rows][word_bytes].
struct Field {
    int offset;
    int words;
    int word_bytes;
};

struct Layout {
    Field fields[50];
    int n_fields;
    int64_t block_bytes;
};

const Layout& layout(DType base) {
    // Q4_0: f16 d, qs[16]. Q4_K: f16 d, f16 dmin, scales[12], qs[128].
    static const Layout q4_0{{{0, 1, 2}, {2, 4, 4}}, 2, 18};
    static const Layout q4_k{{{0, 1, 2}, {2, 1, 2}, {4, 3, 4}, {16, 32, 4}}, 4, 144};
    // Q5_K: f16 d, f16 dmin, scales[12], qh[32], qs[128].
    static const Layout q5_k{{{0, 1, 2}, {2, 1, 2}, {4, 3, 4}, {16, 8, 4}, {48, 32, 4}}, 5, 176};
    // Q8_0: f16 d, qs[32].
    static const Layout q8_0{{{0, 1, 2}, {2, 8, 4}}, 2, 34};
    // Q6_K: ql[128], qh[64], int8 scales[16], f16 d. The group: d, the scales, then for each
    // 4-byte chunk k of half h, in the order the kernels read them, the ql word with the values'
    // low nibbles at +4k / +64+4k, the one at +32+4k / +96+4k, and the qh word of their top bits.
    static const Layout q6_k = [] {
        Layout l{{{208, 1, 2}, {192, 4, 4}}, 2, 210};
        for (int h = 0; h < 2; ++h) {
            for (int k = 0; k < 8; ++k) {
                l.fields[l.n_fields++] = {64 * h + 4 * k, 1, 4};
                l.fields[l.n_fields++] = {64 * h + 32 + 4 * k, 1, 4};
                l.fields[l.n_fields++] = {128 + 32 * h + 4 * k, 1, 4};
            }
        }
        return l;
    }();
    switch (base) {
        case DType::Q4_0:
        case DType::IQ4_NL:  // the same block: f16 d, qs[16]
            return q4_0;
        case DType::Q4_K:
            return q4_k;
        case DType::Q5_K:
            return q5_k;
        case DType::Q8_0:
            return q8_0;
        case DType::Q6_K:
            return q6_k;
        default:
            throw Error("no interleaved layout for " + std::string(dtype_name(base)));
    }
}

void check_shape(DType base, int64_t rows, int64_t cols) {
    (void)layout(base);  // throws for a type without an interleaved layout
    if (rows % kInterleaveRows != 0) {
        throw Error("cannot interleave " + std::to_string(rows) + " rows of " +
                    std::string(dtype_name(base)) + ": not a multiple of 16");
    }
    (void)row_bytes(base, cols);  // throws for partial blocks
}

}  // namespace

namespace {

// One field's words of 16 rows between a block group (`group`: the field's run) and the rows'
// blocks (`block`: block b of row 0), run by run of 16 words (one per row), `Bytes` a constant so
// that every copy is a single move.
template <int Bytes, bool kInterleave, class GroupBytes, class RowBytes>
void copy_field(GroupBytes* group, const Field& field, RowBytes* block, int64_t row_stride) {
    for (int w = 0; w < field.words; ++w) {
        GroupBytes* words = group + static_cast<int64_t>(w) * kInterleaveRows * Bytes;
        RowBytes* row_word = block + field.offset + w * Bytes;
        for (int r = 0; r < kInterleaveRows; ++r) {
            if constexpr (kInterleave) {
                std::memcpy(words + r * Bytes, row_word + r * row_stride, Bytes);
            } else {
                std::memcpy(row_word + r * row_stride, words + r * Bytes, Bytes);
            }
        }
    }
}

#if defined(__SSE2__)
// Four words of four rows between a group's runs and the rows' blocks as one 4 x 4 transpose of
// 32-bit words: 4 loads and 4 stores of 16 bytes where word by word took 16 of each.
template <bool kInterleave, class GroupBytes, class RowBytes>
void copy_words_4x4(GroupBytes* runs, RowBytes* row_words, int64_t row_stride) {
    constexpr int64_t kRun = kInterleaveRows * 4;  // bytes from one word's run to the next
    const auto load = [](const std::byte* p) {
        return _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    };
    const auto store = [](std::byte* p, __m128 v) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_castps_si128(v));
    };
    __m128 v[4];
    for (int i = 0; i < 4; ++i) {
        if constexpr (kInterleave) {
            v[i] = load(row_words + i * row_stride);
        } else {
            v[i] = load(runs + i * kRun);
        }
    }
    _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]);
    for (int i = 0; i < 4; ++i) {
        if constexpr (kInterleave) {
            store(runs + i * kRun, v[i]);
        } else {
            store(row_words + i * row_stride, v[i]);
        }
    }
}
#endif

// A field of 4-byte words: four words of four rows at a time where there are four.
template <bool kInterleave, class GroupBytes, class RowBytes>
void copy_word_field(GroupBytes* group, const Field& field, RowBytes* block, int64_t row_stride) {
    int w = 0;
#if defined(__SSE2__)
    for (; w + 4 <= field.words; w += 4) {
        for (int r = 0; r < kInterleaveRows; r += 4) {
            copy_words_4x4<kInterleave>(
                group + static_cast<int64_t>(w) * kInterleaveRows * 4 + 4 * r,
                block + field.offset + 4 * w + r * row_stride, row_stride);
        }
    }
#endif
    const Field rest{field.offset + 4 * w, field.words - w, 4};
    copy_field<4, kInterleave>(group + static_cast<int64_t>(w) * kInterleaveRows * 4, rest, block,
                               row_stride);
}

// Field by field, each field's words row after row (the group front to back). Deinterleaving runs
// for every group of every prompt chunk on the dequantizing (AMX) path: walking the layout row by
// row, a word at a time, it took a quarter of an 8-layer Q4_K_M prompt's time on an Intel Xeon
// (pp128, 2 threads: 162 -> 187 t/s; Q4_0 155 -> 196, Q8_0 135 -> 167).
// (group: const when deinterleaving; rows: const when interleaving.)
template <bool kInterleave, class GroupBytes, class RowBytes>
void copy_groups(const Layout& l, GroupBytes* group, int64_t n_blocks, RowBytes* rows,
                 int64_t row_stride) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        GroupBytes* run = group + b * l.block_bytes * kInterleaveRows;
        RowBytes* block = rows + b * l.block_bytes;
        for (int f = 0; f < l.n_fields; ++f) {
            const Field& field = l.fields[f];
            if (field.word_bytes == 4) {
                copy_word_field<kInterleave>(run, field, block, row_stride);
            } else {
                copy_field<2, kInterleave>(run, field, block, row_stride);
            }
            run += static_cast<int64_t>(field.words) * field.word_bytes * kInterleaveRows;
        }
    }
}

}  // namespace

void interleave_rows(DType base, const std::byte* rows, int64_t row_stride, int64_t n_blocks,
                     std::byte* group) {
    copy_groups<true>(layout(base), group, n_blocks, rows, row_stride);
}

void deinterleave_rows(DType base, const std::byte* group, int64_t n_blocks, std::byte* rows,
                       int64_t row_stride) {
    copy_groups<false>(layout(base), group, n_blocks, rows, row_stride);
}

namespace {

// Every 16-row group of a [rows, cols] matrix of `base`, through a copy of the group, into or out
// of the interleaved layout.
void rewrite_groups(DType base, std::byte* data, int64_t rows, int64_t cols, bool interleave) {
    check_shape(base, rows, cols);
    const int64_t stride = row_bytes(base, cols);
    const int64_t n_blocks = cols / dtype_traits(base).block_elements;
    std::vector<std::byte> copy(static_cast<size_t>(stride * kInterleaveRows));
    for (int64_t r = 0; r < rows; r += kInterleaveRows) {
        std::byte* group = data + r * stride;
        std::memcpy(copy.data(), group, copy.size());
        if (interleave) {
            interleave_rows(base, copy.data(), stride, n_blocks, group);
        } else {
            deinterleave_rows(base, copy.data(), n_blocks, group, stride);
        }
    }
}

}  // namespace

void interleave_matrix(DType base, std::byte* data, int64_t rows, int64_t cols) {
    rewrite_groups(base, data, rows, cols, true);
}

void deinterleave_matrix(DType interleaved, std::byte* data, int64_t rows, int64_t cols) {
    if (!is_interleaved(interleaved)) {
        throw Error(std::string(dtype_name(interleaved)) + " is not an interleaved type");
    }
    rewrite_groups(interleaved_base(interleaved), data, rows, cols, false);
}

void check_whole_groups(const Matrix& w, const char* what) {
    if (w.rows % kInterleaveRows != 0) {
        throw Error(std::string(what) + ": " + std::to_string(w.rows) + " rows of " +
                    std::string(dtype_name(w.dtype)) + " are not whole groups of 16");
    }
}

void deinterleave_slice(const Matrix& w, int64_t row0, int64_t n_rows, std::byte* out) {
    const DType base = interleaved_base(w.dtype);
    if (!is_interleaved(w.dtype) || row0 % kInterleaveRows != 0 || row0 < 0 ||
        row0 + n_rows > w.rows) {
        throw Error("deinterleave_slice: bad rows " + std::to_string(row0) + " + " +
                    std::to_string(n_rows) + " of a " + std::string(dtype_name(w.dtype)) +
                    " matrix of " + std::to_string(w.rows));
    }
    const int64_t stride = w.row_stride();
    const int64_t n_blocks = w.cols / dtype_traits(base).block_elements;
    std::vector<std::byte> rows(static_cast<size_t>(stride * kInterleaveRows));
    for (int64_t r = 0; r < n_rows; r += kInterleaveRows) {
        const int64_t count = std::min<int64_t>(kInterleaveRows, n_rows - r);
        std::byte* target = count == kInterleaveRows ? out + r * stride : rows.data();
        deinterleave_rows(base, w.data + (row0 + r) * stride, n_blocks, target, stride);
        if (count < kInterleaveRows) {
            std::memcpy(out + r * stride, rows.data(), static_cast<size_t>(count * stride));
        }
    }
}

}  // namespace llama::kernels
