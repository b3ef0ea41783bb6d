#pragma once

namespace llama {

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };

// The library logs what it does (the ISA level, each model it loads) at info level and up
// through spdlog's default logger, which writes to stdout unless the program replaces it (the
// tools send it to stderr). A program whose stdout carries its own output quiets it here; the
// level applies to the whole process, as the logger does.
void set_log_level(LogLevel level);

}  // namespace llama
