#include "tools/llama-bench/progress.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace llama::bench {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) {
    g_interrupted = 1;
    static const char kMessage[] =
        "\nllama-bench: stopping after the current measurement (Ctrl-C again to abort)\n";
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    std::signal(SIGINT, SIG_DFL);
}

}  // namespace

std::string format_duration(double seconds) {
    if (seconds < 0) seconds = 0;
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%lds", s);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    }
    return buf;
}

ProgressDisplay::~ProgressDisplay() { clear_line(); }

void ProgressDisplay::clear_line() {
    if (drawn_) {
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
        drawn_ = false;
    }
}

void ProgressDisplay::on_progress(const RunProgress& p) {
    if (p.config_finished && p.finished && !bar_) {
        std::string arms;
        for (size_t i = 0; i < p.finished->arms.size(); ++i) {
            const auto& x = p.finished->latency_ms[i];
            if (x.empty()) continue;
            double sum = 0;
            for (double v : x) sum += v;
            char buf[64];
            std::snprintf(buf, sizeof buf, "%s%s %.2f ms", arms.empty() ? "" : ", ",
                          std::string(arm_name(p.finished->arms[i])).c_str(),
                          sum / static_cast<double>(x.size()));
            arms += buf;
        }
        std::fprintf(stderr, "[%zu/%zu] %s: %s (elapsed %s, ETA %s)\n", p.config_index + 1,
                     p.n_configs, p.key.label().c_str(), arms.c_str(),
                     format_duration(p.elapsed_s).c_str(), format_duration(p.eta_s).c_str());
        return;
    }
    if (!bar_) return;
    constexpr int kWidth = 30;
    const double fraction = p.measurements_total > 0 ? static_cast<double>(p.measurements_done) /
                                                           static_cast<double>(p.measurements_total)
                                                     : 1.0;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(stderr, "\r\033[K[%s] %3.0f%%  config %zu/%zu %s  elapsed %s  ETA %s", bar.c_str(),
                 100.0 * fraction, p.config_index + 1, p.n_configs, p.key.label().c_str(),
                 format_duration(p.elapsed_s).c_str(), format_duration(p.eta_s).c_str());
    std::fflush(stderr);
    drawn_ = true;
}

bool ProgressDisplay::stop_requested() { return interrupt_requested(); }

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }

bool interrupt_requested() { return g_interrupted != 0; }

}  // namespace llama::bench
