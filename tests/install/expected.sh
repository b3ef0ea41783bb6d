# Sourced by the install tests: the prompts they generate from, and the text every example must
# print for them (llama-run's, greedy).
# shellcheck disable=SC2034  # used by the scripts that source this
n_tokens=24
prompts=("And God said" "In the beginning")

# expected_text LLAMA_RUN MODEL OUT: llama-run's stdout for each prompt, greedy, into OUT. MODEL
# empty: llama-run's default model.
expected_text() {
    local llama_run=$1 model=$2 out=$3 prompt model_flag=()
    [ -z "$model" ] || model_flag=(-m "$model")
    : > "$out"
    for prompt in "${prompts[@]}"; do
        "$llama_run" "${model_flag[@]}" -p "$prompt" -n "$n_tokens" --temp 0 -t 1 >> "$out" \
            2> "$out.log" || { cat "$out.log" >&2; return 1; }
    done
    cat "$out"
    [ "$(wc -l < "$out")" -ge "${#prompts[@]}" ] || { echo "llama-run printed too little" >&2; return 1; }
}
