#pragma once

#include <stdexcept>
#include <string>

namespace llama {

// Every failure the library reports to its caller (bad files, bad arguments, a prompt that
// does not fit) is a llama::Error whose message names the problem; tools print it and exit 1.
// Its type information stays visible out of a shared libengine even from sources built with
// hidden visibility, so a program catches what the library throws.
class __attribute__((visibility("default"))) Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace llama
