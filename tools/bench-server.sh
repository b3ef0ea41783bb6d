#!/usr/bin/env bash
# Benchmarks llama-server on loopback (not a test): starts it with --parallel P on MODEL, then for
# each concurrency N sends N simultaneous streamed completions (R each, ignore_eos, M tokens) and
# prints aggregate generated tokens/s (and its ratio to the first level), time to first token
# and per-request latency p50/p99 as a markdown table.
set -euo pipefail

usage() {
    cat <<USAGE
usage: tools/bench-server.sh [options] [-- extra llama-server flags]
  -m MODEL      model (default: the shipped model/kjv-tiny)
  -p N          --parallel slots (default: 16)
  -t N          threads (default: the hardware threads)
  -c LIST       concurrency levels (default: 1,4,8,16)
  -n N          tokens per request (default: 64)
  -r N          requests per client per level (default: 2)
  -b DIR        build directory (default: build)
  --url HOST:PORT  benchmark a running server instead of starting one
USAGE
}

root="$(cd "$(dirname "$0")/.." && pwd)"
model="$root/model/kjv-tiny"
parallel=16
threads="$(nproc)"
levels="1,4,8,16"
tokens=64
requests=2
build="$root/build"
url=""
extra=()
while (($#)); do
    case "$1" in
        -m) model="$2"; shift 2 ;;
        -p) parallel="$2"; shift 2 ;;
        -t) threads="$2"; shift 2 ;;
        -c) levels="$2"; shift 2 ;;
        -n) tokens="$2"; shift 2 ;;
        -r) requests="$2"; shift 2 ;;
        -b) build="$2"; shift 2 ;;
        --url) url="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "error: unknown option '$1' (see --help)" >&2; exit 1 ;;
    esac
done

server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; true; }
trap cleanup EXIT

if [ -z "$url" ]; then
    server="$build/tools/llama-server/llama-server"
    [ -x "$server" ] || { echo "error: $server not built (cmake --build $build --target llama-server)" >&2; exit 1; }
    log="$(mktemp)"
    "$server" -m "$model" --port 0 --parallel "$parallel" -t "$threads" \
        --max-queue 256 "${extra[@]}" > "$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 600); do
        grep -q "listening on" "$log" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    url="$(grep -o 'listening on http://[^ ]*' "$log" | sed 's|listening on http://||')"
    [ -n "$url" ] || { echo "error: llama-server did not start" >&2; cat "$log" >&2; exit 1; }
fi

echo "llama-server at $url: model $(basename "$model"), --parallel $parallel, -t $threads," \
     "$tokens tokens per request, $requests requests per client"
python3 "$root/tools/bench-server-client.py" --host "${url%:*}" --port "${url##*:}" \
    --concurrency "$levels" --requests "$requests" --max-tokens "$tokens"
