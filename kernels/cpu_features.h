#pragma once

// Internal side of llama/isa.h: what the CPU has, feature by feature (tests and benchmarks ask
// whether a path can run at all), and the attribute macros that compile a function for one level
// whatever the build's -march, so a portable build keeps every path.

#include "llama/isa.h"

namespace llama::kernels {

// Whether the CPU (and OS) support `level`, ignoring any cap. Tests and benchmarks run every
// kernel path for which this is true.
inline bool cpu_supports(IsaLevel level) { return isa_supported(level); }

// Whether kernels may use `level` now: not above the cap (active_isa()). avx2-vnni is enabled
// only at that level itself: the levels above it do not include AVX-VNNI.
inline bool isa_enabled(IsaLevel level) {
    const IsaLevel active = active_isa();
    return level == IsaLevel::Avx2Vnni ? active == IsaLevel::Avx2Vnni : level <= active;
}

// AVX-VNNI (VEX-encoded VPDPBUSD on ymm registers): Intel's client chips from Alder Lake on and
// its Xeons from Sapphire Rapids on, AMD's from Zen 5. What level avx2-vnni adds to avx2.
bool cpu_has_avx_vnni();

// Whether VDPBF16PS (two bf16 products a lane) outruns fp32 FMA here, so that the avx512-bf16
// level should multiply float weights with it: on AMD's cores (Zen 4 on), where it issues as often
// as an FMA. Intel's issue it once per 2.3 cycles (measured on a Xeon with AMX, whose zmm FMA
// issues twice a cycle): F16 prompt 128 there ran 60 t/s with it, 90 on fp32 FMA tiles, which
// are exact besides; so on Intel the level keeps float weights on the FMA tiles.
bool cpu_bf16_dot_is_fast();

}  // namespace llama::kernels

#if defined(__x86_64__) || defined(__i386__)
#define LLAMA_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LLAMA_TARGET_AVX512 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define LLAMA_TARGET_AVX512_VNNI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define LLAMA_TARGET_AVX512_BF16 \
    __attribute__((              \
        target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))
#define LLAMA_TARGET_AVX_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define LLAMA_HAVE_X86_TARGETS 1
#endif
