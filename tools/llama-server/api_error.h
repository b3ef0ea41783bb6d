#pragma once

#include <stdexcept>
#include <string>

namespace llama::server {

// A request the server refuses, with the HTTP status and the fields of an OpenAI error object
// ({"error": {"message", "type", "code", "param"}}).
class ApiError : public std::runtime_error {
  public:
    ApiError(int status, std::string message, std::string type = "invalid_request_error",
             std::string code = "", std::string param = "")
        : std::runtime_error(message),
          status_(status),
          type_(std::move(type)),
          code_(std::move(code)),
          param_(std::move(param)) {}

    int status() const { return status_; }
    const std::string& type() const { return type_; }
    const std::string& code() const { return code_; }
    const std::string& param() const { return param_; }

  private:
    int status_;
    std::string type_;
    std::string code_;
    std::string param_;
};

// A 400 for a bad request field.
inline ApiError invalid_field(const std::string& param, const std::string& message) {
    return ApiError(400, message, "invalid_request_error", "invalid_value", param);
}

}  // namespace llama::server
