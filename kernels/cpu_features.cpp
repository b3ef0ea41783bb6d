// CPU feature detection and the process-wide ISA cap (llama/isa.h, kernels/cpu_features.h).

#include "kernels/cpu_features.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "llama/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace llama {

namespace {

constexpr std::array<std::string_view, 7> kNames = {
    "scalar", "avx2", "avx2-vnni", "avx512", "avx512-vnni", "avx512-bf16", "amx"};

#if defined(__x86_64__) && defined(__linux__)
// AMX needs the CPU's tile units, the OS managing the tile state (XCR0 bits 17-18), and Linux
// granting this process the (large) tile data state, which it does only on request.
bool detect_amx() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool amx_bf16 = (edx >> 22) & 1;
    const bool amx_tile = (edx >> 24) & 1;
    const bool amx_int8 = (edx >> 25) & 1;
    if (!amx_bf16 || !amx_tile || !amx_int8) return false;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1)) return false;  // OSXSAVE
    uint32_t xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#endif

#if defined(__x86_64__) || defined(__i386__)
// CPUID.1:ECX bit 29. Read directly: clang before 16 does not know "f16c" in
// __builtin_cpu_supports, and the fuzzing build (LLAMA_FUZZ) needs clang.
bool has_f16c() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && ((ecx >> 29) & 1);
}

// CPUID.(EAX=7, ECX=1):EAX bit 4; usable where AVX2 is (the same YMM state).
bool has_avx_vnni() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && ((eax >> 4) & 1);
}
#endif

IsaLevel detect() {
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the YMM/ZMM state (AVX2 being usable
    // implies the same for F16C, a VEX-encoded extension).
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())) {
        return IsaLevel::Scalar;
    }
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))) {
        return has_avx_vnni() ? IsaLevel::Avx2Vnni : IsaLevel::Avx2;
    }
    if (!__builtin_cpu_supports("avx512vnni")) return IsaLevel::Avx512;
    if (!__builtin_cpu_supports("avx512bf16")) return IsaLevel::Avx512Vnni;
#if defined(__linux__)
    if (detect_amx()) return IsaLevel::Amx;
#endif
    return IsaLevel::Avx512Bf16;
#else
    return IsaLevel::Scalar;
#endif
}

// The cap as an IsaLevel value; -1 until it is first set or read (then LLAMA_ISA decides).
std::atomic<int> g_cap{-1};
// Whether set_isa_cap() was called: a cap given by the program beats LLAMA_ISA.
std::atomic<bool> g_cap_explicit{false};

// Why the CPU cannot run `level`, for an error message that names the CPU's own level.
std::string unsupported_reason(IsaLevel level) {
    const std::string detected(isa_name(detected_isa()));
    if (level == IsaLevel::Avx2Vnni && detected_isa() >= IsaLevel::Avx2) {
        return "this CPU has no AVX-VNNI (it supports up to " + detected + ")";
    }
    return "this CPU only supports up to " + detected;
}

IsaLevel parse_checked(std::string_view name, std::string_view source) {
    const auto level = parse_isa(name);
    if (!level) {
        throw Error("invalid value '" + std::string(name) + "' for " + std::string(source) +
                    ": expected one of " + std::string(isa_names()));
    }
    if (!isa_supported(*level)) {
        throw Error(std::string(source) + " asks for " + std::string(name) + ", but " +
                    unsupported_reason(*level));
    }
    return *level;
}

// LLAMA_ISA's cap, or the detected level when it is unset. A bad value cannot be reported from a
// kernel call: it is logged and ignored here, and load_model() reports it as an error
// (apply_isa_environment).
int cap_from_environment() {
    const char* value = std::getenv("LLAMA_ISA");
    if (value == nullptr || *value == '\0') return static_cast<int>(detected_isa());
    try {
        return static_cast<int>(parse_checked(value, "LLAMA_ISA"));
    } catch (const Error& error) {
        spdlog::error("{} (ignored)", error.what());
        return static_cast<int>(detected_isa());
    }
}

}  // namespace

std::string_view isa_name(IsaLevel level) {
    const auto index = static_cast<size_t>(level);
    return index < kNames.size() ? kNames[index] : "unknown";
}

std::optional<IsaLevel> parse_isa(std::string_view name) {
    for (size_t i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == name) return static_cast<IsaLevel>(i);
    }
    return std::nullopt;
}

std::string_view isa_names() {
    static const std::string names = [] {
        std::string joined;
        for (const std::string_view name : kNames) {
            if (!joined.empty()) joined += '|';
            joined += name;
        }
        return joined;
    }();
    return names;
}

IsaLevel detected_isa() {
    static const IsaLevel level = detect();
    return level;
}

bool isa_supported(IsaLevel level) {
    if (level == IsaLevel::Avx2Vnni) return kernels::cpu_has_avx_vnni();
    return level <= detected_isa();
}

IsaLevel active_isa() {
    int cap = g_cap.load(std::memory_order_relaxed);
    if (cap < 0) {
        int unset = -1;
        const int from_environment = cap_from_environment();
        cap = g_cap.compare_exchange_strong(unset, from_environment) ? from_environment : unset;
    }
    return static_cast<IsaLevel>(cap);
}

void set_isa_cap(IsaLevel level) {
    if (!isa_supported(level)) {
        throw Error("ISA level " + std::string(isa_name(level)) +
                    " is not supported: " + unsupported_reason(level));
    }
    g_cap.store(static_cast<int>(level), std::memory_order_relaxed);
    g_cap_explicit.store(true, std::memory_order_relaxed);
}

void set_isa_cap(std::string_view name, std::string_view source) {
    set_isa_cap(parse_checked(name, source));
}

void apply_isa_environment() {
    if (g_cap_explicit.load(std::memory_order_relaxed)) return;
    const char* value = std::getenv("LLAMA_ISA");
    if (value == nullptr || *value == '\0') return;
    g_cap.store(static_cast<int>(parse_checked(value, "LLAMA_ISA")), std::memory_order_relaxed);
}

namespace kernels {

bool cpu_has_avx_vnni() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has = detected_isa() >= IsaLevel::Avx2 && has_avx_vnni();
    return has;
#else
    return false;
#endif
}

bool cpu_bf16_dot_is_fast() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool fast = [] {
        unsigned max_leaf = 0, ebx = 0, ecx = 0, edx = 0;
        if (!__get_cpuid(0, &max_leaf, &ebx, &ecx, &edx)) return false;
        constexpr unsigned kAuth = 0x68747541, kEnti = 0x69746e65, kcAMD = 0x444d4163;
        return ebx == kAuth && edx == kEnti && ecx == kcAMD;  // "AuthenticAMD"
    }();
    return fast;
#else
    return false;
#endif
}

}  // namespace kernels

}  // namespace llama
