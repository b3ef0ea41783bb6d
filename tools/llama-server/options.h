#pragma once

#include <cstdint>
#include <string>

#include "common/run_flags.h"

namespace llama::server {

// llama-server's command line.
struct ServerOptions {
    ServerOptions() { run.batch_size = 128; }  // prefill chunks: also the prompt cache's grain

    cli::RunOptions run;
    std::string host = "127.0.0.1";
    int64_t port = 8080;         // 0: any free port (the one chosen is printed)
    int64_t parallel = 1;        // slots: requests decoded together
    int64_t ctx_size = 0;        // tokens per slot; 0: the model's maximum
    int64_t n_predict = -1;      // max_tokens of requests without one; -1: until EOS or full
    int64_t max_queue = 64;      // requests waiting for a slot before 503
    int64_t max_body = 1 << 20;  // request body bytes before 413
    int64_t http_threads = 0;    // 0: enough for every slot and queued request
    std::string api_key;         // empty: no authentication
    bool fast_batch = false;     // decode steps may use GEMM (results then depend on the batch)
    bool warmup = true;          // one forward before listening (--no-warmup: none)
    int64_t step_delay_ms = 0;   // pause after every decode step (tests: a slow model)
    std::string alias;           // model id in responses; empty: the model file's name
};

// Parses argv; returns false if --help was given (help text printed to stdout). Throws
// llama::Error for bad flags.
bool parse_server_options(int argc, char** argv, ServerOptions& options);

}  // namespace llama::server
