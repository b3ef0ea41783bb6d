#pragma once

// Progress on stderr: a redrawn bar with the ETA when stderr is a terminal, one line per finished
// configuration otherwise (log files stay readable). Also the Ctrl-C handling: the first SIGINT
// asks the run to stop after the current measurement, a second one kills the process.

#include <string>

#include "tools/llama-bench/runner.h"

namespace llama::bench {

std::string format_duration(double seconds);  // "45s", "3m12s", "1h02m"

class ProgressDisplay : public RunObserver {
  public:
    // bar: draw the bar (stderr is a terminal and progress was not switched off).
    explicit ProgressDisplay(bool bar) : bar_(bar) {}
    ~ProgressDisplay() override;

    void on_progress(const RunProgress& p) override;
    bool stop_requested() override;

  private:
    void clear_line();

    bool bar_;
    bool drawn_ = false;
};

// Installs the SIGINT handler used by ProgressDisplay::stop_requested.
void install_interrupt_handler();
bool interrupt_requested();

}  // namespace llama::bench
