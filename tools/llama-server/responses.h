#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "job.h"

namespace llama::server {

// The JSON objects of OpenAI's API that the server sends.

enum class Endpoint { Completions, ChatCompletions };

// Identifies one response: its id ("cmpl-..." / "chatcmpl-..."), creation time and model.
struct ResponseHeader {
    Endpoint endpoint;
    std::string id;
    int64_t created;
    std::string model;
};

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

// The whole answer (stream: false).
nlohmann::json completion_json(const ResponseHeader& header, const std::string& text,
                               const JobUpdate& end);

// One streamed chunk: text (null finish_reason) or, with `end`, the last one carrying
// finish_reason and usage. Chat streams open with a chunk whose delta holds the role.
nlohmann::json chunk_json(const ResponseHeader& header, const std::string& text,
                          const JobUpdate* end);
nlohmann::json chat_role_chunk_json(const ResponseHeader& header);
// stream_options.include_usage: a chunk with no choices, only usage.
nlohmann::json usage_chunk_json(const ResponseHeader& header, const JobUpdate& end);

// {"error": {"message", "type", "code", "param"}}; code and param null when empty.
nlohmann::json error_json(const std::string& message, const std::string& type,
                          const std::string& code = "", const std::string& param = "");

// Serialized; invalid UTF-8 (never expected) is replaced rather than thrown on.
std::string dump(const nlohmann::json& data);

// A server-sent event: "data: {json}\n\n".
std::string sse_event(const nlohmann::json& data);

}  // namespace llama::server
