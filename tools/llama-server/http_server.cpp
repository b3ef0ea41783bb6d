#include "http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "api_error.h"
#include "llama/chat.h"
#include "llama/error.h"
#include "request.h"
#include "responses.h"

namespace llama::server {

namespace {

using nlohmann::json;
constexpr const char* kJson = "application/json";

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body), kJson);
}

void send_error(httplib::Response& res, const ApiError& e) {
    send_json(res, e.status(), error_json(e.what(), e.type(), e.code(), e.param()));
}

std::string error_type(int status) {
    switch (status) {
        case 401:
            return "authentication_error";
        case 404:
            return "not_found_error";
        case 413:
            return "invalid_request_error";
        case 503:
            return "server_overloaded";
        default:
            return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

uint64_t random_seed() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng() & 0xFFFFFFFFu;
}

}  // namespace

HttpServer::HttpServer(const ServerOptions& options, Scheduler& scheduler,
                       const Tokenizer& tokenizer, Metrics& metrics, std::string model_id)
    : options_(options),
      scheduler_(scheduler),
      tokenizer_(tokenizer),
      metrics_(metrics),
      model_id_(std::move(model_id)),
      http_(std::make_unique<httplib::Server>()) {
    // Streaming handlers hold a worker for their whole request: one per slot and queued request,
    // and a few for /health, /metrics and refusals.
    const auto threads =
        static_cast<size_t>(options_.http_threads > 0 ? options_.http_threads
                                                      : options_.parallel + options_.max_queue + 4);
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_->set_payload_max_length(static_cast<size_t>(options_.max_body));
    http_->set_keep_alive_timeout(2);
    // httplib's default also sets SO_REUSEPORT, which would let a second server share a port in
    // use instead of failing. The socket is remembered so that bind() can widen its backlog.
    http_->set_socket_options([this](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        listen_socket_ = sock;
    });
    add_routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
    const int port = options_.port == 0
                         ? http_->bind_to_any_port(options_.host)
                         : (http_->bind_to_port(options_.host, static_cast<int>(options_.port))
                                ? static_cast<int>(options_.port)
                                : -1);
    if (port < 0) {
        throw Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                    " (address in use or not available)");
    }
    // The packaged cpp-httplib listens with a backlog of 5 (compiled into the library): clients
    // that connect at once beyond that wait a second for a SYN retry or, when their request was
    // already sent, see the connection reset. listen() on a listening socket only resizes its
    // queue (the kernel caps it at net.core.somaxconn).
    if (listen_socket_ >= 0 && ::listen(listen_socket_, kListenBacklog) != 0) {
        spdlog::warn("cannot widen the listen backlog to {}: {}", kListenBacklog,
                     std::strerror(errno));
    }
    return port;
}

bool HttpServer::listen() { return http_->listen_after_bind(); }

void HttpServer::stop() { http_->stop(); }

void HttpServer::add_routes() {
    httplib::Server& s = *http_;
    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (options_.api_key.empty() || req.path == "/health") {
            return httplib::Server::HandlerResponse::Unhandled;
        }
        if (req.get_header_value("Authorization") != "Bearer " + options_.api_key) {
            send_json(res, 401,
                      error_json("invalid or missing API key (Authorization: Bearer KEY)",
                                 "authentication_error", "invalid_api_key"));
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // Statuses httplib sets itself (404, 413, ...) get an OpenAI error body too.
    s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        std::string message = "HTTP status " + std::to_string(res.status);
        if (res.status == 404) message = "no such endpoint: " + req.method + " " + req.path;
        if (res.status == 413) message = "the request body is larger than the server accepts";
        send_json(res, res.status, error_json(message, error_type(res.status)));
    });
    s.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string message = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                message = e.what();
            } catch (...) {
            }
            spdlog::error("request failed: {}", message);
            send_json(res, 500, error_json(message, "server_error"));
        });
    s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        metrics_.count_request(req.path, res.status);
        spdlog::info("{} {} -> {}", req.method, req.path, res.status);
    });

    s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        if (draining_) {
            send_json(res, 503, {{"status", "shutting down"}});
        } else {
            send_json(res, 200, {{"status", "ok"}});
        }
    });
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics_.prometheus_text(), "text/plain; version=0.0.4");
    });
    const auto models = [this](const httplib::Request&, httplib::Response& res) {
        send_json(res, 200,
                  {{"object", "list"},
                   {"data", json::array({{{"id", model_id_},
                                          {"object", "model"},
                                          {"created", 0},
                                          {"owned_by", "llama-engine"}}})}});
    };
    s.Get("/v1/models", models);
    s.Get("/models", models);
    const auto guarded = [](auto handler) {
        return [handler](const httplib::Request& req, httplib::Response& res) {
            try {
                handler(req, res);
            } catch (const ApiError& e) {
                send_error(res, e);
            } catch (const Error& e) {  // e.g. a chat the tokenizer cannot build
                send_error(res, ApiError(400, e.what()));
            }
        };
    };
    s.Post("/v1/completions",
           guarded([this](const auto& req, auto& res) { generate(req, res, false); }));
    s.Post("/completions",
           guarded([this](const auto& req, auto& res) { generate(req, res, false); }));
    s.Post("/v1/chat/completions",
           guarded([this](const auto& req, auto& res) { generate(req, res, true); }));
    s.Post("/chat/completions",
           guarded([this](const auto& req, auto& res) { generate(req, res, true); }));
    s.Post("/tokenize", guarded([this](const auto& req, auto& res) { tokenize(req, res); }));
    s.Post("/detokenize", guarded([this](const auto& req, auto& res) { detokenize(req, res); }));
}

void HttpServer::wait_for_responses(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (responding_ > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void HttpServer::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    // Counted from here until the response is complete (for a stream: until its releaser runs).
    ++responding_;
    struct Uncount {
        std::atomic<int64_t>* counter;
        ~Uncount() {
            if (counter) --*counter;
        }
    } uncount{&responding_};
    PromptRequest request = parse_prompt_request(req.body, chat, tokenizer_, random_seed());
    auto job = std::make_shared<Job>();
    job->prompt = std::move(request.prompt);
    job->text_after_prompt = request.text_after_prompt;
    const GenerationRequest generation = std::move(request.generation);
    const auto n_prompt = static_cast<int64_t>(job->prompt.size());
    if (n_prompt >= scheduler_.n_ctx()) {
        throw ApiError(
            400,
            "the prompt is " + std::to_string(n_prompt) + " tokens long but the context holds " +
                std::to_string(scheduler_.n_ctx()) + " tokens, leaving no room to generate",
            "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt");
    }
    job->max_tokens = generation.max_tokens.value_or(options_.n_predict);
    job->sampler = generation.sampler;
    job->stop = generation.stop;
    job->ignore_eos = generation.ignore_eos;

    if (!scheduler_.submit(job)) {
        res.set_header("Retry-After", "1");
        throw ApiError(503, "the server is busy: every slot is taken and the queue is full",
                       "server_overloaded", "queue_full");
    }
    metrics_.add_prompt_tokens(n_prompt);

    const ResponseHeader header{
        chat ? Endpoint::ChatCompletions : Endpoint::Completions,
        std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++),
        static_cast<int64_t>(std::time(nullptr)), model_id_};
    static constexpr auto kPoll = std::chrono::milliseconds(100);
    if (!generation.stream) {
        std::string text;
        while (true) {
            JobUpdate update = job->wait(kPoll);
            text += update.text;
            if (!update.done) continue;
            if (update.finish == FinishReason::Error) {
                throw ApiError(500, "generation failed: " + update.error, "server_error");
            }
            send_json(res, 200, completion_json(header, text, update));
            return;
        }
    }

    const bool include_usage = generation.include_usage;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, header, chat, include_usage, started = false](size_t,
                                                                  httplib::DataSink& sink) mutable {
            const auto write = [&](const std::string& event) {
                if (sink.write(event.data(), event.size())) return true;
                job->cancel();  // the client went away: free its slot
                scheduler_.notify();
                return false;
            };
            if (!started) {
                started = true;
                if (chat && !write(sse_event(chat_role_chunk_json(header)))) return false;
            }
            while (true) {
                const JobUpdate update = job->wait(kPoll);
                if (!sink.is_writable()) {
                    job->cancel();
                    scheduler_.notify();
                    return false;
                }
                if (!update.text.empty() &&
                    !write(sse_event(chunk_json(header, update.text, nullptr)))) {
                    return false;
                }
                if (update.done) {
                    if (update.finish == FinishReason::Error) {
                        write(sse_event(
                            error_json("generation failed: " + update.error, "server_error")));
                    } else {
                        if (!write(sse_event(chunk_json(header, "", &update)))) return false;
                        if (include_usage && !write(sse_event(usage_chunk_json(header, update)))) {
                            return false;
                        }
                    }
                    write("data: [DONE]\n\n");
                    sink.done();
                    return true;
                }
                if (!update.text.empty()) return true;
            }
        },
        [this, job](bool) {
            // However the response ended, the job is of no use any more.
            job->cancel();
            scheduler_.notify();
            --responding_;
        });
    uncount.counter = nullptr;  // the releaser uncounts the stream
}

void HttpServer::tokenize(const httplib::Request& req, httplib::Response& res) {
    const TokenizeRequest request = parse_tokenize_request(req.body);
    send_json(res, 200, {{"tokens", tokenizer_.encode(request.content, request.add_special)}});
}

void HttpServer::detokenize(const httplib::Request& req, httplib::Response& res) {
    const std::vector<int32_t> ids = parse_detokenize_request(req.body, tokenizer_.vocab_size());
    send_json(res, 200, {{"content", tokenizer_.decode(ids)}});
}

}  // namespace llama::server
