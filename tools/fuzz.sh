#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, clang, ASan+UBSan) in build-fuzz/ and runs each for
# SECONDS (default 60), one after another, then prints executions, seconds and crashes per harness.
#
#   tools/fuzz.sh [SECONDS] [HARNESS...]     e.g. tools/fuzz.sh 3600 gguf_reader
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (harnesses run at once, default 1),
# FUZZ_RUNS (stop a harness after this many executions, even before SECONDS; default no limit),
# FUZZ_RSS_MB (per-process memory limit, default 2048), FUZZ_TIMEOUT (seconds one input may take
# before it counts as a hang, default 10; libFuzzer measures wall time, so raise it on a busy
# machine, and rerun a reported timeout alone to tell a hang from a descheduled process).
# Each harness's corpus grows in $FUZZ_BUILD_DIR/corpus/<harness> (seeded from
# tests/fuzz/corpus/<harness>); an input that fails lands in $FUZZ_BUILD_DIR/artifacts/<harness>/:
# reproduce it with `$FUZZ_BUILD_DIR/tests/fuzz/fuzz_<harness> FILE`, then fix the library and
# check the file in under tests/fuzz/regressions/<harness>/ (see fuzz_corpus_test.cpp).
# Exits 1 if any harness found a crash, a hang, a leak or a memory-limit breach.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout_s=${FUZZ_TIMEOUT:-10}
runs=${FUZZ_RUNS:--1}
all=(gguf_reader gguf_tokenizer safetensors_header safetensors_index config_json tokenizer_text
     chat_prompt server_request)
harnesses=("$@")
((${#harnesses[@]})) || harnesses=("${all[@]}")

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLLAMA_FUZZ=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j2 --target "${targets[@]}"

run_one() {
    local h=$1
    local corpus="$build/corpus/$h" artifacts="$build/artifacts/$h" log="$build/logs/$h.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    # -timeout: an input running longer is a hang; -rss_limit_mb bounds the whole process (the
    # harness itself bounds each input's heap growth, see tests/fuzz/fuzz_main.cpp).
    "$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
        -runs="$runs" -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "tests/fuzz/corpus/$h" \
        >"$log" 2>&1 || true
}

running=0
for h in "${harnesses[@]}"; do
    run_one "$h" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-20s %12s %8s %8s %8s  %s\n' harness executions seconds exec/s corpus crashes
for h in "${harnesses[@]}"; do
    log="$build/logs/$h.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    corpus=$(find "$build/corpus/$h" -type f | wc -l)
    crashes=$(find "$build/artifacts/$h" -type f ! -name 'slow-unit-*' | wc -l)
    printf '%-20s %12s %8s %8s %8s  %s\n' "$h" "${execs:-?}" "${took:-?}" "${rate:-?}" "$corpus" \
        "$crashes"
    if ((crashes > 0)) || [ -z "$execs" ]; then
        status=1
        find "$build/artifacts/$h" -type f ! -name 'slow-unit-*' -printf '  %p\n'
        grep -m3 -E 'ERROR|SUMMARY|fuzz check failed|exception other|heap grow' "$log" |
            sed 's/^/  /' || true
    fi
done
exit $status
