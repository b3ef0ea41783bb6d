#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace llama::server {

// Cuts generated text at the first of a request's stop strings, which may span token boundaries.
// Text that could still turn out to be the start of a stop string is held back, so a stream never
// shows the client any part of the stop string or what follows it.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops);

    // Appends newly generated text; returns the text now known to come before any stop string.
    // Once a stop string is complete, stopped() is true and nothing more is returned.
    std::string push(std::string_view text);
    // The end of generation: whatever was held back (it turned out not to be a stop string).
    std::string flush();
    bool stopped() const { return stopped_; }

  private:
    std::vector<std::string> stops_;
    std::string pending_;  // generated text not returned yet
    bool stopped_ = false;
};

}  // namespace llama::server
