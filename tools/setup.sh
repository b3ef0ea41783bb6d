#!/usr/bin/env bash
# Installs the Debian packages the engine, its tools and its tests need (only those missing), and
# the OpenAI Node.js SDK that llama-server's client test drives it with (tests/server-node).
set -euo pipefail
packages=(build-essential cmake pkg-config libopenblas-dev libsentencepiece-dev libspdlog-dev
          nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
          haproxy clang libclang-rt-14-dev)  # clang and its libFuzzer/sanitizer runtimes: tools/fuzz.sh
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

# The official OpenAI Node.js SDK, for llama-server's client test (skipped without Node).
node_test_dir="$(dirname "$0")/../tests/server-node"
if command -v npm > /dev/null; then
    if [ ! -f "$node_test_dir/node_modules/openai/package.json" ]; then
        echo "installing the openai npm package into tests/server-node/node_modules"
        npm install --prefix "$node_test_dir" --no-audit --no-fund --silent
    fi
else
    echo "npm not found: the OpenAI SDK test of llama-server will be skipped" >&2
fi
