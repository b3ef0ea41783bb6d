// llama-server's pure parts: stop strings, request validation, the OpenAI response objects.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api_error.h"
#include "request.h"
#include "responses.h"
#include "stop_matcher.h"

namespace {

using llama::server::ApiError;
using llama::server::StopMatcher;
using nlohmann::json;

// Feeds `pieces` one by one; returns everything released, with the matcher's final state.
std::string run_matcher(StopMatcher& matcher, const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& piece : pieces) {
        out += matcher.push(piece);
        if (matcher.stopped()) return out;
    }
    return out + matcher.flush();
}

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
    StopMatcher matcher({});
    EXPECT_EQ(matcher.push("hello"), "hello");
    EXPECT_EQ(matcher.push(" world"), " world");
    EXPECT_FALSE(matcher.stopped());
    EXPECT_EQ(matcher.flush(), "");
}

TEST(StopMatcher, StopInsideOnePiece) {
    StopMatcher matcher({"END"});
    EXPECT_EQ(run_matcher(matcher, {"abc", "deENDxyz", "more"}), "abcde");
    EXPECT_TRUE(matcher.stopped());
    EXPECT_EQ(matcher.push("after"), "") << "nothing after the stop";
}

TEST(StopMatcher, StopAcrossPiecesIsHeldBackUntilDecided) {
    StopMatcher matcher({"\n\n"});
    EXPECT_EQ(matcher.push("line\n"), "line") << "a possible stop start is held";
    EXPECT_EQ(matcher.push("\nnext"), "");
    EXPECT_TRUE(matcher.stopped());

    StopMatcher other({"the end"});
    EXPECT_EQ(other.push("and th"), "and ");
    EXPECT_EQ(other.push("e e"), "");
    EXPECT_EQ(other.push("lephant"), "the elephan") << "released once it cannot match; the "
                                                       "final 't' could start 'the end'";
    EXPECT_FALSE(other.stopped());
    EXPECT_EQ(other.flush(), "t");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
    StopMatcher matcher({"world", "lo"});
    EXPECT_EQ(run_matcher(matcher, {"hello world"}), "hel");
    StopMatcher tokens({"B", "AB"});
    EXPECT_EQ(run_matcher(tokens, {"xA", "By"}), "x");
}

TEST(StopMatcher, UnfinishedPrefixIsFlushedAtTheEnd) {
    StopMatcher matcher({"STOP"});
    EXPECT_EQ(run_matcher(matcher, {"abc", "ST"}), "abcST");
    EXPECT_FALSE(matcher.stopped());
}

TEST(StopMatcher, MultiByteText) {
    StopMatcher matcher({"é!"});
    EXPECT_EQ(run_matcher(matcher, {"café", "!", " tail"}), "caf");
}

int status_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ApiError& e) {
        return e.status();
    }
    return 200;
}

std::string param_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ApiError& e) {
        return e.param();
    }
    return "";
}

TEST(Request, CompletionFieldsAndDefaults) {
    const auto r = llama::server::parse_completion_request(json{{"prompt", "hi"},
                                                                {"max_tokens", 5},
                                                                {"temperature", 0.5},
                                                                {"top_p", 0.9},
                                                                {"top_k", 7},
                                                                {"min_p", 0.1},
                                                                {"seed", 3},
                                                                {"stop", "x"},
                                                                {"presence_penalty", 1.5},
                                                                {"frequency_penalty", -0.5},
                                                                {"repeat_penalty", 1.2},
                                                                {"stream", true},
                                                                {"unknown_field", {1, 2}},
                                                                {"model", "whatever"}},
                                                           99);
    EXPECT_EQ(r.prompt, "hi");
    EXPECT_EQ(r.generation.max_tokens, 5);
    EXPECT_FLOAT_EQ(r.generation.sampler.temperature, 0.5f);
    EXPECT_FLOAT_EQ(r.generation.sampler.top_p, 0.9f);
    EXPECT_EQ(r.generation.sampler.top_k, 7);
    EXPECT_FLOAT_EQ(r.generation.sampler.min_p, 0.1f);
    EXPECT_EQ(r.generation.sampler.seed, 3u);
    EXPECT_EQ(r.generation.stop, std::vector<std::string>{"x"});
    EXPECT_FLOAT_EQ(r.generation.sampler.presence_penalty, 1.5f);
    EXPECT_FLOAT_EQ(r.generation.sampler.frequency_penalty, -0.5f);
    EXPECT_FLOAT_EQ(r.generation.sampler.repeat_penalty, 1.2f);
    EXPECT_TRUE(r.generation.stream);

    const auto d = llama::server::parse_completion_request(
        json{{"prompt", json::array({"one"})}, {"max_tokens", nullptr}}, 99);
    EXPECT_EQ(d.prompt, "one");
    EXPECT_FALSE(d.generation.max_tokens.has_value());
    EXPECT_EQ(d.generation.sampler.seed, 99u) << "no seed: the random one given";
    const llama::SamplerParams defaults;
    EXPECT_FLOAT_EQ(d.generation.sampler.temperature, defaults.temperature);
    EXPECT_FLOAT_EQ(d.generation.sampler.min_p, defaults.min_p);
    EXPECT_FALSE(d.generation.stream);
}

TEST(Request, BadFieldsAre400sNamingTheField) {
    using llama::server::parse_completion_request;
    const auto bad = [](json body) { return [body] { parse_completion_request(body, 0); }; };
    EXPECT_EQ(status_of(bad(json{{"max_tokens", 3}})), 400);  // no prompt
    EXPECT_EQ(param_of(bad(json{{"max_tokens", 3}})), "prompt");
    EXPECT_EQ(param_of(bad(json{{"prompt", 5}})), "prompt");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"max_tokens", "ten"}})), "max_tokens");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"max_tokens", 0}})), "max_tokens");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"max_tokens", 2.5}})), "max_tokens");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"temperature", 3}})), "temperature");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"temperature", -1}})), "temperature");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"top_p", 0}})), "top_p");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"top_k", -1}})), "top_k");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"min_p", 1.5}})), "min_p");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"presence_penalty", 2.5}})), "presence_penalty");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"frequency_penalty", "a"}})),
              "frequency_penalty");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"repeat_penalty", 0}})), "repeat_penalty");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"seed", "s"}})), "seed");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"stop", 3}})), "stop");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"stop", {"a", 1}}})), "stop");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"stop", ""}})), "stop");
    EXPECT_EQ(param_of(bad(json{{"prompt", "x"}, {"stream", "yes"}})), "stream");
}

TEST(Request, JsonBody) {
    EXPECT_EQ(status_of([] { llama::server::parse_json_body("{not json"); }), 400);
    EXPECT_EQ(status_of([] { llama::server::parse_json_body("[1, 2]"); }), 400);
    EXPECT_EQ(llama::server::parse_json_body(R"({"a": 1})")["a"], 1);
}

TEST(Request, ChatMessagesBecomeTurns) {
    const auto r =
        llama::server::parse_chat_request(json{{"messages",
                                                {{{"role", "system"}, {"content", "Be brief."}},
                                                 {{"role", "user"}, {"content", "Hi"}},
                                                 {{"role", "assistant"}, {"content", "Hello."}},
                                                 {{"role", "user"},
                                                  {"content",
                                                   {{{"type", "text"}, {"text", "Who "}},
                                                    {{"type", "text"}, {"text", "are you?"}}}}}}}},
                                          1);
    ASSERT_TRUE(r.system.has_value());
    EXPECT_EQ(*r.system, "Be brief.");
    ASSERT_EQ(r.turns.size(), 2u);
    EXPECT_EQ(r.turns[0].user, "Hi");
    EXPECT_EQ(r.turns[0].answer, "Hello.");
    EXPECT_EQ(r.turns[1].user, "Who are you?");
    EXPECT_FALSE(r.turns[1].answer.has_value());
}

TEST(Request, BadChatMessages) {
    using llama::server::parse_chat_request;
    const auto bad = [](json messages) {
        return [messages] { parse_chat_request(json{{"messages", messages}}, 0); };
    };
    EXPECT_EQ(status_of([] { parse_chat_request(json{{"prompt", "x"}}, 0); }), 400);
    EXPECT_EQ(status_of(bad(json::array())), 400);
    EXPECT_EQ(status_of(bad(json{{{"role", "assistant"}, {"content", "x"}}})), 400);
    EXPECT_EQ(status_of(bad(json{{{"role", "user"}, {"content", "x"}},
                                 {{"role", "user"}, {"content", "y"}}})),
              400);
    EXPECT_EQ(status_of(bad(json{{{"role", "user"}, {"content", "x"}},
                                 {{"role", "assistant"}, {"content", "y"}}})),
              400);
    EXPECT_EQ(status_of(bad(json{{{"role", "wizard"}, {"content", "x"}}})), 400);
    EXPECT_EQ(status_of(bad(json{{{"role", "user"}, {"content", 5}}})), 400);
    EXPECT_EQ(status_of(bad(json{"just a string"})), 400);
}

TEST(Responses, CompletionAndChunkShapes) {
    using namespace llama::server;
    llama::server::JobUpdate end;
    end.done = true;
    end.finish = FinishReason::Length;
    end.prompt_tokens = 4;
    end.completion_tokens = 3;
    const ResponseHeader completion{Endpoint::Completions, "cmpl-1", 5, "m"};
    const json c = completion_json(completion, "abc", end);
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_EQ(c["choices"][0]["text"], "abc");
    EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(c["usage"]["total_tokens"], 7);

    const ResponseHeader chat{Endpoint::ChatCompletions, "chatcmpl-1", 5, "m"};
    const json m = completion_json(chat, "hi", end);
    EXPECT_EQ(m["object"], "chat.completion");
    EXPECT_EQ(m["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(m["choices"][0]["message"]["content"], "hi");
    const json piece = chunk_json(chat, "x", nullptr);
    EXPECT_EQ(piece["object"], "chat.completion.chunk");
    EXPECT_EQ(piece["choices"][0]["delta"]["content"], "x");
    EXPECT_TRUE(piece["choices"][0]["finish_reason"].is_null());
    const json last = chunk_json(chat, "", &end);
    EXPECT_TRUE(last["choices"][0]["delta"].empty());
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(sse_event(json{{"a", 1}}), "data: {\"a\":1}\n\n");
    const json e = error_json("bad", "invalid_request_error", "", "prompt");
    EXPECT_EQ(e["error"]["message"], "bad");
    EXPECT_TRUE(e["error"]["code"].is_null());
    EXPECT_EQ(e["error"]["param"], "prompt");
}

}  // namespace
