#!/usr/bin/env bash
# Installs the Debian packages the engine, its tools and its tests need (only those missing).
set -euo pipefail
packages=(build-essential cmake pkg-config libopenblas-dev libsentencepiece-dev libspdlog-dev
          nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
          clang libclang-rt-14-dev)  # clang and its libFuzzer/sanitizer runtimes: tools/fuzz.sh
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
fi
