// llama::set_log_level sets the level of the logger the library logs through (spdlog's default).

#include "llama/log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace {

TEST(LogLevel, SetsTheLevelOfTheLibrarysLogger) {
    const auto before = spdlog::get_level();
    const std::pair<llama::LogLevel, spdlog::level::level_enum> cases[] = {
        {llama::LogLevel::Trace, spdlog::level::trace},
        {llama::LogLevel::Debug, spdlog::level::debug},
        {llama::LogLevel::Info, spdlog::level::info},
        {llama::LogLevel::Warn, spdlog::level::warn},
        {llama::LogLevel::Error, spdlog::level::err},
        {llama::LogLevel::Off, spdlog::level::off},
    };
    for (const auto& [level, expected] : cases) {
        llama::set_log_level(level);
        EXPECT_EQ(spdlog::get_level(), expected);
        EXPECT_EQ(spdlog::default_logger()->level(), expected);
    }
    spdlog::set_level(before);
}

}  // namespace
