#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace llama {

// A one-line progress bar on stderr while a model loads, drawn only when stderr is a terminal
// (piped output and logs stay clean). Finishes the line when destroyed.
class LoadProgress {
  public:
    LoadProgress(std::string label, int64_t total);
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
};

}  // namespace llama
