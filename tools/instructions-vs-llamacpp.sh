#!/usr/bin/env bash
# Instructions per generated token, by function, ours against llama.cpp on the same GGUF file:
# where decode is bound by arithmetic rather than memory (4-bit unpacking on AVX2 cores), the
# count of each matrix-vector kernel is what sets the speed, and unlike a timing it does not move
# with the machine's load. Both engines run under valgrind's callgrind with one thread, once with
# N and once with 2N generated tokens; the difference of each function's instruction count,
# divided by N, is that function's instructions per generated token, free of loading and warm-up.
#
#   tools/instructions-vs-llamacpp.sh [-n N] [--top K] LLAMA_CPP_BIN_DIR MODEL.gguf
#
# valgrind runs AVX2 but not AVX-512, so both engines must be built without AVX-512: ours with
# -DLLAMA_NATIVE=OFF (its kernels are chosen at run time, and under valgrind the CPU shows AVX2),
# llama.cpp with -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON. To turn a kernel's
# count into instructions per 256 weights, divide it by the weights of its type that one token
# multiplies, over 256 (the README does so for the 7B shape).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    local status=${1:-2}
    ((status == 0)) || exec >&2
    cat <<EOF
usage: $(basename "$0") [options] LLAMA_CPP_BIN_DIR MODEL.gguf

Counts the instructions per generated token of each function in llama.cpp's llama-bench and ours
(BUILD/tools/llama-bench/llama-bench), one thread, under valgrind's callgrind.

options:
  -n N        generated tokens of the shorter run (default 4; the longer runs 2N)
  --top K     functions listed per engine (default 8)
  --logs DIR  where callgrind's files and the logs go (default: a new /tmp/instructions.*)
  -h, --help  this text

environment: BUILD (our build directory, configured with -DLLAMA_NATIVE=OFF; default
$root/build). A small file keeps it quick: valgrind runs some 50 times slower than the CPU, and
llama.cpp repacks its weights at load (a 1-layer 7B-shape file, llama-quantize --config llama-7b
--layers 1, takes about a minute an engine).
EOF
    exit "$status"
}
bad() {
    echo "error: $*" >&2
    usage
}

n=4
top=8
logs=
while (($#)); do
    case $1 in
        -n) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || bad "-n needs a positive integer"; n=$2; shift 2 ;;
        --top) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || bad "--top needs a positive integer"; top=$2; shift 2 ;;
        --logs) [[ -n ${2:-} ]] || bad "--logs needs a directory"; logs=$2; shift 2 ;;
        -h | --help) usage 0 ;;
        -*) bad "unknown option $1" ;;
        *) break ;;
    esac
done
(($# == 2)) || bad "expected LLAMA_CPP_BIN_DIR and MODEL.gguf"
llama_dir=$1
model=$2
build=${BUILD:-$root/build}
ours=$build/tools/llama-bench/llama-bench
theirs=$llama_dir/llama-bench

for tool in valgrind callgrind_annotate; do
    command -v "$tool" >/dev/null || bad "$tool not found (Debian package valgrind)"
done
[[ -x $theirs ]] || bad "no llama-bench in $llama_dir"
[[ -x $ours ]] || bad "no llama-bench in $build (build it, or set BUILD)"
[[ -r $model ]] || bad "cannot read $model"
if grep -q '^LLAMA_NATIVE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    bad "$build is a native build (valgrind cannot run its AVX-512 code): configure one with -DLLAMA_NATIVE=OFF and pass it as BUILD"
fi
[[ -n $logs ]] || logs=$(mktemp -d /tmp/instructions.XXXXXX)
mkdir -p "$logs"

# run ENGINE TOKENS: one callgrind run, its profile in $logs/ENGINE-TOKENS.out.
run() {
    local engine=$1 tokens=$2 out=$logs/$1-$2
    local -a cmd
    local library_path=${LD_LIBRARY_PATH:-}
    if [[ $engine == ours ]]; then
        cmd=("$ours" -m "$model" -k tg -s 1 -n "$tokens" -r 1 --warmup 0 -t 1 --split-mode cached)
    else
        cmd=("$theirs" -m "$model" -p 0 -n "$tokens" -r 1 -t 1)
        library_path=$llama_dir${library_path:+:$library_path}  # its shared libraries
    fi
    echo "callgrind: $engine, $tokens tokens" >&2
    if ! LD_LIBRARY_PATH=$library_path valgrind --tool=callgrind --callgrind-out-file="$out.out" \
        "${cmd[@]}" >"$out.log" 2>&1; then
        echo "error: $engine's llama-bench failed under valgrind (see $out.log; built with AVX-512?)" >&2
        exit 1
    fi
}

# functions PROFILE: "instructions<TAB>function" for every function in the profile.
functions() {
    callgrind_annotate --threshold=100 "$1" |
        sed -n '/file:function/,$p' |
        sed -nE 's/^ *([0-9,]+) \([^)]*\) +[^:]*:(.*)$/\1\t\2/p' |
        sed -E 's/ \[[^]]*\]$//' |
        awk -F'\t' '{ gsub(",", "", $1); print $1 "\t" $2 }'
}

# per_token ENGINE: "instructions per token<TAB>function", most first.
per_token() {
    awk -F'\t' -v n="$n" '
        NR == FNR { short[$2] = $1; next }
        { d = ($1 - short[$2]) / n; if (d > 0) printf "%.0f\t%s\n", d, $2 }
    ' <(functions "$logs/$1-$n.out") <(functions "$logs/$1-$((2 * n)).out") | sort -rn
}

for engine in theirs ours; do
    run "$engine" "$n"
    run "$engine" "$((2 * n))"
done

commit=$(sed -nE 's/^build: ([0-9a-f]+).*/\1/p' "$logs/theirs-$n.log" | head -1)
level=$(sed -nE 's/^\| ISA level \| ([^ ]+) \|.*/\1/p' "$logs/ours-$n.log" | head -1)
echo "## Instructions per generated token, one thread, under callgrind"
echo
echo "Model $(basename "$model"); llama.cpp ${commit:-(commit unknown)} ($llama_dir); ours $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($build${level:+, ISA level $level}); $n and $((2 * n)) tokens."
echo
echo "| engine | function | instructions / token | share |"
echo "|---|---|--:|--:|"
for engine in theirs ours; do
    name=llama.cpp
    [[ $engine == ours ]] && name=ours
    # Names without namespaces and argument lists; clones of one function (GCC's constprop)
    # counted together; then the top K and the total.
    per_token "$engine" | awk -F'\t' '
        function shorten(f,    i, depth, c) {
            gsub(/llama::kernels::detail::\(anonymous namespace\)::/, "", f)
            gsub(/llama::kernels::/, "", f)
            gsub(/ \[clone [^]]*\]/, "", f)
            if (substr(f, length(f)) == ")") {
                depth = 0
                for (i = length(f); i > 0; --i) {
                    c = substr(f, i, 1)
                    if (c == ")") ++depth
                    if (c == "(" && --depth == 0) { f = substr(f, 1, i - 1); break }
                }
            }
            if (length(f) > 110) f = substr(f, 1, 107) "..."
            gsub(/\|/, "\\|", f)
            return f
        }
        { count[shorten($2)] += $1 }
        END { for (f in count) print count[f] "\t" f }
    ' | sort -t$'\t' -k1,1rn | awk -F'\t' -v name="$name" -v top="$top" '
        NR <= top { row[NR] = $0 }
        { total += $1 }
        END {
            for (i = 1; i <= NR && i <= top; ++i) {
                split(row[i], field, "\t")
                printf "| %s | `%s` | %d | %.1f%% |\n", name, field[2], field[1], 100 * field[1] / total
            }
            printf "| %s | all | %d | 100%% |\n", name, total
        }'
done
echo
echo "Profiles and logs: $logs" >&2
