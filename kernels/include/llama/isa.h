#pragma once

// The x86 instruction-set level the kernels run at. Every kernel family is compiled for each
// level it has a path for (with target attributes, whatever the build flags) and picks its path
// at run time from active_isa(), so one binary is fast on every CPU and one machine can test and
// time every level it has by capping the level.
//
// The levels are cumulative: a CPU is at the highest level whose features, and those of every
// level below it, it has (an Ice Lake Xeon has AVX-512 VNNI but not AVX512-BF16, so it is at
// avx512-vnni; a Zen 4 is at avx512-bf16; a Sapphire Rapids Xeon at amx). One level is a side
// branch: avx2-vnni, AVX2 plus AVX-VNNI (VEX-encoded VPDPBUSD), which Intel's client chips from
// Alder Lake on have without AVX-512 (they are at avx2-vnni) and which Zen 4 lacks although it has
// AVX-512 VNNI. The levels above it do not include it, so a cap at avx2 or avx512 runs what a CPU
// with only those features runs, on any machine.

#include <optional>
#include <string>
#include <string_view>

namespace llama {

enum class IsaLevel : int {
    Scalar = 0,  // portable C++ only
    Avx2,        // AVX2 + FMA + F16C
    Avx2Vnni,    // + AVX-VNNI; a side branch: not part of the levels above
    Avx512,      // AVX-512 F, BW, VL, DQ
    Avx512Vnni,  // + AVX512-VNNI (integer dot products)
    Avx512Bf16,  // + AVX512-BF16 (bfloat16 dot products)
    Amx,         // + AMX-TILE, AMX-BF16 and AMX-INT8, granted by the OS
};

// "scalar", "avx2", "avx2-vnni", "avx512", "avx512-vnni", "avx512-bf16", "amx".
std::string_view isa_name(IsaLevel level);
// The level named `name` (as isa_name writes it), or nothing.
std::optional<IsaLevel> parse_isa(std::string_view name);
// Every level, lowest first, as a list for help texts: "scalar|avx2|...".
std::string_view isa_names();

// The highest level this CPU (and OS) supports; detected once per process.
IsaLevel detected_isa();

// Whether this CPU (and OS) support `level`, ignoring any cap: every level up to detected_isa(),
// except avx2-vnni, which needs AVX-VNNI whatever the level.
bool isa_supported(IsaLevel level);

// The level kernels use: detected_isa(), capped by set_isa_cap() or, before any call to it, by
// the LLAMA_ISA environment variable. The cap applies to the whole process. Reading it is cheap
// (one relaxed atomic load), so kernels dispatch on it at every call.
IsaLevel active_isa();

// Caps the level for the whole process. Throws llama::Error when the CPU lacks `level`, naming
// it and the CPU's level. A cap does not raise the level: set_isa_cap(detected_isa()) removes it.
void set_isa_cap(IsaLevel level);

// Applies a cap given by name (a flag's or LLAMA_ISA's value); throws llama::Error naming
// `source` for an unknown name or a level the CPU lacks.
void set_isa_cap(std::string_view name, std::string_view source);

// Checks and applies LLAMA_ISA unless set_isa_cap() was called (a program's flag beats the
// environment). Throws llama::Error for an unknown level or one the CPU lacks. load_model() calls
// it, so a bad LLAMA_ISA is an error at load rather than silently ignored.
void apply_isa_environment();

}  // namespace llama
