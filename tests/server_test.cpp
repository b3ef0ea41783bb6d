// llama-server end to end on loopback: a server process per suite on an ephemeral port, the
// shipped model, and HTTP clients (cpp-httplib, and raw sockets where a test needs to see the
// stream's bytes or drop the connection). Every wait is bounded by a deadline.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "llama/chat.h"
#include "llama/context.h"
#include "llama/generator.h"
#include "llama/model.h"
#include "llama/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const fs::path kServer = fs::path(LLAMA_BINARY_DIR) / "tools" / "llama-server" / "llama-server";
const fs::path kModel = fs::path(LLAMA_SOURCE_DIR) / "model" / "kjv-tiny";
constexpr auto kDeadline = std::chrono::seconds(60);

// A llama-server child process; its stdout's first line tells the port.
class ServerProcess {
  public:
    explicit ServerProcess(std::vector<std::string> extra) {
        std::vector<std::string> args = {
            kServer.string(), "-m",  kModel.string(), "--port", "0", "-t", "1",
            "--precision",    "f32", "--cache-type",  "f32"};
        args.insert(args.end(), extra.begin(), extra.end());
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(out[1]);
        stdout_ = out[0];
        // "llama-server listening on http://127.0.0.1:PORT\n"
        std::string line;
        const auto deadline = Clock::now() + kDeadline;
        while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
            pollfd p{stdout_, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            char c;
            if (read(stdout_, &c, 1) != 1) break;
            line += c;
        }
        const auto colon = line.rfind(':');
        if (line.find("listening on") == std::string::npos || colon == std::string::npos) {
            throw std::runtime_error("llama-server did not start: '" + line + "'");
        }
        port_ = std::stoi(line.substr(colon + 1));
    }
    ~ServerProcess() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (stdout_ >= 0) close(stdout_);
    }

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    // Sends `signal` and waits (bounded) for the exit; returns the exit status, or -1.
    int stop(int signal) {
        kill(pid_, signal);
        const auto deadline = Clock::now() + kDeadline;
        while (Clock::now() < deadline) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(60, 0);
        return c;
    }

  private:
    pid_t pid_ = -1;
    int stdout_ = -1;
    int port_ = 0;
};

// A raw HTTP/1.1 request whose response is read as it comes (or dropped half way).
class RawRequest {
  public:
    RawRequest(int port, const std::string& path, const json& body,
               const std::string& extra_headers = "") {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("connect");
        }
        const std::string text = body.dump();
        const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                    extra_headers + "Content-Type: application/json\r\n" +
                                    "Content-Length: " + std::to_string(text.size()) +
                                    "\r\nConnection: close\r\n\r\n" + text;
        send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    }
    ~RawRequest() { drop(); }
    void drop() {
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
    }
    // Reads until `needle` has arrived or the server closes (bounded); returns all so far.
    const std::string& read_until(const std::string& needle) {
        const auto deadline = Clock::now() + kDeadline;
        while (received_.find(needle) == std::string::npos && Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            char buffer[4096];
            const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) break;
            received_.append(buffer, static_cast<size_t>(n));
        }
        return received_;
    }
    const std::string& read_all() { return read_until(std::string(1, '\0')); }

  private:
    int fd_ = -1;
    std::string received_;
};

// The JSON objects of the "data: ..." events in a raw response, and whether [DONE] ended it.
struct Events {
    std::vector<json> chunks;
    bool done = false;
};

Events parse_events(const std::string& raw) {
    Events events;
    size_t pos = 0;
    while ((pos = raw.find("data: ", pos)) != std::string::npos) {
        const size_t end = raw.find("\n\n", pos);
        if (end == std::string::npos) break;
        const std::string data = raw.substr(pos + 6, end - pos - 6);
        if (data == "[DONE]") {
            events.done = true;
        } else {
            events.chunks.push_back(json::parse(data));
        }
        pos = end;
    }
    return events;
}

// The text of a stream: the concatenated "text" (completions) or "delta.content" (chat).
std::string stream_text(const Events& events) {
    std::string text;
    for (const json& chunk : events.chunks) {
        if (chunk["choices"].empty()) continue;
        const json& choice = chunk["choices"][0];
        if (choice.contains("text")) text += choice["text"].get<std::string>();
        if (choice.contains("delta") && choice["delta"].contains("content")) {
            text += choice["delta"]["content"].get<std::string>();
        }
    }
    return text;
}

// A metric's value from /metrics text ("name value" or "name{labels} value").
double metric(const std::string& text, const std::string& name) {
    const size_t pos = text.find("\n" + name + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + name.size() + 2));
}

// Polls /metrics until `name` satisfies `ok` (bounded); returns the last value.
template <class Ok>
double wait_for_metric(const ServerProcess& server, const std::string& name, Ok ok) {
    const auto deadline = Clock::now() + kDeadline;
    double value = -1;
    while (Clock::now() < deadline) {
        auto client = server.client();
        if (auto res = client.Get("/metrics")) {
            value = metric(res->body, name);
            if (ok(value)) return value;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return value;
}

// What a failed request got instead of a completion, for the failure message.
std::string failure_text(const httplib::Result& res) {
    if (!res) return "(no response: " + httplib::to_string(res.error()) + ")";
    return "(HTTP " + std::to_string(res->status) + ": " + res->body + ")";
}

json post(const ServerProcess& server, const std::string& path, const json& body,
          int* status = nullptr) {
    auto client = server.client();
    auto res = client.Post(path.c_str(), body.dump(), "application/json");
    if (!res) {
        ADD_FAILURE() << "no response from " << path;
        return {};
    }
    if (status) *status = res->status;
    return json::parse(res->body);
}

class Server : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        server_ = new ServerProcess({"--parallel", "4", "-c", "256"});
        model_ = new llama::LlamaModel(llama::load_model(kModel));
        tokenizer_ = new llama::Tokenizer(llama::Tokenizer::load(kModel));
    }
    static void TearDownTestSuite() {
        delete server_;
        delete model_;
        delete tokenizer_;
    }

    // A context with the server's settings, for in-process references.
    static llama::InferenceContext context() {
        llama::ContextParams params;
        params.n_ctx = 256;
        params.n_threads = 1;
        params.prompt_precision = llama::PromptPrecision::F32;
        params.cache_type = llama::CacheType::F32;
        return llama::InferenceContext(*model_, params);
    }
    static llama::GenerationParams greedy(int64_t n) {
        llama::GenerationParams params;
        params.n_predict = n;
        params.sampler.temperature = 0.0f;
        return params;
    }

    static ServerProcess* server_;
    static llama::LlamaModel* model_;
    static llama::Tokenizer* tokenizer_;
};

ServerProcess* Server::server_ = nullptr;
llama::LlamaModel* Server::model_ = nullptr;
llama::Tokenizer* Server::tokenizer_ = nullptr;

TEST_F(Server, HealthModelsMetrics) {
    auto client = server_->client();
    auto health = client.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(json::parse(health->body)["status"], "ok");

    auto models = client.Get("/v1/models");
    ASSERT_TRUE(models);
    const json list = json::parse(models->body);
    EXPECT_EQ(list["object"], "list");
    EXPECT_EQ(list["data"][0]["id"], "kjv-tiny");

    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    for (const char* name :
         {"llama_requests_total", "llama_prompt_tokens_total", "llama_generated_tokens_total",
          "llama_generation_tokens_per_second", "llama_queue_depth", "llama_slots_busy"}) {
        EXPECT_NE(metrics->body.find("# TYPE " + std::string(name)), std::string::npos) << name;
    }
    EXPECT_EQ(metric(metrics->body, "llama_slots_total"), 4);
    // Requests are counted once answered: poll until /health's shows up.
    const std::string health_count = "llama_requests_total{endpoint=\"/health\",status=\"200\"}";
    std::string text = metrics->body;
    for (int i = 0; i < 500 && text.find(health_count) == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (auto again = client.Get("/metrics")) text = again->body;
    }
    EXPECT_NE(text.find(health_count), std::string::npos) << text;
}

TEST_F(Server, TokenizeAndDetokenize) {
    const std::string text = "In the beginning God created the heaven";
    const json tokens = post(*server_, "/tokenize", {{"content", text}})["tokens"];
    EXPECT_EQ(tokens.get<std::vector<int32_t>>(), tokenizer_->encode(text, false));
    const json with_bos = post(*server_, "/tokenize", {{"content", text}, {"add_special", true}});
    EXPECT_EQ(with_bos["tokens"][0], tokenizer_->bos_id());
    EXPECT_EQ(post(*server_, "/detokenize", {{"tokens", tokens}})["content"], text);
    int status = 0;
    const json bad = post(*server_, "/detokenize", {{"tokens", {1, 999999}}}, &status);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(bad["error"]["param"], "tokens");
    post(*server_, "/tokenize", {{"content", 5}}, &status);
    EXPECT_EQ(status, 400);
}

TEST_F(Server, GreedyCompletionMatchesTheLibrary) {
    const std::string prompt = "And God said";
    int status = 0;
    const json r = post(*server_, "/v1/completions",
                        {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}}, &status);
    ASSERT_EQ(status, 200) << r.dump();
    EXPECT_EQ(r["object"], "text_completion");
    EXPECT_TRUE(r["id"].get<std::string>().starts_with("cmpl-"));

    auto ctx = context();
    std::string expected;
    const auto stats = llama::generate(ctx, *tokenizer_, prompt, greedy(12), [&](auto piece) {
        expected += piece;
        return true;
    });
    EXPECT_EQ(r["choices"][0]["text"], expected);
    const std::string reason =
        stats.stop_reason == llama::StopReason::EndOfSequence ? "stop" : "length";
    EXPECT_EQ(r["choices"][0]["finish_reason"], reason);
    EXPECT_EQ(r["usage"]["prompt_tokens"], tokenizer_->encode(prompt, true).size());
    EXPECT_EQ(r["usage"]["completion_tokens"], stats.generated_tokens);
    EXPECT_EQ(
        r["usage"]["total_tokens"],
        stats.generated_tokens + static_cast<int64_t>(tokenizer_->encode(prompt, true).size()));
}

TEST_F(Server, StreamedCompletionEqualsThePlainOne) {
    const json body = {{"prompt", "The lord said unto Moses"},
                       {"max_tokens", 16},
                       {"seed", 7},
                       {"temperature", 1.0}};
    const json plain = post(*server_, "/v1/completions", body);
    json streamed_body = body;
    streamed_body["stream"] = true;
    RawRequest request(server_->port(), "/v1/completions", streamed_body);
    const std::string& raw = request.read_all();
    EXPECT_NE(raw.find("Content-Type: text/event-stream"), std::string::npos) << raw;
    const Events events = parse_events(raw);
    EXPECT_TRUE(events.done) << raw;
    ASSERT_GE(events.chunks.size(), 2u);
    EXPECT_EQ(stream_text(events), plain["choices"][0]["text"]);
    const json& last = events.chunks.back();
    EXPECT_EQ(last["choices"][0]["finish_reason"], plain["choices"][0]["finish_reason"]);
    EXPECT_EQ(last["usage"], plain["usage"]);
    for (size_t i = 0; i + 1 < events.chunks.size(); ++i) {
        EXPECT_TRUE(events.chunks[i]["choices"][0]["finish_reason"].is_null());
    }
}

TEST_F(Server, ChatMatchesTheLibrarysChatFormat) {
    const json messages = {{{"role", "system"}, {"content", "Answer briefly."}},
                           {{"role", "user"}, {"content", "Who made the heaven?"}}};
    int status = 0;
    const json r = post(*server_, "/v1/chat/completions",
                        {{"messages", messages}, {"max_tokens", 10}, {"temperature", 0}}, &status);
    ASSERT_EQ(status, 200) << r.dump();
    EXPECT_EQ(r["object"], "chat.completion");
    EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");

    auto ctx = context();
    llama::ChatSession session(ctx, *tokenizer_, std::string("Answer briefly."), greedy(10));
    std::string expected;
    session.reply("Who made the heaven?", [&](auto piece) {
        expected += piece;
        return true;
    });
    EXPECT_EQ(r["choices"][0]["message"]["content"], expected);
    const std::vector<llama::ChatTurn> turns = {{"Who made the heaven?", std::nullopt}};
    EXPECT_EQ(r["usage"]["prompt_tokens"],
              llama::llama2_chat_tokens(*tokenizer_, std::string("Answer briefly."), turns).size());

    // Streamed: a role chunk, content chunks, the finish chunk, [DONE].
    RawRequest request(server_->port(), "/v1/chat/completions",
                       {{"messages", messages},
                        {"max_tokens", 10},
                        {"temperature", 0},
                        {"stream", true},
                        {"stream_options", {{"include_usage", true}}}});
    const Events events = parse_events(request.read_all());
    ASSERT_TRUE(events.done);
    ASSERT_GE(events.chunks.size(), 3u);
    EXPECT_EQ(events.chunks[0]["object"], "chat.completion.chunk");
    EXPECT_EQ(events.chunks[0]["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(stream_text(events), expected);
    const json& usage_only = events.chunks.back();
    EXPECT_TRUE(usage_only["choices"].empty());
    EXPECT_EQ(usage_only["usage"], r["usage"]);
}

TEST_F(Server, StopStringsCutTheTextAcrossTokens) {
    const json base = {{"prompt", "And God said"}, {"max_tokens", 24}, {"temperature", 0}};
    const std::string full = post(*server_, "/v1/completions", base)["choices"][0]["text"];
    ASSERT_GT(full.size(), 20u) << full;
    // A stop string that starts inside one token and ends inside another.
    const std::string stop = full.substr(9, 5);
    const std::string expected = full.substr(0, full.find(stop));
    json body = base;
    body["stop"] = {"never appears", stop};
    const json r = post(*server_, "/v1/completions", body);
    EXPECT_EQ(r["choices"][0]["text"], expected);
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");

    body["stream"] = true;
    RawRequest request(server_->port(), "/v1/completions", body);
    const Events events = parse_events(request.read_all());
    EXPECT_TRUE(events.done);
    EXPECT_EQ(stream_text(events), expected) << "nothing of the stop string is streamed";
    EXPECT_EQ(events.chunks.back()["choices"][0]["finish_reason"], "stop");
}

TEST_F(Server, SeededRequestsAreReproducible) {
    const json body = {{"prompt", "In the beginning"},
                       {"max_tokens", 20},
                       {"seed", 1234},
                       {"temperature", 1.2},
                       {"top_k", 0},
                       {"top_p", 1.0},
                       {"min_p", 0}};
    const json a = post(*server_, "/v1/completions", body);
    const json b = post(*server_, "/v1/completions", body);
    EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);
    std::set<std::string> texts;
    for (int seed = 0; seed < 4; ++seed) {
        json other = body;
        other["seed"] = seed;
        texts.insert(post(*server_, "/v1/completions", other)["choices"][0]["text"]);
    }
    EXPECT_GT(texts.size(), 1u) << "different seeds should not all agree";
}

TEST_F(Server, ConcurrentRequestsEqualSequentialOnes) {
    // 16 different requests (4 slots: they queue, share batches, reuse caches).
    std::vector<json> bodies;
    const std::vector<std::string> prompts = {"And God said", "The lord", "In the beginning",
                                              "And it came to pass"};
    for (int i = 0; i < 16; ++i) {
        json body = {{"prompt", prompts[i % 4]}, {"max_tokens", 8 + i}, {"seed", 100 + i}};
        if (i % 3 == 0) body["temperature"] = 0;
        bodies.push_back(body);
    }
    std::vector<std::string> sequential;
    for (const json& body : bodies) {
        sequential.push_back(post(*server_, "/v1/completions", body)["choices"][0]["text"]);
    }
    std::vector<std::string> concurrent(bodies.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < bodies.size(); ++i) {
        threads.emplace_back([&, i] {
            auto client = server_->client();
            auto res = client.Post("/v1/completions", bodies[i].dump(), "application/json");
            if (res && res->status == 200) {
                concurrent[i] = json::parse(res->body)["choices"][0]["text"];
            } else {
                concurrent[i] = failure_text(res);
            }
        });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < bodies.size(); ++i) {
        EXPECT_EQ(concurrent[i], sequential[i]) << "request " << i;
    }
}

TEST_F(Server, BadRequestsGet4xxAndTheServerKeepsServing) {
    auto client = server_->client();
    const auto check = [&](const std::string& path, const std::string& body, int status,
                           const std::string& param = "") {
        auto res = client.Post(path.c_str(), body, "application/json");
        ASSERT_TRUE(res) << body;
        EXPECT_EQ(res->status, status) << body << " -> " << res->body;
        const json error = json::parse(res->body);
        ASSERT_TRUE(error.contains("error")) << res->body;
        EXPECT_FALSE(error["error"]["message"].get<std::string>().empty());
        EXPECT_TRUE(error["error"]["type"].is_string());
        if (!param.empty()) {
            EXPECT_EQ(error["error"]["param"], param) << res->body;
        }
    };
    check("/v1/completions", "{not json", 400);
    check("/v1/completions", "[]", 400);
    check("/v1/completions", R"({"max_tokens": 3})", 400, "prompt");
    check("/v1/completions", R"({"prompt": "x", "max_tokens": "many"})", 400, "max_tokens");
    check("/v1/completions", R"({"prompt": "x", "temperature": 9})", 400, "temperature");
    check("/v1/completions", R"({"prompt": "x", "top_p": -1})", 400, "top_p");
    check("/v1/chat/completions", R"({"messages": "hi"})", 400, "messages");
    check("/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400);
    std::string long_prompt;
    for (int i = 0; i < 300; ++i) long_prompt += " and the lord";
    check("/v1/completions", json{{"prompt", long_prompt}}.dump(), 400, "prompt");
    check("/v1/nothing", "{}", 404);
    std::string huge(2 << 20, 'a');
    check("/v1/completions", json{{"prompt", huge}}.dump(), 413);

    // Unknown fields are ignored; the server is still fine.
    int status = 0;
    post(*server_, "/v1/completions",
         {{"prompt", "x"}, {"max_tokens", 2}, {"logit_bias", {{"5", 1}}}, {"user", "u"}, {"n", 1}},
         &status);
    EXPECT_EQ(status, 200);
}

// Servers of their own, with the options under test.

// Default arithmetic (bf16 prompts where the CPU has it, f16 cache), 16 slots, 16-token prompt
// chunks: a seeded request gives the same text alone as among 15 others (some prompt chunks
// computed in one forward with other requests' generation tokens), and the prompt cache (whole
// chunks of a previous prompt) changes nothing either.
TEST(ServerBatching, SeededRequestAloneEqualsAmongFifteenOthers) {
    const std::string base =
        "In the beginning God created the heaven and the earth. And the earth was without form, "
        "and void; and darkness was upon the face of the deep. ";
    const std::vector<std::string> endings = {"And God said", "And the spirit", "The lord",
                                              "And it came to pass"};
    std::vector<json> bodies;
    for (int i = 0; i < 16; ++i) {
        json body = {{"prompt", base + endings[i % 4]},
                     {"max_tokens", 24},
                     {"seed", 500 + i},
                     {"ignore_eos", true}};
        if (i % 4 == 3) body["temperature"] = 0;
        bodies.push_back(body);
    }
    const std::vector<std::string> flags = {"--parallel",  "16",   "-b",           "16",
                                            "--precision", "bf16", "--cache-type", "f16"};
    // Each request alone, on a fresh server (no cache history).
    std::vector<std::string> alone;
    for (const json& body : {bodies[0], bodies[5], bodies[11]}) {
        ServerProcess fresh(flags);
        alone.push_back(post(fresh, "/v1/completions", body)["choices"][0]["text"]);
    }
    ServerProcess server(flags);
    std::vector<std::string> together(bodies.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < bodies.size(); ++i) {
        threads.emplace_back([&, i] {
            auto client = server.client();
            auto res = client.Post("/v1/completions", bodies[i].dump(), "application/json");
            if (res && res->status == 200) {
                together[i] = json::parse(res->body)["choices"][0]["text"];
            } else {
                together[i] = failure_text(res);
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(together[0], alone[0]);
    EXPECT_EQ(together[5], alone[1]);
    EXPECT_EQ(together[11], alone[2]);
    // Again, now that the slots hold these prompts: whole chunks come from the cache.
    EXPECT_EQ(post(server, "/v1/completions", bodies[5])["choices"][0]["text"], alone[1]);
    auto client = server.client();
    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_GE(metric(metrics->body, "llama_prompt_tokens_reused_total"), 16);
    // Some prompts' last chunks (under 16 tokens) ran in the same forward as the generation
    // tokens of the requests already answering and other prompts' chunks (at most 32 tokens in
    // all, twice the slots): the results above held with them.
    EXPECT_GE(metric(metrics->body, "llama_prefill_chunks_joined_total"), 1);
}

// The warm-up forward before listening leaves nothing behind: a seeded request gives the same
// text with and without it.
TEST(ServerOptions, WarmUpChangesNoResult) {
    const json body = {{"prompt", "In the beginning"}, {"max_tokens", 12}, {"seed", 7}};
    ServerProcess warmed({});
    ServerProcess cold({"--no-warmup"});
    const std::string text = post(warmed, "/v1/completions", body)["choices"][0]["text"];
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(post(cold, "/v1/completions", body)["choices"][0]["text"], text);
}

TEST(ServerOptions, ApiKeyIsRequiredExceptForHealth) {
    ServerProcess server({"--api-key", "sekret"});
    auto client = server.client();
    auto health = client.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    auto refused = client.Get("/v1/models");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401);
    EXPECT_EQ(json::parse(refused->body)["error"]["type"], "authentication_error");
    auto wrong = client.Get("/v1/models", {{"Authorization", "Bearer nope"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto ok = client.Get("/v1/models", {{"Authorization", "Bearer sekret"}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

TEST(ServerOptions, QueueLimitAndDisconnectFreesTheSlot) {
    // One slot, one queued request; a slow model (20 ms a step) keeps the slot busy.
    ServerProcess server({"--parallel", "1", "--max-queue", "1", "--step-delay-ms", "20"});
    RawRequest first(server.port(), "/v1/completions",
                     {{"prompt", "And God said"},
                      {"max_tokens", 500},
                      {"stream", true},
                      {"temperature", 0},
                      {"ignore_eos", true}});
    first.read_until("data: ");  // generating
    ASSERT_EQ(wait_for_metric(server, "llama_slots_busy", [](double v) { return v == 1; }), 1);

    std::optional<httplib::Result> queued_result;
    std::thread queued([&] {
        auto client = server.client();
        queued_result =
            client.Post("/v1/completions", json{{"prompt", "The lord"}, {"max_tokens", 3}}.dump(),
                        "application/json");
    });
    ASSERT_EQ(wait_for_metric(server, "llama_queue_depth", [](double v) { return v == 1; }), 1);

    // The queue is full: refused at once, with Retry-After.
    auto client = server.client();
    auto refused = client.Post("/v1/completions", json{{"prompt", "x"}}.dump(), "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 503);
    EXPECT_TRUE(refused->has_header("Retry-After"));
    EXPECT_EQ(json::parse(refused->body)["error"]["code"], "queue_full");

    // The first client hangs up: its slot goes to the queued request, long before its 500
    // tokens could have been generated.
    first.drop();
    queued.join();
    ASSERT_TRUE(queued_result.has_value() && *queued_result);
    EXPECT_EQ((*queued_result)->status, 200);
    EXPECT_EQ(wait_for_metric(server, "llama_slots_busy", [](double v) { return v == 0; }), 0);
    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_LT(metric(metrics->body, "llama_generated_tokens_total"), 400);
}

TEST(ServerOptions, SigtermEndsRunningStreamsAndExitsZero) {
    ServerProcess server({"--step-delay-ms", "20"});
    RawRequest stream(server.port(), "/v1/completions",
                      {{"prompt", "And God said"}, {"max_tokens", 500}, {"stream", true}});
    stream.read_until("data: ");
    EXPECT_EQ(server.stop(SIGTERM), 0);
    const Events events = parse_events(stream.read_all());
    EXPECT_TRUE(events.done) << "the running stream is closed properly";
}

TEST(ServerOptions, SigintExitsZero) {
    ServerProcess server({});
    EXPECT_EQ(server.stop(SIGINT), 0);
}

// A burst of clients that connect at once (more than httplib's default listen backlog of 5) is
// answered in full: no connection is reset or left waiting for a SYN retry.
TEST(ServerOptions, BurstOfConnectionsIsAnsweredInFull) {
    ServerProcess server({"--parallel", "2"});
    constexpr int kClients = 64;
    std::vector<std::string> answers(kClients);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            auto client = server.client();
            client.set_connection_timeout(0, 500000);  // a dropped SYN is retried after 1 s
            ++ready;
            while (ready < kClients) std::this_thread::yield();
            auto res = client.Get("/health");
            answers[i] = res && res->status == 200 ? "ok" : failure_text(res);
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kClients; ++i) EXPECT_EQ(answers[i], "ok") << "client " << i;
}

TEST(ServerOptions, BadFlagsAndBusyPortFail) {
    const auto run = [](const std::string& args) {
        return std::system((kServer.string() + " " + args + " > /dev/null 2>&1").c_str());
    };
    EXPECT_NE(run("--parallel 0"), 0);
    EXPECT_NE(run("--port 70000"), 0);
    EXPECT_NE(run("-m /nonexistent/model"), 0);
    ServerProcess server({});
    EXPECT_NE(run("-m " + kModel.string() + " --port " + std::to_string(server.port())), 0)
        << "a port in use is an error";
}

}  // namespace

namespace {

// The official OpenAI Node.js SDK (installed by tools/setup.sh) against the server.
TEST(ServerOpenAiSdk, CompletionStreamedChatAndError) {
    const fs::path dir = fs::path(LLAMA_SOURCE_DIR) / "tests" / "server-node";
    if (!fs::exists(dir / "node_modules" / "openai" / "package.json")) {
        GTEST_SKIP() << "the openai npm package is not installed (run tools/setup.sh)";
    }
    if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no node";
    ServerProcess server({"--api-key", "test-key", "--parallel", "2"});
    const std::string command = "timeout 120 node " + (dir / "openai_client.mjs").string() +
                                " http://127.0.0.1:" + std::to_string(server.port()) + "/v1 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int status = pclose(pipe);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find("\nok\n"), std::string::npos) << output;
}

}  // namespace
