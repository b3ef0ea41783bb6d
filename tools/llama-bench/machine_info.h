#pragma once

// Facts about the machine and the source tree recorded in every report.

#include <cstdint>
#include <string>

namespace llama::bench {

std::string cpu_model();           // "model name" of /proc/cpuinfo, or "unknown"
int64_t available_memory_bytes();  // MemAvailable of /proc/meminfo, 0 if unknown
std::string utc_timestamp();       // 2026-01-31T12:34:56Z
// git commit of the source tree ("<hash>" or "<hash>-dirty") when run where the checkout is;
// otherwise the commit the binary was configured at; "unknown" if neither is known.
std::string source_commit();
bool stderr_is_terminal();

}  // namespace llama::bench
