#include "options.h"

#include <iostream>

namespace llama::server {

bool parse_server_options(int argc, char** argv, ServerOptions& o) {
    cli::ArgParser parser("llama-server",
                          "An OpenAI-compatible HTTP server (/v1/completions, "
                          "/v1/chat/completions, /v1/models, /health, /metrics, /tokenize, "
                          "/detokenize) with continuous batching over --parallel slots.");
    cli::add_run_flags(parser, &o.run);
    parser.add_string({"--host"}, "ADDR", "address to listen on (default: 127.0.0.1)", &o.host);
    parser.add_int({"--port"}, "N", "port to listen on, 0 = any free one (default: 8080)", &o.port,
                   0, 65535);
    parser.add_int({"-np", "--parallel"}, "N",
                   "slots: requests decoded together in one batch (default: 1)", &o.parallel, 1,
                   256);
    parser.add_int({"-c", "--ctx-size"}, "N",
                   "context size per slot in tokens, 0 = the model's maximum (default: 0)",
                   &o.ctx_size, 0);
    parser.add_int({"-n", "--n-predict"}, "N",
                   "max_tokens of a request that sets none, -1 = until EOS or the context is "
                   "full (default: -1)",
                   &o.n_predict, -1);
    parser.add_int({"--max-queue"}, "N",
                   "requests waiting for a free slot before new ones get 503 (default: 64)",
                   &o.max_queue, 0);
    parser.add_int({"--max-body"}, "BYTES", "largest request body accepted (default: 1048576)",
                   &o.max_body, 1);
    parser.add_int({"--http-threads"}, "N",
                   "HTTP worker threads, 0 = parallel + max-queue + 4 (default: 0)",
                   &o.http_threads, 0, 4096);
    parser.add_string({"--api-key"}, "KEY",
                      "require \"Authorization: Bearer KEY\" on every endpoint but /health",
                      &o.api_key);
    parser.add_string({"-a", "--alias"}, "NAME",
                      "model id reported by /v1/models and responses (default: the model's "
                      "file or directory name)",
                      &o.alias);
    parser.add_flag({"--fast-batch"},
                    "let decode steps of many slots run as GEMM and reuse any cached prompt "
                    "prefix (faster, but a request's text then depends on what else is in the "
                    "batch and on the slot's history, by rounding); default: reproducible "
                    "(one-token kernels for decode steps, prompts read in -b chunks aligned to "
                    "multiples of -b, the prompt cache reused in whole chunks)",
                    &o.fast_batch);
    bool no_warmup = false;
    parser.add_flag({"--no-warmup"},
                    "skip the forward run before listening (default: run one, so the first "
                    "request does not pay for reading the weights and touching the buffers)",
                    &no_warmup);
    parser.add_int({"--step-delay-ms"}, "N",
                   "pause N ms after every decode step, as a slow model would (for tests; "
                   "default: 0)",
                   &o.step_delay_ms, 0, 60000);
    if (!parser.parse(argc, argv)) {
        std::cout << parser.help();
        return false;
    }
    o.warmup = !no_warmup;
    return true;
}

}  // namespace llama::server
