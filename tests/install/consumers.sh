#!/usr/bin/env bash
# Builds each example against an installed libengine twice, with CMake's find_package(LlamaEngine)
# (tests/install/consumer/) and with `pkg-config --cflags --libs llama-engine` alone, runs it on
# the installed model and compares its stdout with EXPECTED (llama-run's for the same prompts).
#
# usage: consumers.sh PREFIX SOURCE_DIR WORK_DIR EXPECTED EXAMPLE...
# EXAMPLE is a C (.c) or C++ (.cpp) source relative to SOURCE_DIR, which generates greedily with
# the default sampler otherwise and prints what llama-run prints for `-p PROMPT -n N --temp 0`
# (expected.sh), called either way:
#   path                  `EXE MODEL N PROMPT...`, every prompt in one run
#   path:prompt-first     `EXE MODEL PROMPT N`, one run per prompt
# Trailing newlines of each run's text do not count.
set -euo pipefail
prefix=$1
source_dir=$2
work=$3
expected=$4
shift 4
examples=("$@")
source "$source_dir/tests/install/expected.sh"
model=$prefix/share/llama-engine/kjv-tiny
[ -d "$model" ] || model=$source_dir/model/kjv-tiny  # a library-only install
# A shared libengine in a prefix the loader does not search (the pkg-config build has no rpath).
export LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

check_output() {  # name executable convention
    local actual=$work/$1.txt prompt text
    : > "$actual"
    if [ "$3" = prompt-first ]; then
        for prompt in "${prompts[@]}"; do
            text=$("$2" "$model" "$prompt" "$n_tokens" 2>> "$work/$1.log") ||
                { cat "$work/$1.log" >&2; fail "$1 exited with an error"; }
            printf '%s\n' "$text" >> "$actual"  # $(...) dropped the trailing newlines
        done
    else
        text=$("$2" "$model" "$n_tokens" "${prompts[@]}" 2> "$work/$1.log") ||
            { cat "$work/$1.log" >&2; fail "$1 exited with an error"; }
        printf '%s\n' "$text" > "$actual"
    fi
    diff -u <(printf '%s\n' "$(cat "$expected")") "$actual" ||
        fail "$1 does not print what llama-run prints"
    echo "ok: $1"
}

step "consumer with find_package(LlamaEngine)"
sources=()
conventions=()
for example in "${examples[@]}"; do
    sources+=("$(realpath "$source_dir/${example%%:*}")")
    [[ $example == *:* ]] && conventions+=("${example#*:}") || conventions+=(all-prompts)
done
list=$(IFS=';'; echo "${sources[*]}")
cmake -S "$source_dir/tests/install/consumer" -B "$work/cmake-consumer" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release "-DEXAMPLES=$list" \
    > "$work/cmake-consumer.log" || { cat "$work/cmake-consumer.log"; fail "configure"; }
cmake --build "$work/cmake-consumer" -j2 > "$work/cmake-consumer-build.log" 2>&1 ||
    { cat "$work/cmake-consumer-build.log"; fail "find_package consumer does not build"; }
for i in "${!sources[@]}"; do
    name=$(basename "${sources[i]%.*}")
    check_output "cmake-$name" "$work/cmake-consumer/$name" "${conventions[i]}"
done

step "consumer with pkg-config"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs llama-engine)
echo "pkg-config --cflags --libs llama-engine: $flags"
for i in "${!sources[@]}"; do
    source=${sources[i]}
    name=$(basename "${source%.*}")
    case $source in
        *.c) compile=(cc -std=c11 -O2) ;;
        *) compile=(c++ -std=c++20 -O2) ;;
    esac
    # shellcheck disable=SC2086  # the flags are words
    "${compile[@]}" "$source" -o "$work/pc-$name" $flags ||
        fail "pkg-config consumer $name does not build"
    check_output "pc-$name" "$work/pc-$name" "${conventions[i]}"
done
echo "consumers ok"
