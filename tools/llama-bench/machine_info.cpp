#include "tools/llama-bench/machine_info.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>

namespace llama::bench {

namespace {

std::string trim(std::string s) {
    const size_t begin = s.find_first_not_of(" \t\n");
    const size_t end = s.find_last_not_of(" \t\n");
    return begin == std::string::npos ? "" : s.substr(begin, end - begin + 1);
}

std::string run_command(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    if (!pipe) return "";
    std::string out;
    std::array<char, 256> buf;
    while (fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
    return trim(out);
}

}  // namespace

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) return trim(line.substr(colon + 1));
        }
    }
    return "unknown";
}

int64_t available_memory_bytes() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    int64_t value_kb = 0;
    std::string unit;
    while (in >> key >> value_kb >> unit) {
        if (key == "MemAvailable:") return value_kb * 1024;
    }
    return 0;
}

std::string utc_timestamp() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string source_commit() {
#ifdef LLAMA_BENCH_SOURCE_DIR
    const std::string dir = LLAMA_BENCH_SOURCE_DIR;
    const std::string hash =
        run_command("git -C '" + dir + "' rev-parse --short=12 HEAD 2>/dev/null");
    if (!hash.empty()) {
        // Tracked files changed since the commit make the hash an approximation: say so.
        const std::string dirty =
            run_command("git -C '" + dir + "' status --porcelain --untracked-files=no 2>/dev/null");
        return dirty.empty() ? hash : hash + "-dirty";
    }
#endif
#ifdef LLAMA_BENCH_BUILD_COMMIT
    if (std::string(LLAMA_BENCH_BUILD_COMMIT).size() > 0) return LLAMA_BENCH_BUILD_COMMIT;
#endif
    return "unknown";
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace llama::bench
