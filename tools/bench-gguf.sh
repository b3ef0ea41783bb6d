#!/usr/bin/env bash
# The README's GGUF benchmark (issue 4): the LLaMA-7B shape with seeded random weights, written as
# GGUF F16 by our llama-quantize (--config llama-7b), then Q8_0 and Q4_0 quantized from that F16
# file; prompt tokens/s at 128 and 512 tokens and generation tokens/s with 2 threads, next to
# llama.cpp's figures on this machine; peak RSS of a run at context 2048 per file.
#
#   tools/bench-gguf.sh [DIR]        (default DIR: /tmp/llama-7b-gguf; about 25 GB of files)
#
# Environment: BUILD (build directory, default ./build, Release), THREADS (default 2), SEED
# (weights, default 42), CONFIG (shape, default llama-7b; the llama.cpp figures are for llama-7b
# only, other shapes are for trying the script quickly), REPS (default 3), RSS_CTX (context of the RSS run, default 2048).
# Files already in DIR are reused (FILES_ONLY=1 makes them and stops, so the untimed conversions
# can run while the machine is busy and the timings later, when it is quiet). The markdown report goes to stdout, progress to stderr;
# llama-bench's JSON reports and /usr/bin/time logs stay in DIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/llama-7b-gguf}
build=${BUILD:-$root/build}
threads=${THREADS:-2}
seed=${SEED:-42}
reps=${REPS:-3}
rss_ctx=${RSS_CTX:-2048}
n_gen=16
config=${CONFIG:-llama-7b}
quantize=$build/tools/llama-quantize
bench=$build/tools/llama-bench/llama-bench

# llama.cpp (CPU build, same shapes, 2 threads) on this machine, from issue 4: prompt 512, generation.
declare -A ref_pp512=([F16]=14.5 [Q8_0]=16.5 [Q4_0]=20.3)
declare -A ref_tg=([F16]=2.49 [Q8_0]=4.77 [Q4_0]=9.83)
types=(F16 Q8_0 Q4_0)

for tool in "$quantize" "$bench"; do
    [[ -x $tool ]] || { echo "error: $tool not built (BUILD=$build)" >&2; exit 1; }
done
for tool in /usr/bin/time jq lscpu; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done
mkdir -p "$dir"

# Idle waits, other-load measurement and retries of the timing runs (log, measure, others_of).
bench_dir=$dir
BENCH_NAME="bench-gguf"
source "$root/tools/bench-lib.sh"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
gib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1073741824 }'; }
# "Maximum resident set size (kbytes)" of a /usr/bin/time -v log, in GiB.
peak_rss_gib() { awk -F': ' '/Maximum resident set size/ { printf "%.2f", $2 / 1048576 }' "$1"; }
elapsed() { awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$1"; }
file_of() { echo "$dir/$config-seed$seed-$(echo "$1" | tr 'A-Z' 'a-z').gguf"; }

start_load=$(loadavg)
start_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The commit the binaries were built from: this tree's HEAD (-dirty if tracked files changed), or
# COMMIT for a tree exported without .git (git archive), the way to time exactly one commit.
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    commit=$(git -C "$root" rev-parse --short=12 HEAD)
    git -C "$root" diff --quiet HEAD -- 2>/dev/null || commit+="-dirty"
else
    commit=${COMMIT:-unknown}
fi

# ---- files ------------------------------------------------------------------------------------
declare -A made
for type in "${types[@]}"; do
    out=$(file_of "$type")
    if [[ -f $out ]]; then
        log "$out exists, reused"
        made[$type]="reused"
        if [[ -f $out.quantize-time.txt ]]; then
            made[$type]="made earlier in $(elapsed "$out.quantize-time.txt"), peak RSS $(peak_rss_gib "$out.quantize-time.txt") GiB"
        fi
        continue
    fi
    if [[ $type == F16 ]]; then
        input=(--config "$config" --seed "$seed")
    else
        input=("$(file_of F16)")
    fi
    log "writing $out"
    /usr/bin/time -v -o "$out.quantize-time.txt" \
        "$quantize" "${input[@]}" "$out" "$type" --log-level warn
    made[$type]="made in $(elapsed "$out.quantize-time.txt"), peak RSS $(peak_rss_gib "$out.quantize-time.txt") GiB"
done

if [[ ${FILES_ONLY:-0} == 1 ]]; then
    log "files ready in $dir (FILES_ONLY=1: no timings)"
    exit 0
fi

# ---- timings ----------------------------------------------------------------------------------
# Each run waits for an idle machine and is retried while others interfered (tools/bench-lib.sh);
# the report shows the other load that was left.
for type in "${types[@]}"; do
    file=$(file_of "$type")
    log "$type: llama-bench pp/tg at 128 and 512 tokens"
    measure "bench-$type" "$bench" -m "$file" --split-mode cached -k pp,tg -s 128,512 \
        -n "$n_gen" -r "$reps" --warmup 1 -t "$threads" --seed "$seed" --no-progress -o json \
        --output "$dir/bench-$type.json"
    log "$type: peak RSS of a pp run at context $rss_ctx"
    measure "rss-$type" "$bench" -m "$file" --split-mode cached -k pp -s "$rss_ctx" -r 1 \
        --warmup 0 -t "$threads" --seed "$seed" --no-progress -o json --output "$dir/rss-$type.json"
done
end_load=$(loadavg)
end_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- report -----------------------------------------------------------------------------------
# tokens/s of (kind, seq) in a llama-bench JSON report.
tps() {
    jq -r --arg kind "$2" --argjson seq "$3" \
        '.configs[] | select(.kind == $kind and .seq == $seq) | .arms[0].tokens_per_s' "$1"
}
fmt() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

cat <<EOF
# GGUF benchmark: $config shape, seeded random weights

| | |
|---|---|
| machine | $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) hardware threads ($(grep -o -w -E 'avx512f|avx512_vnni|avx512_bf16|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | paste -sd' ')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM |
| commit | $commit |
| date (UTC) | $start_date to $end_date |
| load average (1/5/15 min) | start $start_load, end $end_load |
| threads | $threads |
| engine settings | $(jq -r '"prompt precision \(.metadata.precision // "default"), KV cache \(.metadata.cache_type // "engine default"), ubatch \(.metadata.ubatch)"' "$dir/bench-F16.json") |
| weights | \`llama-quantize --config $config --seed $seed\` (F16), Q8_0 and Q4_0 quantized from that F16 file (Q4_0 keeps output.weight at Q8_0) |
| timings | \`llama-bench -m FILE --split-mode cached -k pp,tg -s 128,512 -n $n_gen -r $reps --warmup 1 -t $threads\`: pp = one forward over the prompt; tg = $n_gen decode steps timed after an untimed prefill of 128 (or 512) tokens; tokens/s = timed tokens / mean latency |
| peak RSS | \`/usr/bin/time -v\` of \`llama-bench -m FILE -k pp -s $rss_ctx -r 1 --warmup 0\` (context $rss_ctx, weights memory-mapped, so resident file pages count) |
| llama.cpp | CPU build on this machine, same shapes, 2 threads (issue 4): prompt 512 / generation |

| type | file GiB | pp128 t/s | pp512 t/s | tg t/s (after 128) | tg t/s (after 512) | llama.cpp pp512 | llama.cpp tg | ratio pp512 | ratio tg | peak RSS GiB (ctx $rss_ctx) | RSS - file GiB | pp$rss_ctx t/s | other load |
|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
for type in "${types[@]}"; do
    file=$(file_of "$type")
    json=$dir/bench-$type.json
    size=$(stat -c %s "$file")
    pp128=$(tps "$json" pp 128)
    pp512=$(tps "$json" pp 512)
    tg128=$(tps "$json" tg 128)
    tg512=$(tps "$json" tg 512)
    rss=$(peak_rss_gib "$dir/rss-$type-time.txt")
    over=$(awk -v r="$rss" -v s="$size" 'BEGIN { printf "%+.2f", r - s / 1073741824 }')
    pp_rss=$(tps "$dir/rss-$type.json" pp "$rss_ctx")
    echo "| $type | $(gib "$size") | $(fmt "$pp128") | $(fmt "$pp512") | $(fmt "$tg128") |" \
        "$(fmt "$tg512") | ${ref_pp512[$type]} | ${ref_tg[$type]} |" \
        "$(ratio "$pp512" "${ref_pp512[$type]}") | $(ratio "$tg128" "${ref_tg[$type]}") |" \
        "$rss | $over | $(fmt "$pp_rss") | $(others_of "bench-$type") / $(others_of "rss-$type") |"
done
echo
echo "Ratios are ours / llama.cpp (above 1 = faster); ratio tg uses the generation after 128 tokens."
echo "Other load: cores other processes kept busy on average during the timing run / the RSS run"
echo "(runs above $max_others are repeated, up to $tries times; the last try is shown)."
echo
echo "Files (in $dir):"
echo
for type in "${types[@]}"; do
    file=$(file_of "$type")
    echo "- $(basename "$file"): $(stat -c %s "$file") bytes, ${made[$type]}"
done
echo
echo "Latency detail per configuration (ms, $reps repetitions after 1 warm-up):"
echo
echo "| type | kind | seq | n_gen | mean ms | sd ms | min ms | tokens/s |"
echo "|---|---|--:|--:|--:|--:|--:|--:|"
for type in "${types[@]}"; do
    jq -r --arg type "$type" '.configs[] | . as $c | .arms[0] |
        "| \($type) | \($c.kind) | \($c.seq) | \($c.n_gen) | \(.mean_ms * 100 | round / 100) | \(.stddev_ms * 100 | round / 100) | \(.min_ms * 100 | round / 100) | \(.tokens_per_s * 100 | round / 100) |"' \
        "$dir/bench-$type.json"
done
skipped=$(jq -r '.metadata.skipped[]? | tostring' "$dir"/bench-*.json "$dir"/rss-*.json)
if [[ -n $skipped ]]; then
    echo
    echo "Skipped by llama-bench: $skipped"
fi
