#pragma once

// Internal: inline scalar 16-bit float conversions, shared by fp16.cpp (which exports them) and
// the portable matvec path (which needs them inlined into its inner loop).

#include <bit>
#include <cstdint>

namespace llama::kernels::detail {

// NaNs come out quiet with their payload kept, like VCVTPH2PS. Branch-free (selects only) so the
// portable matvec path can vectorise it.
inline float f16_to_f32_scalar(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t shifted = static_cast<uint32_t>(h & 0x7fffu) << 13;  // exponent and mantissa
    const uint32_t exponent = shifted & 0x0f800000u;
    const uint32_t rebiased = shifted + ((127u - 15u) << 23);
    // Inf/NaN: push the exponent on to all ones; NaNs get the quiet bit.
    const uint32_t quiet = (shifted & 0x007fe000u) != 0 ? 0x00400000u : 0u;
    const uint32_t special = (rebiased + ((128u - 16u) << 23)) | quiet;
    // Subnormal (and zero): 2^-14 * (1 + m/1024) - 2^-14 is exactly m * 2^-24.
    const float subnormal =
        std::bit_cast<float>(rebiased + (1u << 23)) - std::bit_cast<float>((127u - 14u) << 23);
    const uint32_t magnitude = exponent == 0x0f800000u ? special
                               : exponent == 0         ? std::bit_cast<uint32_t>(subnormal)
                                                       : rebiased;
    return std::bit_cast<float>(magnitude | sign);
}

// Round to nearest even; overflow goes to inf; NaNs stay NaN, quiet, with the payload truncated
// like VCVTPS2PH.
inline uint16_t f32_to_f16_scalar(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const uint32_t magnitude = bits & 0x7fffffffu;

    if (magnitude >= 0x7f800000u) {
        if (magnitude == 0x7f800000u) return sign | 0x7c00u;
        return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
    }
    // 65520 and above round to inf.
    if (magnitude >= 0x477ff000u) return sign | 0x7c00u;

    if (magnitude < 0x38800000u) {
        // Result is a half subnormal (or zero): units of 2^-24, rounded to nearest even.
        const uint32_t exponent = magnitude >> 23;
        if (exponent < 102) return sign;  // below 2^-25: rounds to zero
        const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126 - exponent;  // 14..24
        uint32_t quotient = mantissa >> shift;
        const uint32_t remainder = mantissa & ((1u << shift) - 1);
        const uint32_t halfway = 1u << (shift - 1);
        if (remainder > halfway || (remainder == halfway && (quotient & 1u))) ++quotient;
        return static_cast<uint16_t>(sign | quotient);  // a carry into 0x400 is the smallest normal
    }

    // Normal: rebias the exponent, then round the 13 dropped bits to nearest even. A carry out of
    // the mantissa correctly bumps the exponent.
    const uint32_t odd = (magnitude >> 13) & 1u;
    const uint32_t rounded = magnitude - ((127u - 15u) << 23) + 0xfffu + odd;
    return static_cast<uint16_t>(sign | (rounded >> 13));
}

inline float bf16_to_f32_scalar(uint16_t h) {
    return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

inline uint16_t f32_to_bf16_scalar(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
    const uint32_t odd = (bits >> 16) & 1u;
    return static_cast<uint16_t>((bits + 0x7fffu + odd) >> 16);
}

}  // namespace llama::kernels::detail
