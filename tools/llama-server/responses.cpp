#include "responses.h"

namespace llama::server {

using nlohmann::json;

namespace {

json base(const ResponseHeader& h, bool chunk) {
    const bool chat = h.endpoint == Endpoint::ChatCompletions;
    return {{"id", h.id},
            {"object",
             chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"system_fingerprint", "llama-engine"}};
}

json null_or(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}};
}

json completion_json(const ResponseHeader& header, const std::string& text, const JobUpdate& end) {
    json out = base(header, false);
    json choice = {{"index", 0}, {"finish_reason", finish_reason_name(end.finish)}};
    if (header.endpoint == Endpoint::ChatCompletions) {
        choice["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
        choice["text"] = text;
    }
    choice["logprobs"] = nullptr;
    out["choices"] = json::array({choice});
    out["usage"] = usage_json(end.prompt_tokens, end.completion_tokens);
    return out;
}

json chunk_json(const ResponseHeader& header, const std::string& text, const JobUpdate* end) {
    json out = base(header, true);
    json choice = {{"index", 0}, {"logprobs", nullptr}};
    if (header.endpoint == Endpoint::ChatCompletions) {
        choice["delta"] = text.empty() && end ? json::object() : json{{"content", text}};
    } else {
        choice["text"] = text;
    }
    choice["finish_reason"] = end ? json(finish_reason_name(end->finish)) : json(nullptr);
    out["choices"] = json::array({choice});
    if (end) out["usage"] = usage_json(end->prompt_tokens, end->completion_tokens);
    return out;
}

json chat_role_chunk_json(const ResponseHeader& header) {
    json out = base(header, true);
    out["choices"] = json::array({{{"index", 0},
                                   {"delta", {{"role", "assistant"}, {"content", ""}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", nullptr}}});
    return out;
}

json usage_chunk_json(const ResponseHeader& header, const JobUpdate& end) {
    json out = base(header, true);
    out["choices"] = json::array();
    out["usage"] = usage_json(end.prompt_tokens, end.completion_tokens);
    return out;
}

json error_json(const std::string& message, const std::string& type, const std::string& code,
                const std::string& param) {
    return {{"error",
             {{"message", message},
              {"type", type},
              {"code", null_or(code)},
              {"param", null_or(param)}}}};
}

std::string sse_event(const json& data) { return "data: " + dump(data) + "\n\n"; }

std::string dump(const json& data) {
    // Replace, not throw, should text ever hold invalid UTF-8.
    return data.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace llama::server
