/* The smallest C program over libengine: load a model, tokenize a prompt, generate greedily and
 * stream the text. Usage: simple MODEL [PROMPT] [N_PREDICT] */

#include <stdio.h>
#include <stdlib.h>

#include "llama_engine.h"

static bool print_piece(const char* piece, size_t length, void* user_data) {
    (void)user_data;
    fwrite(piece, 1, length, stdout);
    fflush(stdout);
    return true; /* false would stop generating */
}

static int fail(const char* what, le_status status) {
    fprintf(stderr, "error: %s: %s (%s)\n", what, le_last_error(), le_status_name(status));
    return 1;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [PROMPT] [N_PREDICT]\n", argv[0]);
        return 1;
    }
    const char* prompt = argc > 2 ? argv[2] : "And God said";
    const int n_predict = argc > 3 ? atoi(argv[3]) : 32;

    le_model* model = NULL;
    le_status status = le_model_load(argv[1], NULL, NULL, &model);
    if (status != LE_OK) return fail("loading the model", status);

    /* Tokenize: ask for the size first, then fill a buffer of that size. */
    size_t n_tokens = 0;
    le_tokenize(model, prompt, (size_t)-1, true, NULL, 0, &n_tokens);
    int32_t* tokens = malloc(n_tokens * sizeof *tokens);
    status = le_tokenize(model, prompt, (size_t)-1, true, tokens, n_tokens, &n_tokens);
    if (status != LE_OK) return fail("tokenizing", status);
    fprintf(stderr, "prompt: %zu tokens\n", n_tokens);
    free(tokens);

    le_context* context = NULL;
    status = le_context_create(model, NULL, &context); /* default parameters */
    if (status != LE_OK) return fail("creating a context", status);

    le_generate_params params = le_generate_default_params();
    params.n_predict = n_predict;
    params.sampler.temperature = 0.0f; /* greedy: the same text every run */
    le_generate_result result;
    fputs(prompt, stdout);
    status = le_generate(context, prompt, &params, print_piece, NULL, &result);
    if (status != LE_OK) return fail("generating", status);
    printf("\n");
    fprintf(stderr, "generated %lld tokens\n", (long long)result.generated_tokens);

    le_context_free(context);
    le_model_free(model);
    return 0;
}
