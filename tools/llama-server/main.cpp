// llama-server: an OpenAI-compatible HTTP server over the engine, with continuous batching.
// Prints "llama-server listening on http://HOST:PORT" on stdout once it accepts connections;
// SIGINT or SIGTERM stops accepting, cancels running requests (they end as far as they got) and
// exits 0.

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/cli.h"
#include "http_server.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"
#include "llama/tokenizer.h"
#include "options.h"
#include "scheduler.h"
#include "slot_model.h"

namespace {

// SIGINT and SIGTERM, turned into a byte on a pipe that a thread waits on (a handler may do
// little else; sigwait() would not do, since OpenBLAS starts threads before main that would take
// the signals with their default action).
class StopSignals {
  public:
    StopSignals() {
        if (pipe(fds_) != 0) throw llama::Error("cannot create a pipe for signals");
        write_fd_ = fds_[1];
        struct sigaction action {};
        action.sa_handler = [](int signal_number) {
            const char byte = static_cast<char>(signal_number);
            [[maybe_unused]] const ssize_t n = write(write_fd_, &byte, 1);
        };
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, nullptr);
        sigaction(SIGTERM, &action, nullptr);
    }
    ~StopSignals() {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(fds_[0]);
        close(fds_[1]);
    }
    // Blocks until a signal arrives (returns its number) or release() (returns 0).
    int wait() {
        char byte = 0;
        while (read(fds_[0], &byte, 1) < 0 && errno == EINTR) {
        }
        return static_cast<unsigned char>(byte);
    }
    void release() {
        const char zero = 0;
        [[maybe_unused]] const ssize_t n = write(fds_[1], &zero, 1);
    }

  private:
    static inline int write_fd_ = -1;  // for the handler, which cannot take arguments
    int fds_[2] = {-1, -1};
};

std::string model_id(const llama::server::ServerOptions& options) {
    if (!options.alias.empty()) return options.alias;
    std::filesystem::path path(options.run.model);
    if (!path.has_filename()) path = path.parent_path();  // "dir/"
    return path.filename().string();
}

int run(int argc, char** argv) {
    // A client that disconnects must not kill the server with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);

    llama::server::ServerOptions options;
    if (!llama::server::parse_server_options(argc, argv, options)) return 0;
    llama::cli::init_logging(options.run.log_level, "warn");
    llama::cli::apply_isa_flag(options.run.isa);

    const llama::LlamaModel model = llama::load_model(options.run.model);
    const llama::Tokenizer tokenizer = llama::Tokenizer::load(options.run.model);
    const int64_t n_ctx =
        llama::cli::resolve_context_size(options.ctx_size, model.config.max_context);
    llama::ContextParams context_params = llama::cli::context_params(options.run, n_ctx);
    // Decode steps (one token per slot) on the one-token kernels: a request's logits do not depend
    // on the other requests in the batch. Twice the slots: room for as many prompt tokens beside
    // the generation tokens, so that prompts arriving together are read in the same forwards.
    if (!options.fast_batch) context_params.exact_batch_tokens = 2 * options.parallel;
    const auto slots =
        llama::server::make_slot_model(model, context_params, static_cast<int>(options.parallel));
    spdlog::info("{}, {} slots", llama::cli::describe(options.run, n_ctx), options.parallel);
    if (options.warmup) {
        // One forward before listening, as llama.cpp's server runs: the first request does not
        // pay for reading the mapped weights from disk and touching the work buffers. The slot's
        // cache is emptied again, so nothing of it is reused.
        const auto start = std::chrono::steady_clock::now();
        const llama::server::SlotToken token{std::max(tokenizer.bos_id(), 0), 0, true};
        slots->decode({&token, 1});
        slots->truncate(0, 0);
        spdlog::info("warm-up forward: {:.0f} ms", std::chrono::duration<double, std::milli>(
                                                       std::chrono::steady_clock::now() - start)
                                                       .count());
    }

    llama::server::Metrics metrics;
    llama::server::SchedulerOptions scheduler_options;
    scheduler_options.max_queue = options.max_queue;
    scheduler_options.n_batch = options.run.batch_size;
    scheduler_options.step_delay_ms = options.step_delay_ms;
    scheduler_options.reproducible = !options.fast_batch;
    scheduler_options.exact_batch_tokens = context_params.exact_batch_tokens;
    llama::server::Scheduler scheduler(*slots, tokenizer, scheduler_options, metrics);
    llama::server::HttpServer http(options, scheduler, tokenizer, metrics, model_id(options));
    const int port = http.bind();

    StopSignals signals;
    std::atomic<bool> listen_returned{false};
    std::thread signal_waiter([&] {
        const int signal_number = signals.wait();
        if (signal_number == 0) return;  // main is done already
        spdlog::warn("signal {}: shutting down", signal_number);
        http.set_draining();
        scheduler.stop();  // running requests end now, so their handlers return
        http.wait_for_responses(std::chrono::seconds(10));
        // stop() does nothing before listen() has started: repeat until it has returned.
        while (!listen_returned) {
            http.stop();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    std::printf("llama-server listening on http://%s:%d\n", options.host.c_str(), port);
    std::fflush(stdout);
    const bool ok = http.listen();
    listen_returned = true;
    signals.release();
    signal_waiter.join();
    scheduler.stop();
    if (!ok) throw llama::Error("the HTTP server failed");
    std::fprintf(stderr, "llama-server stopped\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return llama::cli::run_tool([&] { return run(argc, argv); });
}
