#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "llama/tokenizer.h"
#include "metrics.h"
#include "options.h"
#include "scheduler.h"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace llama::server {

// The HTTP side: routes, authentication, validation and the OpenAI JSON and SSE formats over a
// Scheduler. Handlers run on cpp-httplib's worker threads and wait for their jobs.
class HttpServer {
  public:
    HttpServer(const ServerOptions& options, Scheduler& scheduler, const Tokenizer& tokenizer,
               Metrics& metrics, std::string model_id);
    ~HttpServer();

    // Binds options.host:options.port (port 0: any free one); returns the port. Throws
    // llama::Error if it cannot.
    int bind();
    // Serves until stop(); returns false if the server failed.
    bool listen();
    // Stops accepting connections and makes listen() return once running handlers are done.
    void stop();
    // /health answers 503 from now on (a load balancer takes the replica out of rotation).
    void set_draining() { draining_ = true; }
    // Waits (up to `timeout`) until no generation request is being answered, e.g. until the
    // streams of cancelled jobs have sent their last events: httplib's stop() cuts streams short.
    void wait_for_responses(std::chrono::milliseconds timeout);

  private:
    void add_routes();
    void generate(const httplib::Request& req, httplib::Response& res, bool chat);
    void tokenize(const httplib::Request& req, httplib::Response& res);
    void detokenize(const httplib::Request& req, httplib::Response& res);

    ServerOptions options_;
    Scheduler& scheduler_;
    const Tokenizer& tokenizer_;
    Metrics& metrics_;
    std::string model_id_;
    std::unique_ptr<httplib::Server> http_;
    static constexpr int kListenBacklog = 1024;
    int listen_socket_ = -1;  // the socket httplib created last, the one it binds
    std::atomic<uint64_t> next_id_{1};
    std::atomic<bool> draining_{false};
    std::atomic<int64_t> responding_{0};  // generation requests being answered
};

}  // namespace llama::server
