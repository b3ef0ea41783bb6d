#include "llama/tensor.h"

#include <array>
#include <string>

#include "llama/error.h"

namespace llama {

namespace {
// Block layouts as ggml defines them: Q8_0/Q4_0 blocks of 32 with an f16 scale; K-quants in
// super-blocks of 256.
constexpr std::array<DTypeTraits, 8> kTraits = {{
    {"F32", 1, 4},
    {"F16", 1, 2},
    {"BF16", 1, 2},
    {"Q8_0", 32, 34},
    {"Q4_0", 32, 18},
    {"Q4_K", 256, 144},
    {"Q5_K", 256, 176},
    {"Q6_K", 256, 210},
}};
}  // namespace

const DTypeTraits& dtype_traits(DType type) { return kTraits.at(static_cast<size_t>(type)); }

std::string_view dtype_name(DType type) { return dtype_traits(type).name; }

int64_t row_bytes(DType type, int64_t cols) {
    const DTypeTraits& traits = dtype_traits(type);
    if (cols % traits.block_elements != 0) {
        throw Error("a row of " + std::to_string(cols) + " elements is not a whole number of " +
                    std::string(traits.name) + " blocks of " +
                    std::to_string(traits.block_elements));
    }
    return cols / traits.block_elements * traits.block_bytes;
}

}  // namespace llama
