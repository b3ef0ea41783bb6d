#!/usr/bin/env bash
# ctest install_consumers (tests/CMakeLists.txt): installs the build into a temporary prefix and
# builds programs outside the repository against it, once with CMake's find_package(LlamaEngine)
# and once with `pkg-config --cflags --libs llama-engine` alone, then runs them on the shipped
# model and checks that each prints what the installed llama-run prints for the same prompts.
#
# usage: install_test.sh BUILD_DIR SOURCE_DIR WORK_DIR EXAMPLE...
# EXAMPLE: a C or C++ source relative to SOURCE_DIR (tests/install/consumers.sh says what it
# must print).
set -euo pipefail
build=$(realpath "$1")
source_dir=$(realpath "$2")
work=$3
shift 3
examples=("$@")
source "$source_dir/tests/install/expected.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

rm -rf "$work"
mkdir -p "$work"
work=$(realpath "$work")
prefix=$work/prefix

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for path in include/llama/context.h include/llama/model.h include/llama/tokenizer.h \
            include/llama/tensor.h bin/llama-run bin/llama-perplexity bin/llama-quantize \
            bin/llama-bench share/llama-engine/kjv-tiny/model.safetensors \
            lib/cmake/LlamaEngine/LlamaEngineConfig.cmake lib/pkgconfig/llama-engine.pc; do
    [ -e "$prefix/$path" ] || fail "$path is not installed"
done
ls "$prefix"/lib/libengine.* > /dev/null 2>&1 || fail "libengine is not installed"
# Internal headers stay out: only llama/*.h and top-level (C) headers under include/.
unexpected=$(cd "$prefix/include" && find . -type f ! -path './llama/*.h' ! -regex '\./[^/]*\.h')
[ -z "$unexpected" ] || fail "not public headers, installed: $unexpected"

# The installed llama-run finds the installed model by default (not the source tree's).
model=$prefix/share/llama-engine/kjv-tiny
"$prefix/bin/llama-run" --help | tr -s ' \n' ' ' | grep -qF "(default: $model)" ||
    fail "installed llama-run does not default to $model"

step "expected text: installed llama-run, default model"
expected=$work/expected.txt
expected_text "$prefix/bin/llama-run" "" "$expected" || fail "llama-run"

"$source_dir/tests/install/consumers.sh" "$prefix" "$source_dir" "$work" "$expected" "${examples[@]}"
echo "PASS"
