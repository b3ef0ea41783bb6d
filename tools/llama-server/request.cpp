#include "request.h"

#include <cmath>
#include <limits>

#include "api_error.h"

namespace llama::server {

namespace {

using nlohmann::json;

// The field's value, or nullptr when it is absent or null (OpenAI clients send null for "unset").
const json* field(const json& body, const char* name) {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string range_text(double min, double max) {
    auto number = [](double x) {
        std::string s = std::to_string(x);
        s.erase(s.find_last_not_of('0') + 1);
        if (!s.empty() && s.back() == '.') s.pop_back();
        return s;
    };
    return "[" + number(min) + ", " + number(max) + "]";
}

std::optional<double> number_field(const json& body, const char* name, double min, double max) {
    const json* value = field(body, name);
    if (!value) return std::nullopt;
    if (!value->is_number()) {
        throw invalid_field(name, std::string("'") + name + "' must be a number");
    }
    const double x = value->get<double>();
    if (!(x >= min && x <= max)) {
        throw invalid_field(name, std::string("'") + name + "' must be in " + range_text(min, max) +
                                      ", got " + value->dump());
    }
    return x;
}

std::optional<int64_t> int_field(const json& body, const char* name, int64_t min, int64_t max) {
    const json* value = field(body, name);
    if (!value) return std::nullopt;
    // 5.0 is accepted as an integer (some clients serialize every number as a float).
    const bool integral =
        value->is_number_integer() ||
        (value->is_number_float() && std::floor(value->get<double>()) == value->get<double>() &&
         std::abs(value->get<double>()) < 9e18);
    if (!integral) throw invalid_field(name, std::string("'") + name + "' must be an integer");
    const int64_t x = value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX ? INT64_MAX
                      : value->is_number_float() ? static_cast<int64_t>(value->get<double>())
                                                 : value->get<int64_t>();
    if (x < min || x > max) {
        throw invalid_field(name, std::string("'") + name + "' must be in [" + std::to_string(min) +
                                      ", " + std::to_string(max) + "], got " + value->dump());
    }
    return x;
}

std::optional<bool> bool_field(const json& body, const char* name) {
    const json* value = field(body, name);
    if (!value) return std::nullopt;
    if (!value->is_boolean()) {
        throw invalid_field(name, std::string("'") + name + "' must be true or false");
    }
    return value->get<bool>();
}

std::vector<std::string> stop_field(const json& body) {
    const json* value = field(body, "stop");
    if (!value) return {};
    constexpr size_t kMaxStops = 16;
    std::vector<std::string> stops;
    if (value->is_string()) {
        stops.push_back(value->get<std::string>());
    } else if (value->is_array()) {
        if (value->size() > kMaxStops) {
            throw invalid_field("stop", "'stop' holds at most " + std::to_string(kMaxStops) +
                                            " strings, got " + std::to_string(value->size()));
        }
        for (const json& s : *value) {
            if (!s.is_string()) throw invalid_field("stop", "'stop' must hold strings only");
            stops.push_back(s.get<std::string>());
        }
    } else {
        throw invalid_field("stop", "'stop' must be a string or an array of strings");
    }
    for (const std::string& s : stops) {
        if (s.empty()) throw invalid_field("stop", "'stop' strings must not be empty");
    }
    return stops;
}

GenerationRequest parse_generation(const json& body, uint64_t random_seed) {
    GenerationRequest request;
    constexpr int64_t kMaxTokens = 1 << 20;
    request.max_tokens = int_field(body, "max_tokens", 1, kMaxTokens);
    // The newer name of the same limit (OpenAI's chat API).
    if (auto n = int_field(body, "max_completion_tokens", 1, kMaxTokens)) request.max_tokens = n;
    SamplerParams& s = request.sampler;
    if (auto x = number_field(body, "temperature", 0.0, 2.0)) s.temperature = float(*x);
    if (auto x = number_field(body, "top_p", 0.0, 1.0)) {
        if (*x == 0.0) throw invalid_field("top_p", "'top_p' must be > 0");
        s.top_p = float(*x);
    }
    if (auto x = int_field(body, "top_k", 0, std::numeric_limits<int32_t>::max())) {
        s.top_k = static_cast<int32_t>(*x);
    }
    if (auto x = number_field(body, "min_p", 0.0, 1.0)) s.min_p = float(*x);
    if (auto x = number_field(body, "presence_penalty", -2.0, 2.0)) s.presence_penalty = float(*x);
    if (auto x = number_field(body, "frequency_penalty", -2.0, 2.0)) {
        s.frequency_penalty = float(*x);
    }
    if (auto x = number_field(body, "repeat_penalty", 0.0, 10.0)) {
        if (*x == 0.0) throw invalid_field("repeat_penalty", "'repeat_penalty' must be > 0");
        s.repeat_penalty = float(*x);
    }
    const auto seed = int_field(body, "seed", std::numeric_limits<int64_t>::min(), INT64_MAX);
    s.seed = seed ? static_cast<uint64_t>(*seed) : random_seed;
    request.stop = stop_field(body);
    request.stream = bool_field(body, "stream").value_or(false);
    request.ignore_eos = bool_field(body, "ignore_eos").value_or(false);
    if (const json* options = field(body, "stream_options")) {
        if (!options->is_object()) {
            throw invalid_field("stream_options", "'stream_options' must be an object");
        }
        request.include_usage = bool_field(*options, "include_usage").value_or(false);
    }
    return request;
}

// A message's text: a string, or an array of {"type": "text", "text": ...} parts.
std::string message_content(const json& message, size_t index) {
    const std::string param = "messages[" + std::to_string(index) + "].content";
    const json* content = field(message, "content");
    if (!content) throw invalid_field(param, "'" + param + "' is required");
    if (content->is_string()) return content->get<std::string>();
    if (content->is_array()) {
        std::string text;
        for (const json& part : *content) {
            // Types checked before values are read: json::value() throws on a non-string "type".
            const json* type = part.is_object() ? field(part, "type") : nullptr;
            const json* part_text = part.is_object() ? field(part, "text") : nullptr;
            if (!type || !type->is_string() || *type != "text" || !part_text ||
                !part_text->is_string()) {
                throw invalid_field(param, "'" + param +
                                               "' parts must be {\"type\": \"text\", "
                                               "\"text\": string}");
            }
            text += part_text->get<std::string>();
        }
        return text;
    }
    throw invalid_field(param, "'" + param + "' must be a string or an array of text parts");
}

}  // namespace

json parse_json_body(const std::string& body) {
    json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
        throw ApiError(400, "the request body is not valid JSON", "invalid_request_error",
                       "invalid_json");
    }
    if (!parsed.is_object()) {
        throw ApiError(400, "the request body must be a JSON object", "invalid_request_error",
                       "invalid_json");
    }
    return parsed;
}

CompletionRequest parse_completion_request(const json& body, uint64_t random_seed) {
    CompletionRequest request;
    const json* prompt = field(body, "prompt");
    if (!prompt) throw invalid_field("prompt", "'prompt' is required");
    if (prompt->is_string()) {
        request.prompt = prompt->get<std::string>();
    } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
        request.prompt = (*prompt)[0].get<std::string>();  // a batch of one
    } else {
        throw invalid_field("prompt", "'prompt' must be a string (or an array of one string)");
    }
    request.generation = parse_generation(body, random_seed);
    return request;
}

ChatRequest parse_chat_request(const json& body, uint64_t random_seed) {
    ChatRequest request;
    const json* messages = field(body, "messages");
    if (!messages || !messages->is_array() || messages->empty()) {
        throw invalid_field("messages", "'messages' must be a non-empty array");
    }
    // System messages (before the first user message) make the system prompt; then user and
    // assistant alternate, ending with the user's message the model answers.
    std::optional<std::string> pending_user;
    for (size_t i = 0; i < messages->size(); ++i) {
        const json& message = (*messages)[i];
        const std::string param = "messages[" + std::to_string(i) + "]";
        if (!message.is_object()) throw invalid_field(param, "'" + param + "' must be an object");
        const json* role = field(message, "role");
        if (!role || !role->is_string()) {
            throw invalid_field(param + ".role", "'" + param + ".role' must be a string");
        }
        const std::string r = role->get<std::string>();
        std::string content = message_content(message, i);
        if (r == "system" || r == "developer") {
            if (!request.turns.empty() || pending_user) {
                throw invalid_field(
                    param, "system messages must come before the dialog ('" + param + "')");
            }
            request.system = request.system ? *request.system + "\n" + content : content;
        } else if (r == "user") {
            if (pending_user) {
                throw invalid_field(param, "user and assistant messages must alternate ('" + param +
                                               "' follows a user message)");
            }
            pending_user = std::move(content);
        } else if (r == "assistant") {
            if (!pending_user) {
                throw invalid_field(
                    param, "an assistant message must answer a user message ('" + param + "')");
            }
            request.turns.push_back({std::move(*pending_user), std::move(content)});
            pending_user.reset();
        } else {
            throw invalid_field(param + ".role", "'" + param +
                                                     ".role' must be system, user or assistant, "
                                                     "got '" +
                                                     r + "'");
        }
    }
    if (!pending_user) {
        throw invalid_field("messages", "'messages' must end with a user message");
    }
    request.turns.push_back({std::move(*pending_user), std::nullopt});
    request.generation = parse_generation(body, random_seed);
    return request;
}

PromptRequest parse_prompt_request(const std::string& body, bool chat, const Tokenizer& tokenizer,
                                   uint64_t random_seed) {
    const json parsed = parse_json_body(body);
    PromptRequest request;
    if (chat) {
        ChatRequest chat_request = parse_chat_request(parsed, random_seed);
        request.prompt = llama2_chat_tokens(tokenizer, chat_request.system, chat_request.turns);
        request.text_after_prompt = false;
        request.generation = std::move(chat_request.generation);
    } else {
        CompletionRequest completion = parse_completion_request(parsed, random_seed);
        request.prompt = tokenizer.encode(completion.prompt, /*add_bos=*/true);
        request.generation = std::move(completion.generation);
    }
    if (request.prompt.empty()) throw invalid_field("prompt", "the prompt is empty");
    return request;
}

TokenizeRequest parse_tokenize_request(const std::string& body) {
    const json parsed = parse_json_body(body);
    const json* content = field(parsed, "content");
    if (!content || !content->is_string()) {
        throw invalid_field("content", "'content' must be a string");
    }
    return {content->get<std::string>(), bool_field(parsed, "add_special").value_or(false)};
}

std::vector<int32_t> parse_detokenize_request(const std::string& body, int64_t vocab_size) {
    const json parsed = parse_json_body(body);
    const json* tokens = field(parsed, "tokens");
    if (!tokens || !tokens->is_array()) {
        throw invalid_field("tokens", "'tokens' must be an array of token ids");
    }
    std::vector<int32_t> ids;
    for (const json& t : *tokens) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab_size) {
            throw invalid_field("tokens", "'tokens' must hold token ids in [0, " +
                                              std::to_string(vocab_size) + "), got " + t.dump());
        }
        ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    return ids;
}

}  // namespace llama::server
