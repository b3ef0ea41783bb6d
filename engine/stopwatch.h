#pragma once

#include <chrono>

namespace llama {

// Wall-clock seconds (steady clock) since construction, for the timings tools report.
class Stopwatch {
  public:
    double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }

  private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace llama
