#include "llama/tensor.h"

#include <array>
#include <string>

#include "llama/error.h"

namespace llama {

namespace {
// Block layouts as ggml defines them: Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/IQ4_NL blocks of 32; K-quants and
// IQ4_XS in super-blocks of 256; the interleaved types as their base types.
// One type per line, in DType order.
// clang-format off
constexpr std::array<DTypeTraits, 21> kTraits = {{
    {"F32", 1, 4},
    {"F16", 1, 2},
    {"BF16", 1, 2},
    {"Q8_0", 32, 34},
    {"Q4_0", 32, 18},
    {"Q4_K", 256, 144},
    {"Q5_K", 256, 176},
    {"Q6_K", 256, 210},
    {"Q4_1", 32, 20},
    {"Q5_0", 32, 22},
    {"Q5_1", 32, 24},
    {"Q2_K", 256, 84},
    {"Q3_K", 256, 110},
    {"IQ4_NL", 32, 18},
    {"IQ4_XS", 256, 136},
    {"Q4_0_R16", 32, 18},
    {"Q4_K_R16", 256, 144},
    {"IQ4_NL_R16", 32, 18},
    {"Q8_0_R16", 32, 34},
    {"Q6_K_R16", 256, 210},
    {"Q5_K_R16", 256, 176},
}};
// clang-format on
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
