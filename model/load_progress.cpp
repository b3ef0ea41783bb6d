#include "model/load_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "llama/error.h"

namespace llama {

void ProgressReporter::report(float fraction) {
    if (!callback_) return;
    reported_ = std::max(reported_, std::clamp(fraction, 0.0f, 1.0f));
    if (!callback_(reported_)) throw Error("model loading was cancelled by the progress callback");
}

LoadProgress::LoadProgress(std::string label, int64_t total, ProgressReporter* reporter)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      enabled_(::isatty(STDERR_FILENO) == 1),
      reporter_(reporter) {
    draw();
}

LoadProgress::~LoadProgress() {
    if (enabled_ && last_percent_ >= 0) {
        done_ = total_;
        draw();
        std::fputc('\n', stderr);
    }
}

void LoadProgress::advance(int64_t steps) {
    done_ = std::min(total_, done_ + steps);
    draw();
    // Short of 1: the model is ready only once load_model returns it.
    if (reporter_)
        reporter_->report(0.99f * static_cast<float>(done_) / static_cast<float>(total_));
}

void LoadProgress::extend(int64_t more_steps) {
    total_ += std::max<int64_t>(more_steps, 0);
    draw();
}

void LoadProgress::draw() {
    if (!enabled_) return;
    const int percent = static_cast<int>(done_ * 100 / total_);
    if (percent == last_percent_) return;
    last_percent_ = percent;
    constexpr int kWidth = 40;
    const int filled = percent * kWidth / 100;
    std::string bar(static_cast<size_t>(filled), '=');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r%s [%s] %3d%%", label_.c_str(), bar.c_str(), percent);
    std::fflush(stderr);
}

}  // namespace llama
