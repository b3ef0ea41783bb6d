#!/usr/bin/env bash
# Runs an example on a model and checks that its text is llama-run's greedy text for the same
# prompts (one thread, as the examples use). Registered with ctest by tools/CMakeLists.txt.
#
#   check_example.sh simple LLAMA_RUN SIMPLE_BIN MODEL N PROMPT
#   check_example.sh batch  LLAMA_RUN BATCH_BIN  MODEL N PROMPT...
set -euo pipefail
mode=$1 llama_run=$2 example=$3 model=$4 n=$5
shift 5
expected=$(for prompt in "$@"; do
    "$llama_run" -m "$model" -n "$n" --temp 0 -t 1 -p "$prompt" 2>/dev/null
done)
case $mode in
    simple) actual=$("$example" "$model" "$1" "$n" 2>/dev/null) ;;
    batch) actual=$("$example" "$model" "$n" "$@" 2>/dev/null) ;;
    *) echo "error: unknown mode $mode" >&2; exit 2 ;;
esac
if [[ "$actual" != "$expected" ]]; then
    printf 'example output:\n%s\n\nllama-run output:\n%s\n' "$actual" "$expected" >&2
    exit 1
fi
# An empty pair would pass vacuously.
[[ -n "$actual" ]] || { echo "error: no output" >&2; exit 1; }
printf '%s\n' "$actual"
