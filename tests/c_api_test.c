/* The C API (llama_engine.h) exercised from C, compiled as C: the normal paths on the shipped
 * model (argv[1]) and every error path (NULL handles and out pointers, bad paths, bad token and
 * sequence ids, positions that do not follow, a full context, small buffers, cancelled loads).
 * Prints each failed check and exits non-zero if any failed. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_engine.h"

static int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

/* A call that must fail with `expected` and leave a message naming the problem. */
#define CHECK_STATUS(call, expected)                                                            \
    do {                                                                                        \
        le_status s_ = (call);                                                                  \
        if (s_ != (expected)) {                                                                 \
            fprintf(stderr, "%s:%d: %s gave %s, expected %s (%s)\n", __FILE__, __LINE__, #call, \
                    le_status_name(s_), le_status_name(expected), le_last_error());             \
            ++failures;                                                                         \
        } else if ((expected) != LE_OK && le_last_error()[0] == '\0') {                         \
            fprintf(stderr, "%s:%d: %s failed without a message\n", __FILE__, __LINE__, #call); \
            ++failures;                                                                         \
        }                                                                                       \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, LE_OK)

static const char* model_path;

/* ---- Version, loading, metadata ---------------------------------------------------------- */

static void test_version(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", LE_VERSION_MAJOR, LE_VERSION_MINOR,
             LE_VERSION_PATCH);
    CHECK(strcmp(le_version(), expected) == 0);
    CHECK(strcmp(le_status_name(LE_ERR_CONTEXT_FULL), "LE_ERR_CONTEXT_FULL") == 0);
    /* Any int a C enum can hold (UBSan in C++ once flagged reading one outside the range). */
    CHECK(strcmp(le_status_name((le_status)99), "unknown status") == 0);
    CHECK(strcmp(le_status_name((le_status)-1), "unknown status") == 0);
}

static void test_log_level(void) {
    CHECK_STATUS(le_set_log_level("loud"), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "loud") != NULL);
    CHECK_STATUS(le_set_log_level(NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK_OK(le_set_log_level("warning"));
    CHECK_OK(le_set_log_level("error"));
}

typedef struct {
    int calls;
    float last;
    int decreased;
    int cancel_after; /* return false on this call (1-based); 0: never */
} progress_log;

static bool on_progress(float fraction, void* user_data) {
    progress_log* log = (progress_log*)user_data;
    if (fraction < log->last) log->decreased = 1;
    log->last = fraction;
    ++log->calls;
    return log->cancel_after == 0 || log->calls < log->cancel_after;
}

static void test_load_errors(void) {
    le_model* model = (le_model*)&model; /* must be reset to NULL on failure */
    CHECK_STATUS(le_model_load(NULL, NULL, NULL, &model), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_model_load(model_path, NULL, NULL, NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_model_load("/nonexistent/model.gguf", NULL, NULL, &model), LE_ERR_LOAD);
    CHECK(model == NULL);
    CHECK(strstr(le_last_error(), "/nonexistent/model.gguf") != NULL);

    /* A file that is not a model. */
    char not_a_model[4096];
    snprintf(not_a_model, sizeof not_a_model, "%s/config.json", model_path);
    CHECK_STATUS(le_model_load(not_a_model, NULL, NULL, &model), LE_ERR_LOAD);
    CHECK(model == NULL);

    /* A cancelled load. */
    progress_log log = {0, 0.0f, 0, 2};
    CHECK_STATUS(le_model_load(model_path, on_progress, &log, &model), LE_ERR_CANCELLED);
    CHECK(model == NULL);
    CHECK(log.calls == 2);
    CHECK(strstr(le_last_error(), "cancel") != NULL);

    /* The last error stays until the next failing call. */
    le_sampler* sampler = NULL;
    CHECK_OK(le_sampler_create(NULL, &sampler));
    le_sampler_free(sampler);
    CHECK(strstr(le_last_error(), "cancel") != NULL);

    le_model_free(NULL); /* accepted */
}

static le_model* load_with_progress(void) {
    progress_log log = {0, 0.0f, 0, 0};
    le_model* model = NULL;
    CHECK_OK(le_model_load(model_path, on_progress, &log, &model));
    CHECK(model != NULL);
    CHECK(log.calls >= 2);
    CHECK(!log.decreased);
    CHECK(log.last == 1.0f);
    return model;
}

static void test_info(const le_model* model) {
    le_model_info info;
    CHECK_OK(le_model_get_info(model, &info));
    /* model/kjv-tiny/config.json */
    CHECK(strcmp(info.arch, "llama") == 0);
    CHECK(strcmp(info.name, "kjv-tiny") == 0);
    CHECK(strstr(info.description, "hidden 256") != NULL);
    CHECK(info.vocab_size == 2000);
    CHECK(info.context_length == 512);
    CHECK(info.hidden_size == 256);
    CHECK(info.n_layers == 4);
    CHECK(info.n_heads == 8);
    CHECK(info.n_kv_heads == 2);
    CHECK(info.head_dim == 32);
    CHECK(info.ffn_size == 688);
    CHECK(info.weight_bytes > 0);
    CHECK(info.bos_token == 1);
    CHECK(info.eos_token == 2);
    CHECK_STATUS(le_model_get_info(NULL, &info), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_model_get_info(model, NULL), LE_ERR_INVALID_ARGUMENT);
}

/* ---- Tokens ------------------------------------------------------------------------------ */

static void test_tokens(const le_model* model) {
    const char* text = "And God said, Let there be light";
    size_t n = 0;
    CHECK_STATUS(le_tokenize(model, text, (size_t)-1, true, NULL, 0, &n), LE_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 2);
    int32_t tokens[64];
    size_t n2 = 0;
    CHECK_STATUS(le_tokenize(model, text, (size_t)-1, true, tokens, n - 1, &n2),
                 LE_ERR_BUFFER_TOO_SMALL);
    CHECK(n2 == n);
    CHECK_OK(le_tokenize(model, text, (size_t)-1, true, tokens, 64, &n2));
    CHECK(n2 == n);
    CHECK(tokens[0] == 1); /* BOS */

    /* An explicit length: "And God" only, without BOS. */
    size_t n_prefix = 0;
    int32_t prefix[16];
    CHECK_OK(le_tokenize(model, text, 7, false, prefix, 16, &n_prefix));
    CHECK(n_prefix >= 1 && n_prefix < n - 1);
    CHECK(memcmp(prefix, tokens + 1, n_prefix * sizeof(int32_t)) == 0);

    /* Decoding gives the text back; so do the pieces, but for the leading space. */
    char out[256];
    size_t length = 0;
    CHECK_OK(le_detokenize(model, tokens, n, out, sizeof out, &length));
    CHECK(strcmp(out, text) == 0);
    CHECK(length == strlen(text));
    CHECK_STATUS(le_detokenize(model, tokens, n, out, length, &length), LE_ERR_BUFFER_TOO_SMALL);
    CHECK(length == strlen(text)); /* the NUL needs one more byte */
    char joined[256] = "";
    for (size_t i = 1; i < n; ++i) {
        char piece[64];
        size_t piece_length = 0;
        CHECK_OK(le_token_to_piece(model, tokens[i], piece, sizeof piece, &piece_length));
        CHECK(piece_length == strlen(piece));
        strcat(joined, piece);
    }
    CHECK(joined[0] == ' ' && strcmp(joined + 1, text) == 0);
    char piece[16];
    CHECK_OK(le_token_to_piece(model, 1, piece, sizeof piece, &length)); /* BOS: no text */
    CHECK(length == 0 && piece[0] == '\0');

    /* Bad input. */
    const int32_t bad[2] = {tokens[1], 2000};
    CHECK_STATUS(le_detokenize(model, bad, 2, out, sizeof out, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "2000") != NULL);
    CHECK_STATUS(le_token_to_piece(model, -1, piece, sizeof piece, &length),
                 LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_token_to_piece(model, 2000, piece, sizeof piece, &length),
                 LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_tokenize(NULL, text, (size_t)-1, true, tokens, 64, &n),
                 LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_tokenize(model, NULL, 0, true, tokens, 64, &n), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_tokenize(model, text, (size_t)-1, true, tokens, 64, NULL),
                 LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_detokenize(NULL, tokens, n, out, sizeof out, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_detokenize(model, NULL, 3, out, sizeof out, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_token_to_piece(NULL, 5, piece, sizeof piece, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_token_to_piece(model, 5, piece, sizeof piece, NULL), LE_ERR_INVALID_ARGUMENT);
}

/* ---- Contexts, batches, sequences -------------------------------------------------------- */

static le_context* make_context(const le_model* model, int64_t n_ctx, int64_t n_seqs) {
    le_context_params params = le_context_default_params();
    params.n_ctx = n_ctx;
    params.n_seqs = n_seqs;
    params.n_threads = 1;
    params.precision = LE_PRECISION_F32;
    params.cache_type = LE_CACHE_F32;
    le_context* context = NULL;
    CHECK_OK(le_context_create(model, &params, &context));
    return context;
}

static void test_context_errors(const le_model* model) {
    le_context_params params = le_context_default_params();
    CHECK(params.n_seqs == 1 && params.n_ctx == 0 && params.n_threads >= 1);
    le_context* context = (le_context*)&context;
    CHECK_STATUS(le_context_create(NULL, &params, &context), LE_ERR_INVALID_ARGUMENT);
    CHECK(context == NULL);
    CHECK_STATUS(le_context_create(model, &params, NULL), LE_ERR_INVALID_ARGUMENT);
    params.n_threads = 0;
    CHECK_STATUS(le_context_create(model, &params, &context), LE_ERR_INVALID_ARGUMENT);
    params = le_context_default_params();
    params.n_seqs = 0;
    CHECK_STATUS(le_context_create(model, &params, &context), LE_ERR_INVALID_ARGUMENT);
    params = le_context_default_params();
    params.precision = (le_precision)7;
    CHECK_STATUS(le_context_create(model, &params, &context), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "unknown precision 7") != NULL);
    params = le_context_default_params();
    params.cache_type = (le_cache_type)-1;
    CHECK_STATUS(le_context_create(model, &params, &context), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "unknown cache type -1") != NULL);

    /* NULL params: the defaults, the model's context. */
    CHECK_OK(le_context_create(model, NULL, &context));
    int64_t n_ctx = 0, n_seqs = 0;
    CHECK_OK(le_context_size(context, &n_ctx, &n_seqs));
    CHECK(n_ctx == 512 && n_seqs == 1);
    le_context_free(context);
    le_context_free(NULL);
    CHECK_STATUS(le_context_size(NULL, &n_ctx, &n_seqs), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_context_reset(NULL), LE_ERR_INVALID_ARGUMENT);
}

static size_t tokenize(const le_model* model, const char* text, int32_t* tokens, size_t capacity) {
    size_t n = 0;
    CHECK_OK(le_tokenize(model, text, (size_t)-1, true, tokens, capacity, &n));
    return n;
}

/* The largest relative difference between two rows of n logits. */
static double relative_difference(const float* a, const float* b, int64_t n) {
    double worst = 0.0, scale = 1e-6;
    for (int64_t i = 0; i < n; ++i) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d;
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return worst / scale;
}

static void test_decode(const le_model* model) {
    int32_t first[64], second[64];
    const size_t n1 = tokenize(model, "In the beginning God created the heaven", first, 64);
    const size_t n2 = tokenize(model, "And the earth was without form", second, 64);

    /* Sequence 1 alone: the reference for the ragged batch below. */
    le_context* alone = make_context(model, 0, 1);
    le_batch* batch = NULL;
    CHECK_OK(le_batch_create(&batch));
    for (size_t i = 0; i < n2; ++i) CHECK_OK(le_batch_add(batch, second[i], 0, (int64_t)i, true));
    CHECK(le_batch_size(batch) == n2);
    CHECK_OK(le_decode(alone, batch));
    const float* expected = NULL;
    int64_t n_vocab = 0;
    CHECK_OK(le_get_logits(alone, n2 - 1, &expected, &n_vocab));
    CHECK(n_vocab == 2000);

    /* Two sequences: all of sequence 0's prompt but its last token beside the first 3 of
     * sequence 1, then the rest of both in one batch. */
    le_context* context = make_context(model, 0, 2);
    CHECK_OK(le_batch_clear(batch));
    CHECK(le_batch_size(batch) == 0);
    for (size_t i = 0; i + 1 < n1; ++i)
        CHECK_OK(le_batch_add(batch, first[i], 0, (int64_t)i, false));
    for (size_t i = 0; i < 3; ++i) CHECK_OK(le_batch_add(batch, second[i], 1, (int64_t)i, false));
    CHECK_OK(le_decode(context, batch));
    int64_t length = 0;
    CHECK_OK(le_seq_length(context, 0, &length));
    CHECK(length == (int64_t)n1 - 1);
    CHECK_OK(le_seq_length(context, 1, &length));
    CHECK(length == 3);
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, first[n1 - 1], 0, (int64_t)n1 - 1, true));
    for (size_t i = 3; i < n2; ++i)
        CHECK_OK(le_batch_add(batch, second[i], 1, (int64_t)i, i + 1 == n2));
    CHECK_OK(le_decode(context, batch));
    const float* logits = NULL;
    CHECK_OK(le_get_logits(context, le_batch_size(batch) - 1, &logits, &n_vocab));
    CHECK(relative_difference(logits, expected, n_vocab) < 1e-5);
    CHECK_OK(le_get_logits(context, 0, &logits, NULL));

    /* Logits that were not asked for, or of entries that do not exist. */
    CHECK_STATUS(le_get_logits(context, 1, &logits, &n_vocab), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_get_logits(context, 99, &logits, &n_vocab), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_get_logits(context, 0, NULL, &n_vocab), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_get_logits(NULL, 0, &logits, &n_vocab), LE_ERR_INVALID_ARGUMENT);

    /* Copy sequence 0 over sequence 1: the same next token gives the same logits. */
    CHECK_OK(le_seq_copy(context, 0, 1));
    CHECK_OK(le_seq_length(context, 1, &length));
    CHECK(length == (int64_t)n1);
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, first[1], 0, (int64_t)n1, true));
    CHECK_OK(le_batch_add(batch, first[1], 1, (int64_t)n1, true));
    CHECK_OK(le_decode(context, batch));
    const float* a = NULL;
    const float* b = NULL;
    CHECK_OK(le_get_logits(context, 0, &a, NULL));
    CHECK_OK(le_get_logits(context, 1, &b, NULL));
    CHECK(memcmp(a, b, (size_t)n_vocab * sizeof(float)) == 0);

    /* Truncate and clear. */
    CHECK_OK(le_seq_truncate(context, 1, 2));
    CHECK_OK(le_seq_length(context, 1, &length));
    CHECK(length == 2);
    CHECK_OK(le_seq_clear(context, 1));
    CHECK_OK(le_seq_length(context, 1, &length));
    CHECK(length == 0);
    CHECK_OK(le_context_reset(context));
    CHECK_OK(le_seq_length(context, 0, &length));
    CHECK(length == 0);

    /* Bad batches: nothing runs, the cache stays as it was. */
    CHECK_OK(le_batch_clear(batch));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_INVALID_ARGUMENT); /* empty */
    CHECK_OK(le_batch_add(batch, 2000, 0, 0, true));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "token id 2000") != NULL);
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, -1, 0, 0, true));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_INVALID_ARGUMENT);
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, first[0], 2, 0, true));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "sequence id 2") != NULL);
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, first[0], -1, 0, true));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_INVALID_ARGUMENT);
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, first[0], 0, 0, false));
    CHECK_OK(le_batch_add(batch, first[1], 0, 2, true)); /* skips position 1 */
    CHECK_STATUS(le_decode(context, batch), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "next position is 1") != NULL);
    CHECK_OK(le_seq_length(context, 0, &length));
    CHECK(length == 0);
    CHECK_STATUS(le_decode(NULL, batch), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_decode(context, NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_batch_add(NULL, 1, 0, 0, true), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_batch_clear(NULL), LE_ERR_INVALID_ARGUMENT);
    /* Once leaked the batch it allocated before checking (LeakSanitizer, CI's ASan stage). */
    CHECK_STATUS(le_batch_create(NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK(le_batch_size(NULL) == 0);

    /* Bad sequence operations. */
    CHECK_STATUS(le_seq_length(context, 2, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_length(context, -1, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_length(context, 0, NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_length(NULL, 0, &length), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_clear(context, 5), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_clear(NULL, 0), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_truncate(context, 0, 1), LE_ERR_INVALID_ARGUMENT); /* holds 0 */
    CHECK_STATUS(le_seq_truncate(context, 3, 0), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_truncate(NULL, 0, 0), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_copy(context, 0, 2), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_copy(context, -1, 0), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_seq_copy(NULL, 0, 1), LE_ERR_INVALID_ARGUMENT);

    le_batch_free(batch);
    le_batch_free(NULL);
    le_context_free(context);
    le_context_free(alone);
}

static void test_full_context(const le_model* model) {
    le_context* context = make_context(model, 8, 1);
    le_batch* batch = NULL;
    CHECK_OK(le_batch_create(&batch));
    for (int64_t i = 0; i < 9; ++i) CHECK_OK(le_batch_add(batch, 5, 0, i, i == 8));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_CONTEXT_FULL);
    CHECK(strstr(le_last_error(), "context is full") != NULL);
    CHECK_OK(le_batch_clear(batch));
    for (int64_t i = 0; i < 8; ++i) CHECK_OK(le_batch_add(batch, 5, 0, i, i == 7));
    CHECK_OK(le_decode(context, batch));
    CHECK_OK(le_batch_clear(batch));
    CHECK_OK(le_batch_add(batch, 5, 0, 8, true));
    CHECK_STATUS(le_decode(context, batch), LE_ERR_CONTEXT_FULL);

    /* A prompt that leaves no room to generate. */
    CHECK_STATUS(le_generate(context, "And God said, Let there be light: and there was light", NULL,
                             NULL, NULL, NULL),
                 LE_ERR_CONTEXT_FULL);
    le_batch_free(batch);
    le_context_free(context);
}

/* ---- Sampling and generation ------------------------------------------------------------- */

static void test_sampler(void) {
    const le_sampler_params defaults = le_sampler_default_params();
    CHECK(fabsf(defaults.temperature - 0.8f) < 1e-6f && defaults.top_k == 40);
    CHECK(fabsf(defaults.top_p - 0.95f) < 1e-6f && fabsf(defaults.min_p - 0.05f) < 1e-6f);
    CHECK(defaults.repeat_penalty == 1.0f && defaults.presence_penalty == 0.0f &&
          defaults.frequency_penalty == 0.0f && defaults.repeat_last_n == 64);

    const float logits[5] = {0.5f, 2.0f, -1.0f, 1.5f, 0.0f};
    le_sampler_params greedy = defaults;
    greedy.temperature = 0.0f;
    le_sampler* sampler = NULL;
    CHECK_OK(le_sampler_create(&greedy, &sampler));
    int32_t token = -1;
    CHECK_OK(le_sampler_sample(sampler, logits, 5, &token));
    CHECK(token == 1);
    /* With token 1 recently seen, a repeat penalty of 2 (2.0 / 2 = 1.0 < 1.5) moves the choice
     * to token 3; so does a presence penalty of 1 (2.0 - 1 = 1.0). */
    le_sampler_free(sampler);
    greedy.repeat_penalty = 2.0f;
    CHECK_OK(le_sampler_create(&greedy, &sampler));
    CHECK_OK(le_sampler_accept(sampler, 1));
    CHECK_OK(le_sampler_sample(sampler, logits, 5, &token));
    CHECK(token == 3);
    CHECK_OK(le_sampler_reset(sampler));
    CHECK_OK(le_sampler_sample(sampler, logits, 5, &token));
    CHECK(token == 1);
    le_sampler_free(sampler);
    greedy.repeat_penalty = 1.0f;
    greedy.presence_penalty = 1.0f;
    CHECK_OK(le_sampler_create(&greedy, &sampler));
    CHECK_OK(le_sampler_accept(sampler, 1));
    CHECK_OK(le_sampler_sample(sampler, logits, 5, &token));
    CHECK(token == 3);
    le_sampler_free(sampler);

    /* The same seed draws the same tokens. */
    le_sampler* s1 = NULL;
    le_sampler* s2 = NULL;
    le_sampler_params random = defaults;
    random.temperature = 1.5f;
    random.seed = 42;
    CHECK_OK(le_sampler_create(&random, &s1));
    CHECK_OK(le_sampler_create(&random, &s2));
    for (int i = 0; i < 20; ++i) {
        int32_t t1 = -1, t2 = -2;
        CHECK_OK(le_sampler_sample(s1, logits, 5, &t1));
        CHECK_OK(le_sampler_sample(s2, logits, 5, &t2));
        CHECK(t1 == t2 && t1 >= 0 && t1 < 5);
    }
    le_sampler_free(s1);
    le_sampler_free(s2);

    CHECK_OK(le_sampler_create(NULL, &sampler)); /* the defaults */
    CHECK_STATUS(le_sampler_sample(sampler, logits, 0, &token), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_sampler_sample(sampler, NULL, 5, &token), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_sampler_sample(sampler, logits, 5, NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_sampler_sample(NULL, logits, 5, &token), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_sampler_accept(NULL, 1), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_sampler_reset(NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_sampler_create(NULL, NULL), LE_ERR_INVALID_ARGUMENT);
    le_sampler_free(sampler);
    le_sampler_free(NULL);
}

typedef struct {
    char text[4096];
    int pieces;
    int stop_after; /* 0: never */
} collected;

static bool collect(const char* piece, size_t length, void* user_data) {
    collected* c = (collected*)user_data;
    strncat(c->text, piece, length);
    ++c->pieces;
    return c->stop_after == 0 || c->pieces < c->stop_after;
}

static void test_generate(const le_model* model) {
    const char* prompt = "And God said";
    le_generate_params params = le_generate_default_params();
    CHECK(params.n_predict == 128 && params.add_bos && !params.ignore_eos);
    params.n_predict = 20;
    params.sampler.temperature = 0.0f; /* greedy */

    le_context* context = make_context(model, 0, 1);
    collected streamed = {"", 0, 0};
    le_generate_result result;
    CHECK_OK(le_generate(context, prompt, &params, collect, &streamed, &result));
    CHECK(result.generated_tokens > 0 && result.generated_tokens <= 20);
    CHECK(result.stop_reason == LE_STOP_TOKEN_LIMIT || result.stop_reason == LE_STOP_EOS);
    CHECK(strlen(streamed.text) > 0);

    /* The same greedy tokens by hand: decode, sample, decode... */
    int32_t tokens[600];
    size_t n = tokenize(model, prompt, tokens, 600);
    CHECK(result.prompt_tokens == (int64_t)n);
    le_sampler* sampler = NULL;
    CHECK_OK(le_sampler_create(&params.sampler, &sampler));
    for (size_t i = 0; i < n; ++i) CHECK_OK(le_sampler_accept(sampler, tokens[i]));
    le_batch* batch = NULL;
    CHECK_OK(le_batch_create(&batch));
    for (size_t i = 0; i < n; ++i)
        CHECK_OK(le_batch_add(batch, tokens[i], 0, (int64_t)i, i + 1 == n));
    le_context* manual = make_context(model, 0, 1);
    const size_t n_prompt = n;
    for (int64_t step = 0; step < result.generated_tokens; ++step) {
        CHECK_OK(le_decode(manual, batch));
        const float* logits = NULL;
        int64_t n_vocab = 0;
        CHECK_OK(le_get_logits(manual, le_batch_size(batch) - 1, &logits, &n_vocab));
        int32_t token = -1;
        CHECK_OK(le_sampler_sample(sampler, logits, n_vocab, &token));
        CHECK_OK(le_sampler_accept(sampler, token));
        tokens[n++] = token;
        CHECK_OK(le_batch_clear(batch));
        CHECK_OK(le_batch_add(batch, token, 0, (int64_t)n - 1, true));
    }
    char text[4096];
    size_t length = 0;
    CHECK_OK(le_detokenize(model, tokens, n, text, sizeof text, &length));
    char expected[4096];
    snprintf(expected, sizeof expected, "%s%s", prompt, streamed.text);
    CHECK(strcmp(text, expected) == 0);
    if (strcmp(text, expected) != 0)
        fprintf(stderr, "  by hand: %s\n  generate: %s\n", text, expected);
    CHECK(n - n_prompt == (size_t)result.generated_tokens);

    /* The callback stops generation. */
    collected stopped = {"", 0, 3};
    CHECK_OK(le_generate(context, prompt, &params, collect, &stopped, &result));
    CHECK(result.stop_reason == LE_STOP_CALLBACK);
    CHECK(result.generated_tokens == 3 && stopped.pieces == 3);

    /* NULL callback, params and result are allowed. */
    CHECK_OK(le_generate(context, prompt, NULL, NULL, NULL, NULL));

    /* Errors. */
    CHECK_STATUS(le_generate(NULL, prompt, &params, collect, &streamed, &result),
                 LE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(le_generate(context, NULL, &params, collect, &streamed, &result),
                 LE_ERR_INVALID_ARGUMENT);
    params.add_bos = false;
    CHECK_STATUS(le_generate(context, "", &params, NULL, NULL, NULL), LE_ERR_INVALID_ARGUMENT);
    le_context* two = make_context(model, 0, 2);
    CHECK_STATUS(le_generate(two, prompt, NULL, NULL, NULL, NULL), LE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(le_last_error(), "one sequence") != NULL);

    le_context_free(two);
    le_context_free(manual);
    le_context_free(context);
    le_batch_free(batch);
    le_sampler_free(sampler);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
        return 2;
    }
    model_path = argv[1];
    test_version();
    test_log_level();
    test_load_errors();
    le_model* model = load_with_progress();
    if (model == NULL) return 1;
    test_info(model);
    test_tokens(model);
    test_context_errors(model);
    test_decode(model);
    test_full_context(model);
    test_sampler();
    test_generate(model);
    le_model_free(model);
    if (failures > 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
