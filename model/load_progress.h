#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "llama/model.h"

namespace llama {

// Reports loading progress to the caller's callback (if any) as a fraction that never decreases,
// and throws llama::Error when the callback returns false (the load is cancelled).
class ProgressReporter {
  public:
    explicit ProgressReporter(LoadProgressCallback callback) : callback_(std::move(callback)) {}
    void report(float fraction);

  private:
    LoadProgressCallback callback_;
    float reported_ = 0.0f;
};

// A one-line progress bar on stderr while a model loads, drawn only when stderr is a terminal
// (piped output and logs stay clean), and reported to `reporter` when given. Finishes the line
// when destroyed.
class LoadProgress {
  public:
    LoadProgress(std::string label, int64_t total, ProgressReporter* reporter = nullptr);
    ~LoadProgress();
    LoadProgress(const LoadProgress&) = delete;
    LoadProgress& operator=(const LoadProgress&) = delete;

    void advance(int64_t steps = 1);
    // More work discovered on the way (the bar's percentage may step back).
    void extend(int64_t more_steps);

  private:
    void draw();

    std::string label_;
    int64_t total_;
    int64_t done_ = 0;
    bool enabled_;
    int last_percent_ = -1;
    ProgressReporter* reporter_;
};

}  // namespace llama
