/* llama_engine.h: the C API of libengine, for C programs and for bindings from other languages.
 *
 * Conventions:
 * - Every name starts with le_ (llama-engine). Handles are opaque pointers; whatever le_*_create
 *   or le_model_load gives you, you free with the matching le_*_free (which accepts NULL).
 * - Functions that can fail return an le_status; LE_OK is 0. On failure le_last_error() gives a
 *   message naming the problem, kept per thread until that thread's next failing call. No C++
 *   exception ever crosses this API, and a NULL handle or out pointer is an error, never a crash.
 * - Strings are UTF-8. Buffers are filled as snprintf does: the needed size is always reported,
 *   and a buffer that is too small gives LE_ERR_BUFFER_TOO_SMALL (pass NULL and 0 to ask).
 * - A context is used by one thread at a time; different contexts may run on different threads
 *   over the same model.
 */
#ifndef LLAMA_ENGINE_H
#define LLAMA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Marks the API's functions as exported from a shared build of the library (which may hide
 * everything else). */
#if defined(_WIN32)
#define LE_API
#else
#define LE_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version and errors ------------------------------------------------------------------- */

#define LE_VERSION_MAJOR 0
#define LE_VERSION_MINOR 1
#define LE_VERSION_PATCH 0

/* The library's version, "MAJOR.MINOR.PATCH", as it was built (may differ from the header's). */
LE_API const char* le_version(void);

typedef enum le_status {
    LE_OK = 0,
    LE_ERR_INVALID_ARGUMENT = 1, /* NULL handle, bad token or sequence id, bad position, ... */
    LE_ERR_LOAD = 2,             /* missing, corrupt or unsupported model file */
    LE_ERR_CONTEXT_FULL = 3,     /* a sequence would exceed the context size */
    LE_ERR_BUFFER_TOO_SMALL = 4, /* the needed size was reported; nothing else changed */
    LE_ERR_CANCELLED = 5,        /* a callback asked to stop (model loading) */
    LE_ERR_OUT_OF_MEMORY = 6,
    LE_ERR_INTERNAL = 7
} le_status;

/* A short name for a status, e.g. "LE_ERR_CONTEXT_FULL". */
LE_API const char* le_status_name(le_status status);
/* The message of this thread's last failed call ("" if none failed yet). Valid until the next
 * failing call on this thread. */
LE_API const char* le_last_error(void);

/* Where the library's log goes: stderr, at this level and above: "trace", "debug", "info",
 * "warn", "error", "critical" or "off". Until this is called, le_model_load sets it up with
 * LLAMA_LOG_LEVEL from the environment, else "warn"; stdout is never used. */
LE_API le_status le_set_log_level(const char* level);

/* ---- Models -------------------------------------------------------------------------------- */

typedef struct le_model le_model;

/* Called while a model loads with the fraction done, in [0, 1], never decreasing; return false
 * to cancel the load (le_model_load then returns LE_ERR_CANCELLED). */
typedef bool (*le_progress_fn)(float fraction, void* user_data);

/* Loads a GGUF file or a Hugging Face model directory (config.json, *.safetensors,
 * tokenizer.model), with its tokenizer. progress may be NULL. */
LE_API le_status le_model_load(const char* path, le_progress_fn progress, void* user_data,
                               le_model** model);
LE_API void le_model_free(le_model* model);

typedef struct le_model_info {
    const char* name;        /* the file or directory name the model was loaded from */
    const char* arch;        /* "llama" */
    const char* description; /* format, weight types and shape, one line */
    int64_t vocab_size;      /* logits per token */
    int64_t context_length;  /* the trained context */
    int64_t hidden_size;
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;
    int64_t ffn_size;
    int64_t weight_bytes;
    int32_t bos_token; /* -1 if the tokenizer has none */
    int32_t eos_token; /* -1 if the tokenizer has none */
} le_model_info;

/* Fills *info; its strings belong to the model and live as long as it. */
LE_API le_status le_model_get_info(const le_model* model, le_model_info* info);

/* ---- Tokens -------------------------------------------------------------------------------- */

/* The token ids of text (text_length bytes; a NUL-terminated string when text_length is
 * (size_t)-1), BOS first when add_bos. Writes up to capacity ids to tokens and the count to
 * *n_tokens. */
LE_API le_status le_tokenize(const le_model* model, const char* text, size_t text_length,
                             bool add_bos, int32_t* tokens, size_t capacity, size_t* n_tokens);
/* The text of a token sequence, decoded as a whole, NUL-terminated; *length excludes the NUL
 * (capacity must hold it too). */
LE_API le_status le_detokenize(const le_model* model, const int32_t* tokens, size_t n_tokens,
                               char* text, size_t capacity, size_t* length);
/* The text one token stands for on its own (a byte-fallback token gives its raw byte, a
 * control token ""), NUL-terminated, as le_detokenize. */
LE_API le_status le_token_to_piece(const le_model* model, int32_t token, char* text,
                                   size_t capacity, size_t* length);

/* ---- Contexts ------------------------------------------------------------------------------ */

typedef struct le_context le_context;

typedef enum le_precision {
    LE_PRECISION_F32 = 0, /* prompt projections in fp32: exact */
    LE_PRECISION_BF16 = 1 /* in bfloat16 where the CPU has it (the default; faster) */
} le_precision;

typedef enum le_cache_type {
    LE_CACHE_F32 = 0,
    LE_CACHE_F16 = 1 /* the default: half the memory */
} le_cache_type;

typedef struct le_context_params {
    int64_t n_ctx;     /* tokens per sequence; 0 = the model's context */
    int64_t n_seqs;    /* independent sequences */
    int64_t n_batch;   /* most tokens in one forward chunk */
    int32_t n_threads; /* worker threads */
    le_precision precision;
    le_cache_type cache_type;
} le_context_params;

LE_API le_context_params le_context_default_params(void);
/* A context over `model`, which must outlive it. params may be NULL (the defaults). */
LE_API le_status le_context_create(const le_model* model, const le_context_params* params,
                                   le_context** context);
LE_API void le_context_free(le_context* context);
/* The context's resolved size: tokens per sequence and sequences (either pointer may be NULL). */
LE_API le_status le_context_size(const le_context* context, int64_t* n_ctx, int64_t* n_seqs);
/* Empties every sequence. */
LE_API le_status le_context_reset(le_context* context);

/* ---- Batches and decoding ------------------------------------------------------------------ */

typedef struct le_batch le_batch;

/* An empty batch (a growable list of tokens, each with its sequence and position). */
LE_API le_status le_batch_create(le_batch** batch);
LE_API void le_batch_free(le_batch* batch);
/* Appends one token of sequence seq at position pos (the sequence's next position: what it holds
 * so far, plus the tokens of seq already in this batch); logits: compute its logits. */
LE_API le_status le_batch_add(le_batch* batch, int32_t token, int32_t seq, int64_t pos,
                              bool logits);
LE_API le_status le_batch_clear(le_batch* batch);
/* Entries in the batch (0 for NULL). */
LE_API size_t le_batch_size(const le_batch* batch);

/* Runs every token of the batch through the model in one forward (see InferenceContext::decode).
 * A bad token or sequence id or position gives LE_ERR_INVALID_ARGUMENT, a sequence that would
 * outgrow the context LE_ERR_CONTEXT_FULL; either way nothing was run and the cache is as it was.
 */
LE_API le_status le_decode(le_context* context, const le_batch* batch);
/* The logits (n_vocab floats) after entry i of the last decoded batch, which must have asked for
 * them. The pointer stays valid until the next le_decode, le_generate or le_context_reset. */
LE_API le_status le_get_logits(const le_context* context, size_t i, const float** logits,
                               int64_t* n_vocab);

/* ---- Sequences ----------------------------------------------------------------------------- */

/* Positions sequence seq holds. */
LE_API le_status le_seq_length(const le_context* context, int32_t seq, int64_t* length);
/* Empties one sequence. */
LE_API le_status le_seq_clear(le_context* context, int32_t seq);
/* Keeps the first n_tokens positions of seq (n_tokens <= its length): reuse a cached prompt. */
LE_API le_status le_seq_truncate(le_context* context, int32_t seq, int64_t n_tokens);
/* Makes dst hold what src holds: a shared prompt prefix decoded once. */
LE_API le_status le_seq_copy(le_context* context, int32_t src, int32_t dst);

/* ---- Sampling ------------------------------------------------------------------------------ */

typedef struct le_sampler_params {
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* <= 0: every token */
    float top_p;             /* >= 1: every token */
    float min_p;             /* keep tokens with p >= min_p * p(most likely); 0: off */
    float repeat_penalty;    /* 1: off */
    float presence_penalty;  /* subtracted once from every recent token's logit; 0: off */
    float frequency_penalty; /* subtracted per occurrence in the recent tokens; 0: off */
    int32_t repeat_last_n;   /* tokens the penalties look back at; 0: off */
    uint64_t seed;
} le_sampler_params;

typedef struct le_sampler le_sampler;

/* llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, penalties off
 * (repeat 1, presence 0, frequency 0; they look back 64 tokens when set). */
LE_API le_sampler_params le_sampler_default_params(void);
/* params may be NULL (the defaults). */
LE_API le_status le_sampler_create(const le_sampler_params* params, le_sampler** sampler);
LE_API void le_sampler_free(le_sampler* sampler);
/* Picks a token from n_vocab logits (not recorded: call le_sampler_accept with the one kept). */
LE_API le_status le_sampler_sample(le_sampler* sampler, const float* logits, int64_t n_vocab,
                                   int32_t* token);
/* Records a token (prompt or generated) for the repetition penalty. */
LE_API le_status le_sampler_accept(le_sampler* sampler, int32_t token);
/* Forgets the history and restarts the random sequence from the seed. */
LE_API le_status le_sampler_reset(le_sampler* sampler);

/* ---- Generation ---------------------------------------------------------------------------- */

/* Receives each piece of generated text (length bytes, not NUL-terminated); return false to stop
 * generating. */
typedef bool (*le_piece_fn)(const char* piece, size_t length, void* user_data);

typedef struct le_generate_params {
    int32_t n_predict; /* most tokens to generate; < 0: until EOS or the context is full */
    le_sampler_params sampler;
    bool add_bos;
    bool ignore_eos;
} le_generate_params;

typedef enum le_stop_reason {
    LE_STOP_EOS = 0,
    LE_STOP_TOKEN_LIMIT = 1,
    LE_STOP_CONTEXT_FULL = 2,
    LE_STOP_CALLBACK = 3
} le_stop_reason;

typedef struct le_generate_result {
    int64_t prompt_tokens;    /* including BOS */
    int64_t generated_tokens; /* EOS not counted */
    le_stop_reason stop_reason;
    double prompt_seconds;
    double generation_seconds;
} le_generate_result;

/* n_predict 128, the default sampler, BOS added, stops at EOS. */
LE_API le_generate_params le_generate_default_params(void);
/* Empties the context (which must hold one sequence), runs the prompt and streams up to
 * n_predict generated pieces to on_piece (which may be NULL). params and result may be NULL. */
LE_API le_status le_generate(le_context* context, const char* prompt,
                             const le_generate_params* params, le_piece_fn on_piece,
                             void* user_data, le_generate_result* result);

#ifdef __cplusplus
}
#endif

#endif /* LLAMA_ENGINE_H */
