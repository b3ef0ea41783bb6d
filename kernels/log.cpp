#include "llama/log.h"

#include <spdlog/spdlog.h>

namespace llama {

void set_log_level(LogLevel level) {
    switch (level) {
        case LogLevel::Trace:
            return spdlog::set_level(spdlog::level::trace);
        case LogLevel::Debug:
            return spdlog::set_level(spdlog::level::debug);
        case LogLevel::Info:
            return spdlog::set_level(spdlog::level::info);
        case LogLevel::Warn:
            return spdlog::set_level(spdlog::level::warn);
        case LogLevel::Error:
            return spdlog::set_level(spdlog::level::err);
        case LogLevel::Off:
            return spdlog::set_level(spdlog::level::off);
    }
}

}  // namespace llama
