#!/usr/bin/env bash
# ctest install_consumers_shared (tests/CMakeLists.txt): builds libengine alone as a shared library
# from the source tree (-DBUILD_SHARED_LIBS=ON, no tools, no tests), checks its soname and that it
# exports the public API only (C le_*/llama_* and C++ llama:: names declared in installed headers, not
# llama::kernels::, internal classes nor the bundled dependencies), installs it, and builds and
# runs the consumers against it (consumers.sh).
#
# usage: shared_test.sh SOURCE_DIR WORK_DIR LLAMA_RUN CMAKE_ARGS EXAMPLE...
# LLAMA_RUN: the calling build's llama-run, which gives the expected text. CMAKE_ARGS: one
# |-separated list of -D options for the shared build: those of the calling build that change
# arithmetic (build type, -march), so that the text matches bit for bit.
set -euo pipefail
source_dir=$(realpath "$1")
work=$2
llama_run=$3
IFS='|' read -r -a cmake_args <<< "$4"
shift 4
examples=("$@")

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

rm -rf "$work"
mkdir -p "$work"
work=$(realpath "$work")
build=$work/build
prefix=$work/prefix

step "shared libengine: configure and build (${cmake_args[*]})"
cmake -S "$source_dir" -B "$build" -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
    -DLLAMA_BUILD_TOOLS=OFF "${cmake_args[@]}" > "$work/configure.log" ||
    { cat "$work/configure.log"; fail "configure"; }
cmake --build "$build" --target engine -j2 > "$work/build.log" 2>&1 ||
    { tail -50 "$work/build.log"; fail "build"; }
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

library=$(realpath "$prefix"/lib/libengine.so)
step "exports of $library"
soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname =~ ^libengine\.so\.[0-9]+$ ]] || fail "soname '$soname' is not libengine.so.<major>"
[ -e "$prefix/lib/$soname" ] || fail "$soname is not installed"
nm -DC --defined-only "$library" | awk '{ $1 = ""; $2 = ""; print substr($0, 3) }' |
    sort > "$work/exports.txt"
echo "$(wc -l < "$work/exports.txt") symbols exported"
for wanted in 'llama::load_model(' 'llama::Tokenizer::load(' 'llama::InferenceContext::forward(' \
              'llama::generate(' 'typeinfo for llama::Error'; do
    grep -qF "$wanted" "$work/exports.txt" || fail "$wanted is not exported"
done
# Every exported name is le_* or llama_* (C) or in namespace llama (possibly as typeinfo/vtable), and
# none is in llama::kernels.
leaked=$(grep -vE '^(le_|llama_|llama::|typeinfo for llama::|typeinfo name for llama::|vtable for llama::)' \
    "$work/exports.txt" | grep -vE '^(_init|_fini|LLAMA_ENGINE|_edata|_end|__bss_start)$' || true)
[ -z "$leaked" ] || fail "exported, outside the public API: $(head -20 <<< "$leaked")"
! grep -q 'llama::kernels::' "$work/exports.txt" || fail "llama::kernels:: is exported"
# Every exported C++ name (the class or function right under llama::) is declared in an installed
# header: nothing internal (the GGUF reader, file mapping, ...) leaves the library.
undeclared=()
for name in $(sed -nE 's/^((typeinfo name|typeinfo|vtable) for )?llama::([A-Za-z_0-9]+).*/\3/p' \
                  "$work/exports.txt" | sort -u); do
    grep -qw "$name" "$prefix"/include/llama/*.h || undeclared+=("$name")
done
((${#undeclared[@]} == 0)) || fail "exported but in no installed header: ${undeclared[*]}"

step "expected text: $llama_run"
source "$source_dir/tests/install/expected.sh"
expected=$work/expected.txt
expected_text "$llama_run" "$source_dir/model/kjv-tiny" "$expected" || fail "llama-run"

"$source_dir/tests/install/consumers.sh" "$prefix" "$source_dir" "$work" "$expected" "${examples[@]}"
echo "PASS"
