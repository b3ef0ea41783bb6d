// The ISA switch: level names, detection, the process-wide cap and the dispatch points that
// follow it.

#include "kernels/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "kernels/matvec_impl.h"
#include "kernels/quant.h"
#include "llama/error.h"
#include "llama/isa.h"

namespace llama {
namespace {

constexpr IsaLevel kLevels[] = {IsaLevel::Scalar, IsaLevel::Avx2,       IsaLevel::Avx2Vnni,
                                IsaLevel::Avx512, IsaLevel::Avx512Vnni, IsaLevel::Avx512Bf16,
                                IsaLevel::Amx};

// Restores the cap the test found.
class IsaCapTest : public ::testing::Test {
  protected:
    void TearDown() override { set_isa_cap(saved_); }
    const IsaLevel saved_ = active_isa();
};

TEST(IsaNames, RoundTripEveryLevel) {
    for (const IsaLevel level : kLevels) {
        const auto parsed = parse_isa(isa_name(level));
        ASSERT_TRUE(parsed.has_value()) << isa_name(level);
        EXPECT_EQ(*parsed, level);
        EXPECT_NE(std::string(isa_names()).find(isa_name(level)), std::string::npos);
    }
    EXPECT_EQ(std::string(isa_name(IsaLevel::Avx512Vnni)), "avx512-vnni");
    EXPECT_EQ(std::string(isa_name(IsaLevel::Avx2Vnni)), "avx2-vnni");
    EXPECT_EQ(std::string(isa_names()), "scalar|avx2|avx2-vnni|avx512|avx512-vnni|avx512-bf16|amx");
}

TEST(IsaNames, RejectsUnknownNames) {
    EXPECT_FALSE(parse_isa("").has_value());
    EXPECT_FALSE(parse_isa("AVX2").has_value());
    EXPECT_FALSE(parse_isa("avx512vnni").has_value());
    EXPECT_FALSE(parse_isa("sse4").has_value());
}

// Cumulative up to the detected level, except the avx2-vnni branch, which follows the CPUID bit.
TEST(IsaDetection, SupportIsCumulativeUpToTheDetectedLevel) {
    for (const IsaLevel level : kLevels) {
        const bool expected =
            level == IsaLevel::Avx2Vnni ? kernels::cpu_has_avx_vnni() : level <= detected_isa();
        EXPECT_EQ(kernels::cpu_supports(level), expected) << isa_name(level);
    }
    // A CPU with AVX-VNNI but not AVX-512 (Intel's client chips) is at the branch itself.
    if (kernels::cpu_has_avx_vnni() && detected_isa() < IsaLevel::Avx512) {
        EXPECT_EQ(detected_isa(), IsaLevel::Avx2Vnni);
    } else {
        EXPECT_NE(detected_isa(), IsaLevel::Avx2Vnni);
    }
#if defined(__x86_64__)
    // Every x86-64 CPU this project targets has at least AVX2; a scalar result would mean the
    // detection is broken, not the CPU.
    EXPECT_GE(detected_isa(), IsaLevel::Avx2);
#endif
}

TEST_F(IsaCapTest, CapLowersTheActiveLevelAndEveryDispatchPointFollows) {
    for (const IsaLevel level : kLevels) {
        if (!kernels::cpu_supports(level)) continue;
        set_isa_cap(level);
        EXPECT_EQ(active_isa(), level);
        for (const IsaLevel other : kLevels) {
            // The levels above avx2-vnni do not include it: a cap runs what such a CPU runs.
            const bool expected =
                other == IsaLevel::Avx2Vnni ? level == IsaLevel::Avx2Vnni : other <= level;
            EXPECT_EQ(kernels::isa_enabled(other), expected)
                << isa_name(other) << " under " << isa_name(level);
        }
        const auto matvec = kernels::detail::best_matvec_path();
        const auto quant = kernels::best_quant_path();
        if (level == IsaLevel::Scalar) {
            EXPECT_EQ(matvec, kernels::detail::MatvecPath::Scalar);
            EXPECT_EQ(quant, kernels::QuantPath::Scalar);
        } else if (level == IsaLevel::Avx2) {
            EXPECT_EQ(matvec, kernels::detail::MatvecPath::Avx2);
            EXPECT_EQ(quant, kernels::QuantPath::Avx2);
        } else if (level == IsaLevel::Avx2Vnni) {
            EXPECT_EQ(matvec, kernels::detail::MatvecPath::Avx2);
            EXPECT_EQ(quant, kernels::QuantPath::AvxVnni);
        } else if (level == IsaLevel::Avx512) {
            EXPECT_EQ(matvec, kernels::detail::MatvecPath::Avx512);
            EXPECT_EQ(quant, kernels::QuantPath::Avx2);  // the quantized AVX-512 path needs VNNI
        } else {
            EXPECT_EQ(matvec, kernels::detail::MatvecPath::Avx512);
            EXPECT_EQ(quant, kernels::QuantPath::Avx512Vnni);
        }
    }
}

// A CPU without AVX-VNNI refuses the avx2-vnni cap, saying what it lacks, even where its level
// (AVX-512 VNNI on Zen 4) is above it.
TEST_F(IsaCapTest, AvxVnniCapNeedsAvxVnni) {
    if (kernels::cpu_has_avx_vnni()) {
        set_isa_cap("avx2-vnni", "--isa");
        EXPECT_EQ(active_isa(), IsaLevel::Avx2Vnni);
        return;
    }
    try {
        set_isa_cap("avx2-vnni", "--isa");
        FAIL() << "a CPU without AVX-VNNI accepted the avx2-vnni cap";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("--isa"), std::string::npos) << message;
        EXPECT_NE(message.find("avx2-vnni"), std::string::npos) << message;
        EXPECT_NE(message.find(isa_name(detected_isa())), std::string::npos) << message;
        if (detected_isa() >= IsaLevel::Avx2) {
            EXPECT_NE(message.find("AVX-VNNI"), std::string::npos) << message;
        }
    }
}

#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
// The CPUID bit read against the kernel's own flag list.
TEST(IsaDetection, AvxVnniAsLinuxReportsIt) {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    bool listed = false;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        listed = (line + " ").find(" avx_vnni ") != std::string::npos;
        break;
    }
    EXPECT_EQ(kernels::cpu_has_avx_vnni(), listed && kernels::cpu_supports(IsaLevel::Avx2));
}
#endif

TEST_F(IsaCapTest, CapAboveTheCpuIsAnErrorNamingBoth) {
    if (detected_isa() == IsaLevel::Amx) GTEST_SKIP() << "this CPU has every level";
    const auto above = static_cast<IsaLevel>(static_cast<int>(detected_isa()) + 1);
    const IsaLevel before = active_isa();
    try {
        set_isa_cap(above);
        FAIL() << "capping at " << isa_name(above) << " should have thrown";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find(isa_name(above)), std::string::npos) << message;
        EXPECT_NE(message.find(isa_name(detected_isa())), std::string::npos) << message;
    }
    EXPECT_EQ(active_isa(), before) << "a refused cap must not change the level";
}

TEST_F(IsaCapTest, NamedCapReportsItsSource) {
    try {
        set_isa_cap("avx3", "--isa");
        FAIL() << "an unknown level should have thrown";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("--isa"), std::string::npos) << message;
        EXPECT_NE(message.find("avx3"), std::string::npos) << message;
        EXPECT_NE(message.find(isa_names()), std::string::npos) << message;
    }
    set_isa_cap("scalar", "--isa");
    EXPECT_EQ(active_isa(), IsaLevel::Scalar);
}

}  // namespace
}  // namespace llama
