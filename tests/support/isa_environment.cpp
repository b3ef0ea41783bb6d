// Linked into every test executable: LLAMA_TEST_ISA=LEVEL caps the kernels' instruction set for
// the whole run, so ctest runs the kernel and end-to-end suites once per level the machine has
// (tests/CMakeLists.txt) and every dispatch point is checked at every level. A level this CPU
// lacks skips the run instead of failing it.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "llama/isa.h"

namespace {

class IsaEnvironment : public ::testing::Environment {
  public:
    void SetUp() override {
        const char* name = std::getenv("LLAMA_TEST_ISA");
        if (name == nullptr || *name == '\0') return;
        const auto level = llama::parse_isa(name);
        ASSERT_TRUE(level.has_value()) << "LLAMA_TEST_ISA=" << name << " is not a level";
        if (!llama::isa_supported(*level)) {
            GTEST_SKIP() << "this CPU (level " << llama::isa_name(llama::detected_isa())
                         << ") does not support " << name;
        }
        llama::set_isa_cap(*level);
        ASSERT_EQ(llama::active_isa(), *level);
    }
};

[[maybe_unused]] ::testing::Environment* const kIsaEnvironment =
    ::testing::AddGlobalTestEnvironment(new IsaEnvironment);

}  // namespace
