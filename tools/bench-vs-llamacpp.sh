#!/usr/bin/env bash
# Ours against llama.cpp on the same GGUF files, same threads, in one run: prompt 128 and 512
# tokens (pp128, pp512) and generation of 128 tokens (tg128), as llama.cpp's llama-bench names
# them. For each file and test the two engines alternate, llama.cpp then ours, round after round;
# the first round is a discarded warm-up, the next R give mean +- sd. Each run starts on an idle
# machine and is repeated while other processes interfered (tools/bench-lib.sh).
#
#   tools/bench-vs-llamacpp.sh [options] LLAMA_CPP_BIN_DIR MODEL.gguf...
#
# LLAMA_CPP_BIN_DIR holds llama.cpp's llama-bench. It may be a comma-separated list of
# [LEVEL=]DIR: a plain DIR is the native build, LEVEL=DIR a build capped at LEVEL (e.g.
# avx2=/work/llama.cpp-avx2/build/bin), used when ours is capped at that LEVEL with --isa.
# The markdown report goes to stdout, progress to stderr, every run's JSON and logs to the log
# directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
levels="scalar|avx2|avx2-vnni|avx512|avx512-vnni|avx512-bf16|amx"

# usage [STATUS]: the help text, on stdout for --help (status 0), else on stderr (status 2).
usage() {
    local status=${1:-2}
    ((status == 0)) || exec >&2
    cat <<EOF
usage: $(basename "$0") [options] LLAMA_CPP_BIN_DIR[,LEVEL=DIR...] MODEL.gguf...

Times llama.cpp's llama-bench and ours (BUILD/tools/llama-bench/llama-bench) on each MODEL:
pp128, pp512 and tg128, interleaved, one warm-up round discarded.

options:
  -t N             threads for both engines (default: \$THREADS or 2)
  -r N             measured rounds after the warm-up round (default: \$REPS or 3)
  --isa LEVEL      cap our engine's instruction set ($levels; default: \$ISA or
                   none), and run llama.cpp from the LEVEL=DIR build if one is given
  --llama-src DIR  llama.cpp source tree, for its commit (default: \$LLAMA_CPP_SRC, else the
                   build_commit llama-bench reports)
  --tests LIST     comma-separated ppN (prompt of N tokens) and tgN (N generated tokens)
                   (default: pp128,pp512,tg128)
  --logs DIR       where the runs' JSON and logs go (default: a new /tmp/bench-vs-llamacpp.*)
  --llama-args STR extra arguments for llama.cpp's llama-bench, split at spaces (e.g. '-rtr 1'
                   for ik_llama.cpp, a llama.cpp fork whose llama-bench takes the same options)
  -h, --help       this text

environment: BUILD (our build directory, default $root/build), and tools/bench-lib.sh's idle
waiting: QUIET_SAMPLE (s, default 5), QUIET_SAMPLES (default 2), QUIET_WAIT (s, default 1800),
MAX_OTHERS (cores, default 0.10), TRIES (default 3).
EOF
    exit "$status"
}
bad() {
    echo "error: $*" >&2
    usage
}
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || bad "$1 needs a positive integer, got '$2'"; }

threads=${THREADS:-2}
reps=${REPS:-3}
isa=${ISA:-}
llama_src=${LLAMA_CPP_SRC:-}
tests=pp128,pp512,tg128
logs=""
llama_args=""
positional=()
while (($#)); do
    case $1 in
        -h | --help) usage 0 ;;
        -t | -r | --isa | --llama-src | --tests | --logs | --llama-args)
            (($# >= 2)) || bad "$1 needs a value"
            case $1 in
                -t) threads=$2 ;;
                -r) reps=$2 ;;
                --isa) isa=$2 ;;
                --llama-src) llama_src=$2 ;;
                --tests) tests=$2 ;;
                --logs) logs=$2 ;;
                --llama-args) llama_args=$2 ;;
            esac
            shift 2
            ;;
        --) shift; positional+=("$@"); break ;;
        -*) bad "unknown option $1" ;;
        *) positional+=("$1"); shift ;;
    esac
done
((${#positional[@]} >= 2)) || bad "expected LLAMA_CPP_BIN_DIR and at least one MODEL.gguf"
positive -t "$threads"
positive -r "$reps"
[[ -z $isa || $isa =~ ^($levels)$ ]] || bad "--isa: unknown level '$isa' ($levels)"
IFS=, read -ra test_list <<<"$tests"
((${#test_list[@]} > 0)) || bad "--tests is empty"
for t in "${test_list[@]}"; do
    [[ $t =~ ^(pp|tg)[1-9][0-9]*$ ]] || bad "--tests: unknown test '$t' (ppN or tgN, e.g. pp512, tg128)"
done
[[ -z $llama_src ]] || git -C "$llama_src" rev-parse HEAD >/dev/null 2>&1 ||
    bad "--llama-src: $llama_src is not a git checkout"

# llama.cpp builds by level; the one for the requested level, else the native one.
declare -A llama_dirs
IFS=, read -ra specs <<<"${positional[0]}"
for spec in "${specs[@]}"; do
    if [[ $spec =~ ^([a-z0-9-]+)=(.+)$ ]]; then
        level=${BASH_REMATCH[1]} dir=${BASH_REMATCH[2]}
        [[ $level =~ ^($levels|native)$ ]] || bad "unknown level '$level' in '$spec' ($levels)"
    else
        level=native dir=$spec
    fi
    [[ -x $dir/llama-bench ]] || bad "$dir has no llama-bench (LLAMA_CPP_BIN_DIR)"
    llama_dirs[$level]=$dir
done
llama_level=${isa:-native}
if [[ -z ${llama_dirs[$llama_level]:-} ]]; then
    [[ -n ${llama_dirs[native]:-} ]] || bad "no llama.cpp build for level $llama_level or a native one"
    llama_level=native
fi
llama_bench=${llama_dirs[$llama_level]}/llama-bench
read -ra llama_extra <<<"$llama_args"
models=("${positional[@]:1}")
for model in "${models[@]}"; do
    [[ -f $model ]] || bad "$model: no such file"
done

ours=${BUILD:-$root/build}/tools/llama-bench/llama-bench
if [[ ! -x $ours ]]; then
    echo "error: $ours not built (cmake --build build --target llama-bench)" >&2
    exit 1
fi
for tool in /usr/bin/time jq awk; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done

logs=${logs:-$(mktemp -d /tmp/bench-vs-llamacpp.XXXXXX)}
mkdir -p "$logs"
bench_dir=$logs
BENCH_NAME="bench-vs-llamacpp"
# Shorter idle checks than bench-gguf's: there are many more, shorter runs here.
QUIET_SAMPLE=${QUIET_SAMPLE:-5}
QUIET_SAMPLES=${QUIET_SAMPLES:-2}
source "$root/tools/bench-lib.sh"

# Our instruction-set cap: --isa if our llama-bench has it, else the LLAMA_ISA environment variable.
ours_isa=()
ours_env=()
if [[ -n $isa ]]; then
    if "$ours" --help 2>/dev/null | grep -q -- '--isa'; then
        ours_isa=(--isa "$isa")
    else
        ours_env=("LLAMA_ISA=$isa")
    fi
fi

# The best level this CPU offers, named as --isa names them.
cpu_level() {
    local flags
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    local level=scalar
    [[ $flags =~ (^| )avx2( |$) ]] && level=avx2
    [[ $level == avx2 && $flags =~ (^| )avx_vnni( |$) ]] && level=avx2-vnni
    [[ $flags =~ (^| )avx512f( |$) ]] && level=avx512
    [[ $flags =~ (^| )avx512_vnni( |$) ]] && level=avx512-vnni
    [[ $flags =~ (^| )avx512_bf16( |$) ]] && level=avx512-bf16
    [[ $flags =~ (^| )amx_tile( |$) ]] && level=amx
    echo "$level"
}

# Each engine's arguments for a test (sets llama_test and ours_test). Ours: pp with one untimed
# warm-up forward (llama.cpp's llama-bench warms up with the whole prompt too); tg as 128 decode
# steps after a 1-token prefill, which touches every weight once as llama.cpp's 1-token warm-up
# does, from an empty cache like llama.cpp's tg128.
test_args() {
    local n=${1:2}
    case $1 in
        pp*) llama_test=(-p "$n" -n 0) ours_test=(-k pp -s "$n" --warmup 1) ;;
        tg*) llama_test=(-p 0 -n "$n") ours_test=(-k tg -s 1 -n "$n" --warmup 0) ;;
    esac
}

# run_engine LABEL CMD...: measured, with stderr in LABEL.err; returns the command's status.
run_engine() {
    local label=$1
    shift
    # shellcheck disable=SC2016  # $1 and $@ are the inner shell's
    measure "$label" sh -c 'err=$1; shift; exec "$@" 2>"$err"' sh "$bench_dir/$label.err" "$@"
}
first_error() {
    { grep -m1 -i 'error' "$1" || tail -n1 "$1"; } | cut -c1-160 | tr '|' '/'
}

start_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
declare -A samples others failed model_type
llama_commit=${llama_src:+$(git -C "$llama_src" rev-parse --short=9 HEAD)}
ours_reported_isa=""
for ((f = 0; f < ${#models[@]}; ++f)); do
    model=${models[f]}
    log "$(basename "$model"): reading it into the page cache"
    cat "$model" >/dev/null
    for test in "${test_list[@]}"; do
        for ((round = 0; round <= reps; ++round)); do
            for engine in llamacpp ours; do
                key=$f/$test/$engine
                [[ -z ${failed[$f/$engine]:-} ]] || continue
                label=f$f-$test-r$round-$engine
                what="$(basename "$model") $test round $round"
                ((round > 0)) || what+=" (warm-up)"
                log "$what: $engine"
                test_args "$test"
                if [[ $engine == llamacpp ]]; then
                    cmd=("$llama_bench" -m "$model" -t "$threads" -r 1 "${llama_test[@]}"
                        "${llama_extra[@]}" -o json)
                else
                    cmd=(env "${ours_env[@]}" "$ours" -m "$model" "${ours_isa[@]}"
                        --split-mode cached "${ours_test[@]}" -b 1 -r 1 -t "$threads" --seed 42
                        --no-progress -o json)
                fi
                if ! run_engine "$label" "${cmd[@]}"; then
                    failed[$f/$engine]=$(first_error "$bench_dir/$label.err")
                    log "$engine failed on $model: ${failed[$f/$engine]}"
                    continue
                fi
                out=$bench_dir/$label.out
                if [[ $engine == llamacpp ]]; then
                    tps=$(jq -r '.[0].avg_ts' "$out")
                    model_type[$f]=$(jq -r '.[0].model_type' "$out")
                    [[ -n $llama_commit ]] || llama_commit=$(jq -r '.[0].build_commit' "$out")
                else
                    tps=$(jq -r '.configs[0].arms[0].tokens_per_s' "$out")
                    [[ -n $ours_reported_isa ]] || ours_reported_isa=$(jq -r '.metadata.isa // empty' "$out")
                    [[ -n ${model_type[$f]:-} ]] || model_type[$f]=$(jq -r '.metadata.dtype' "$out")
                fi
                ((round > 0)) || continue
                samples[$key]+="$tps "
                others[$key]+="$(others_of "$label") "
            done
        done
    done
done
end_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- report ---------------------------------------------------------------------------------------
# "mean ± sd" of the samples in $1 (sd over the rounds, n - 1).
mean_sd() {
    awk '{ for (i = 1; i <= NF; ++i) { s += $i; ss += $i * $i } n = NF }
         END { if (n == 0) { print "-"; exit } m = s / n; v = n > 1 ? (ss - n * m * m) / (n - 1) : 0
               printf "%.2f ± %.2f", m, sqrt(v < 0 ? 0 : v) }' <<<"$1"
}
mean() { awk '{ for (i = 1; i <= NF; ++i) s += $i; if (NF) printf "%.6f", s / NF }' <<<"$1"; }
max_of() { awk '{ for (i = 1; i <= NF; ++i) if ($i > m) m = $i; printf "%.2f", m }' <<<"$1"; }

if [[ -n $ours_reported_isa ]]; then
    ours_level="$ours_reported_isa (reported by our llama-bench)"
elif [[ -n $isa ]]; then
    ours_level="$isa requested with ${ours_isa[*]:-${ours_env[*]}} (not confirmed: our llama-bench does not report its level)"
else
    ours_level="native: $(cpu_level) is the best this CPU has (our llama-bench does not report its level)"
fi
if [[ $llama_level == native ]]; then
    llama_level_text="native build"
    [[ -z $isa ]] || llama_level_text+=" (no $isa=DIR build given, so llama.cpp was not capped)"
else
    llama_level_text="$llama_level build"
fi
ours_commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- 2>/dev/null || ours_commit+="-dirty"

cat <<EOF
# ours vs llama.cpp

| | |
|---|---|
| CPU | $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //'), $(nproc) hardware threads, best ISA $(cpu_level) |
| ours | commit $ours_commit, ISA $ours_level |
| llama.cpp | commit ${llama_commit:-unknown}, $llama_level_text ($llama_bench) |
| date (UTC) | $start_date to $end_date |
| threads | $threads |
| method | per file and test: llama.cpp then ours, 1 warm-up round discarded, then $reps rounds; each run its own process, started on an idle machine; t/s = mean ± sd over the rounds |
| llama.cpp runs | \`llama-bench -m FILE -t $threads -r 1 -p N -n 0${llama_args:+ $llama_args}\` (ppN) / \`-p 0 -n N${llama_args:+ $llama_args}\` (tgN), its default warm-up |
| our runs | \`llama-bench -m FILE --split-mode cached -b 1 -r 1 -t $threads\` with \`-k pp -s N --warmup 1\` (ppN) / \`-k tg -s 1 -n N --warmup 0\` (tgN: N decode steps after a 1-token prefill) |
| logs | $logs |

| file | type | test | llama.cpp t/s | ours t/s | ratio | others (max cores) |
|---|---|---|--:|--:|--:|--:|
EOF
for ((f = 0; f < ${#models[@]}; ++f)); do
    for test in "${test_list[@]}"; do
        l=${samples[$f/$test/llamacpp]:-}
        o=${samples[$f/$test/ours]:-}
        lt=${failed[$f/llamacpp]:+failed: ${failed[$f/llamacpp]}}
        ot=${failed[$f/ours]:+failed: ${failed[$f/ours]}}
        [[ -n $lt ]] || lt=$(mean_sd "$l")
        [[ -n $ot ]] || ot=$(mean_sd "$o")
        ratio="-"
        if [[ -n $l && -n $o ]]; then
            ratio=$(awk -v a="$(mean "$o")" -v b="$(mean "$l")" 'BEGIN { printf "%.2fx", a / b }')
        fi
        echo "| $(basename "${models[f]}") | ${model_type[$f]:-?} | $test | $lt | $ot | $ratio |" \
            "$(max_of "${others[$f/$test/llamacpp]:-} ${others[$f/$test/ours]:-}") |"
    done
done
echo
echo "Ratio: ours / llama.cpp mean t/s (above 1 = ours faster). Others: the most cores other"
echo "processes kept busy during any measured run of that row (runs above $max_others were retried,"
echo "up to $tries times)."
