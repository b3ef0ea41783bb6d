// The C API (llama_engine.h) over the C++ one. Every entry point runs its body through guard(),
// which turns each exception into a status and this thread's last-error message, so nothing
// thrown ever reaches a C caller; handles are the C++ objects behind opaque structs.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "llama/batch.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/generator.h"
#include "llama/model.h"
#include "llama/sampler.h"
#include "llama/tokenizer.h"
#include "llama_engine.h"

struct le_model {
    llama::LlamaModel model;
    llama::Tokenizer tokenizer;
    std::string name;
    std::string description;
};

struct le_context {
    const le_model* model;
    llama::InferenceContext context;
};

struct le_batch {
    llama::Batch batch;
};

struct le_sampler {
    llama::Sampler sampler;
};

namespace {

thread_local std::string last_error;

// The log is process-wide (spdlog's default logger); a C program's stdout is its own, so the
// first le_model_load moves the log to stderr unless le_set_log_level did already.
std::once_flag logging_configured;

void log_to_stderr(const std::string& level) {
    const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
    // from_str gives "off" for anything it does not know.
    if (parsed == spdlog::level::off && level != "off") {
        throw llama::Error("unknown log level \"" + level +
                           "\": expected trace, debug, info, warn, error, critical or off");
    }
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "llama", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
    spdlog::set_level(parsed);
}

void configure_default_logging() {
    std::call_once(logging_configured, [] {
        const char* env = std::getenv("LLAMA_LOG_LEVEL");
        try {
            log_to_stderr(env && *env ? env : "warn");
        } catch (const llama::Error&) {
            log_to_stderr("warn");
        }
    });
}

// The value a C caller stored in an enum field or argument. A C enum holds any int, while in C++
// loading a value outside the enumerators' range is undefined (UBSan: "not a valid value for
// type"), so enums that come from a caller are read as the int they are before being checked.
template <class Enum>
int c_enum_value(const Enum& value) {
    static_assert(sizeof(Enum) == sizeof(int), "a C enum is an int");
    int raw;
    std::memcpy(&raw, &value, sizeof raw);
    return raw;
}

// A failure with the status it maps to.
struct Failure {
    le_status status;
    std::string message;
};

// Records "function: message" as this thread's last error. Building the message may itself run
// out of memory; the error is then left empty rather than let anything escape.
le_status fail(le_status status, const char* function, std::string_view message) noexcept {
    try {
        last_error.assign(function).append(": ").append(message);
    } catch (...) {
        last_error.clear();
    }
    return status;
}

// Runs body (returning le_status) and maps whatever it throws; errors of the library are
// invalid arguments unless `library_error` says otherwise (loading maps them to LE_ERR_LOAD).
template <class Body>
le_status guard(const char* function, Body&& body,
                le_status library_error = LE_ERR_INVALID_ARGUMENT) noexcept {
    try {
        return body();
    } catch (const Failure& f) {
        return fail(f.status, function, f.message);
    } catch (const llama::ContextFullError& e) {
        return fail(LE_ERR_CONTEXT_FULL, function, e.what());
    } catch (const llama::Error& e) {
        return fail(library_error, function, e.what());
    } catch (const std::bad_alloc&) {
        return fail(LE_ERR_OUT_OF_MEMORY, function, "out of memory");
    } catch (const std::exception& e) {
        return fail(LE_ERR_INTERNAL, function, e.what());
    } catch (...) {
        return fail(LE_ERR_INTERNAL, function, "unknown error");
    }
}

// Throws LE_ERR_INVALID_ARGUMENT naming `what` when p is NULL.
template <class T>
T& need(T* p, const char* what) {
    if (p == nullptr) throw Failure{LE_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL"};
    return *p;
}

// Copies text into a caller's buffer with its NUL, as snprintf does.
le_status copy_text(const std::string& text, char* out, size_t capacity, size_t* length) {
    need(length, "length");
    *length = text.size();
    if (out == nullptr || capacity < text.size() + 1) {
        throw Failure{LE_ERR_BUFFER_TOO_SMALL, "the text needs " + std::to_string(text.size() + 1) +
                                                   " bytes with its NUL, the buffer holds " +
                                                   std::to_string(out ? capacity : 0)};
    }
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return LE_OK;
}

void check_token(const le_model& m, int32_t token) {
    const int64_t vocab = m.tokenizer.vocab_size();
    if (token < 0 || token >= vocab) {
        throw Failure{LE_ERR_INVALID_ARGUMENT, "token id " + std::to_string(token) +
                                                   " is outside the vocabulary (0.." +
                                                   std::to_string(vocab - 1) + ")"};
    }
}

llama::SamplerParams to_cpp(const le_sampler_params& p) {
    return {.temperature = p.temperature,
            .top_k = p.top_k,
            .top_p = p.top_p,
            .min_p = p.min_p,
            .repeat_penalty = p.repeat_penalty,
            .presence_penalty = p.presence_penalty,
            .frequency_penalty = p.frequency_penalty,
            .repeat_last_n = p.repeat_last_n,
            .seed = p.seed};
}

le_sampler_params to_c(const llama::SamplerParams& p) {
    return {.temperature = p.temperature,
            .top_k = p.top_k,
            .top_p = p.top_p,
            .min_p = p.min_p,
            .repeat_penalty = p.repeat_penalty,
            .presence_penalty = p.presence_penalty,
            .frequency_penalty = p.frequency_penalty,
            .repeat_last_n = p.repeat_last_n,
            .seed = p.seed};
}

le_stop_reason to_c(llama::StopReason reason) {
    switch (reason) {
        case llama::StopReason::EndOfSequence:
            return LE_STOP_EOS;
        case llama::StopReason::TokenLimit:
            return LE_STOP_TOKEN_LIMIT;
        case llama::StopReason::ContextFull:
            return LE_STOP_CONTEXT_FULL;
        case llama::StopReason::Callback:
            return LE_STOP_CALLBACK;
    }
    return LE_STOP_TOKEN_LIMIT;
}

}  // namespace

extern "C" {

#define LE_STRING(x) #x
#define LE_VERSION_STRING(major, minor, patch) \
    LE_STRING(major) "." LE_STRING(minor) "." LE_STRING(patch)

const char* le_version(void) {
    return LE_VERSION_STRING(LE_VERSION_MAJOR, LE_VERSION_MINOR, LE_VERSION_PATCH);
}

const char* le_status_name(le_status status) {
    switch (c_enum_value(status)) {
        case LE_OK:
            return "LE_OK";
        case LE_ERR_INVALID_ARGUMENT:
            return "LE_ERR_INVALID_ARGUMENT";
        case LE_ERR_LOAD:
            return "LE_ERR_LOAD";
        case LE_ERR_CONTEXT_FULL:
            return "LE_ERR_CONTEXT_FULL";
        case LE_ERR_BUFFER_TOO_SMALL:
            return "LE_ERR_BUFFER_TOO_SMALL";
        case LE_ERR_CANCELLED:
            return "LE_ERR_CANCELLED";
        case LE_ERR_OUT_OF_MEMORY:
            return "LE_ERR_OUT_OF_MEMORY";
        case LE_ERR_INTERNAL:
            return "LE_ERR_INTERNAL";
    }
    return "unknown status";
}

const char* le_last_error(void) { return last_error.c_str(); }

le_status le_set_log_level(const char* level) {
    return guard("le_set_log_level", [&] {
        need(level, "level");
        const std::string chosen = level;
        log_to_stderr(chosen == "warning" ? "warn" : chosen);
        std::call_once(logging_configured, [] {});  // le_model_load leaves it alone now
        return LE_OK;
    });
}

// ---- Models

le_status le_model_load(const char* path, le_progress_fn progress, void* user_data,
                        le_model** model) {
    bool cancelled = false;
    const le_status status = guard(
        "le_model_load",
        [&] {
            need(model, "model");
            *model = nullptr;
            configure_default_logging();
            need(path, "path");
            const std::filesystem::path where(path);
            llama::LoadProgressCallback on_progress;
            if (progress != nullptr) {
                on_progress = [&](float fraction) {
                    cancelled = !progress(fraction, user_data);
                    return !cancelled;
                };
            }
            llama::LlamaModel loaded = llama::load_model(where, on_progress);
            llama::Tokenizer tokenizer = llama::Tokenizer::load(where);
            const std::string name =
                where.filename().empty() ? where.parent_path().filename() : where.filename();
            *model = new le_model{std::move(loaded), std::move(tokenizer), name, {}};
            (*model)->description = (*model)->model.description;
            return LE_OK;
        },
        LE_ERR_LOAD);
    return cancelled ? LE_ERR_CANCELLED : status;  // le_last_error() says it was cancelled
}

void le_model_free(le_model* model) { delete model; }

le_status le_model_get_info(const le_model* model, le_model_info* info) {
    return guard("le_model_get_info", [&] {
        const le_model& m = need(model, "model");
        const llama::LlamaConfig& c = m.model.config;
        need(info, "info") = {m.name.c_str(),
                              "llama",
                              m.description.c_str(),
                              c.vocab_size,
                              c.max_context,
                              c.hidden_size,
                              c.n_layers,
                              c.n_heads,
                              c.n_kv_heads,
                              c.head_dim,
                              c.ffn_size,
                              m.model.weight_bytes(),
                              m.tokenizer.bos_id(),
                              m.tokenizer.eos_id()};
        return LE_OK;
    });
}

// ---- Tokens

le_status le_tokenize(const le_model* model, const char* text, size_t text_length, bool add_bos,
                      int32_t* tokens, size_t capacity, size_t* n_tokens) {
    return guard("le_tokenize", [&] {
        const le_model& m = need(model, "model");
        need(text, "text");
        need(n_tokens, "n_tokens");
        const std::string_view view = text_length == static_cast<size_t>(-1)
                                          ? std::string_view(text)
                                          : std::string_view(text, text_length);
        const std::vector<int32_t> ids = m.tokenizer.encode(view, add_bos);
        *n_tokens = ids.size();
        if (capacity < ids.size() || (tokens == nullptr && !ids.empty())) {
            throw Failure{LE_ERR_BUFFER_TOO_SMALL, "the text is " + std::to_string(ids.size()) +
                                                       " tokens, the buffer holds " +
                                                       std::to_string(tokens ? capacity : 0)};
        }
        std::copy(ids.begin(), ids.end(), tokens);
        return LE_OK;
    });
}

le_status le_detokenize(const le_model* model, const int32_t* tokens, size_t n_tokens, char* text,
                        size_t capacity, size_t* length) {
    return guard("le_detokenize", [&] {
        const le_model& m = need(model, "model");
        if (n_tokens > 0) need(tokens, "tokens");
        for (size_t i = 0; i < n_tokens; ++i) check_token(m, tokens[i]);
        return copy_text(m.tokenizer.decode(std::span(tokens, n_tokens)), text, capacity, length);
    });
}

le_status le_token_to_piece(const le_model* model, int32_t token, char* text, size_t capacity,
                            size_t* length) {
    return guard("le_token_to_piece", [&] {
        const le_model& m = need(model, "model");
        check_token(m, token);
        return copy_text(m.tokenizer.token_to_piece(token), text, capacity, length);
    });
}

// ---- Contexts

le_context_params le_context_default_params(void) {
    const llama::ContextParams d;
    return {
        d.n_ctx,
        d.n_seqs,
        d.n_batch,
        d.n_threads,
        d.prompt_precision == llama::PromptPrecision::F32 ? LE_PRECISION_F32 : LE_PRECISION_BF16,
        d.cache_type == llama::CacheType::F32 ? LE_CACHE_F32 : LE_CACHE_F16};
}

le_status le_context_create(const le_model* model, const le_context_params* params,
                            le_context** context) {
    return guard("le_context_create", [&] {
        need(context, "context");
        *context = nullptr;
        const le_model& m = need(model, "model");
        const le_context_params p = params ? *params : le_context_default_params();
        if (p.n_ctx < 0) throw llama::Error("n_ctx must not be negative");
        if (p.n_threads <= 0) throw llama::Error("n_threads must be positive");
        const int precision = c_enum_value(p.precision);
        const int cache_type = c_enum_value(p.cache_type);
        if (precision != LE_PRECISION_F32 && precision != LE_PRECISION_BF16) {
            throw llama::Error("unknown precision " + std::to_string(precision));
        }
        if (cache_type != LE_CACHE_F32 && cache_type != LE_CACHE_F16) {
            throw llama::Error("unknown cache type " + std::to_string(cache_type));
        }
        llama::ContextParams cp;
        cp.n_ctx = p.n_ctx;
        cp.n_seqs = p.n_seqs;
        cp.n_batch = p.n_batch;
        cp.n_threads = p.n_threads;
        cp.prompt_precision = precision == LE_PRECISION_F32 ? llama::PromptPrecision::F32
                                                            : llama::PromptPrecision::BF16;
        cp.cache_type = cache_type == LE_CACHE_F32 ? llama::CacheType::F32 : llama::CacheType::F16;
        *context = new le_context{&m, llama::InferenceContext(m.model, cp)};
        return LE_OK;
    });
}

void le_context_free(le_context* context) { delete context; }

le_status le_context_size(const le_context* context, int64_t* n_ctx, int64_t* n_seqs) {
    return guard("le_context_size", [&] {
        const le_context& c = need(context, "context");
        if (n_ctx) *n_ctx = c.context.n_ctx();
        if (n_seqs) *n_seqs = c.context.n_seqs();
        return LE_OK;
    });
}

le_status le_context_reset(le_context* context) {
    return guard("le_context_reset", [&] {
        need(context, "context").context.reset();
        return LE_OK;
    });
}

// ---- Batches and decoding

le_status le_batch_create(le_batch** batch) {
    return guard("le_batch_create", [&] {
        // Checked before allocating: in `need(batch) = new ...` the new runs first (C++17 sequences
        // an assignment's right side before its left), and a NULL `batch` leaked the object.
        need(batch, "batch") = nullptr;
        *batch = new le_batch{};
        return LE_OK;
    });
}

void le_batch_free(le_batch* batch) { delete batch; }

le_status le_batch_add(le_batch* batch, int32_t token, int32_t seq, int64_t pos, bool logits) {
    return guard("le_batch_add", [&] {
        need(batch, "batch").batch.add(token, seq, pos, logits);
        return LE_OK;
    });
}

le_status le_batch_clear(le_batch* batch) {
    return guard("le_batch_clear", [&] {
        need(batch, "batch").batch.clear();
        return LE_OK;
    });
}

size_t le_batch_size(const le_batch* batch) { return batch ? batch->batch.size() : 0; }

le_status le_decode(le_context* context, const le_batch* batch) {
    return guard("le_decode", [&] {
        need(context, "context").context.decode(need(batch, "batch").batch);
        return LE_OK;
    });
}

le_status le_get_logits(const le_context* context, size_t i, const float** logits,
                        int64_t* n_vocab) {
    return guard("le_get_logits", [&] {
        const le_context& c = need(context, "context");
        need(logits, "logits");
        const std::span<const float> row = c.context.logits(i);
        *logits = row.data();
        if (n_vocab) *n_vocab = static_cast<int64_t>(row.size());
        return LE_OK;
    });
}

// ---- Sequences

le_status le_seq_length(const le_context* context, int32_t seq, int64_t* length) {
    return guard("le_seq_length", [&] {
        const le_context& c = need(context, "context");
        need(length, "length") = c.context.seq_length(seq);
        return LE_OK;
    });
}

le_status le_seq_clear(le_context* context, int32_t seq) {
    return guard("le_seq_clear", [&] {
        need(context, "context").context.seq_clear(seq);
        return LE_OK;
    });
}

le_status le_seq_truncate(le_context* context, int32_t seq, int64_t n_tokens) {
    return guard("le_seq_truncate", [&] {
        need(context, "context").context.seq_truncate(seq, n_tokens);
        return LE_OK;
    });
}

le_status le_seq_copy(le_context* context, int32_t src, int32_t dst) {
    return guard("le_seq_copy", [&] {
        need(context, "context").context.seq_copy(src, dst);
        return LE_OK;
    });
}

// ---- Sampling

le_sampler_params le_sampler_default_params(void) { return to_c(llama::SamplerParams{}); }

le_status le_sampler_create(const le_sampler_params* params, le_sampler** sampler) {
    return guard("le_sampler_create", [&] {
        need(sampler, "sampler") = nullptr;
        *sampler =
            new le_sampler{llama::Sampler(params ? to_cpp(*params) : llama::SamplerParams{})};
        return LE_OK;
    });
}

void le_sampler_free(le_sampler* sampler) { delete sampler; }

le_status le_sampler_sample(le_sampler* sampler, const float* logits, int64_t n_vocab,
                            int32_t* token) {
    return guard("le_sampler_sample", [&] {
        le_sampler& s = need(sampler, "sampler");
        need(logits, "logits");
        need(token, "token");
        if (n_vocab <= 0) throw llama::Error("n_vocab must be positive");
        *token = s.sampler.sample(std::span(logits, static_cast<size_t>(n_vocab)));
        return LE_OK;
    });
}

le_status le_sampler_accept(le_sampler* sampler, int32_t token) {
    return guard("le_sampler_accept", [&] {
        need(sampler, "sampler").sampler.accept(token);
        return LE_OK;
    });
}

le_status le_sampler_reset(le_sampler* sampler) {
    return guard("le_sampler_reset", [&] {
        need(sampler, "sampler").sampler.reset();
        return LE_OK;
    });
}

// ---- Generation

le_generate_params le_generate_default_params(void) {
    const llama::GenerationParams d;
    return {static_cast<int32_t>(d.n_predict), to_c(d.sampler), d.add_bos, d.ignore_eos};
}

le_status le_generate(le_context* context, const char* prompt, const le_generate_params* params,
                      le_piece_fn on_piece, void* user_data, le_generate_result* result) {
    return guard("le_generate", [&] {
        le_context& c = need(context, "context");
        need(prompt, "prompt");
        const le_generate_params p = params ? *params : le_generate_default_params();
        llama::GenerationParams gp;
        gp.n_predict = p.n_predict;
        gp.sampler = to_cpp(p.sampler);
        gp.add_bos = p.add_bos;
        gp.ignore_eos = p.ignore_eos;
        llama::TextCallback on_text;
        if (on_piece != nullptr) {
            on_text = [&](std::string_view piece) {
                return on_piece(piece.data(), piece.size(), user_data);
            };
        }
        const llama::GenerationStats stats =
            llama::generate(c.context, c.model->tokenizer, prompt, gp, on_text);
        if (result) {
            *result = {stats.prompt_tokens, stats.generated_tokens, to_c(stats.stop_reason),
                       stats.prompt_seconds, stats.generation_seconds};
        }
        return LE_OK;
    });
}

}  // extern "C"
