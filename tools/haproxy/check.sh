#!/usr/bin/env bash
# Checks tools/haproxy/llama-server.cfg on loopback: two llama-server replicas with HAProxy in
# front; requests are spread over both; then one replica is killed (SIGKILL) under load and
# every request must still succeed (HAProxy retries it on the other replica and takes the dead
# one out of rotation). Exits 0 when all holds. Needs haproxy and python3.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
server="$build/tools/llama-server/llama-server"
[ -x "$server" ] || { echo "error: $server not built" >&2; exit 1; }
command -v haproxy > /dev/null || { echo "error: haproxy not installed (tools/setup.sh)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    # The replicas start in $(...) subshells, so their pids reach us only through the .pid files
    # (without these they outlived every run); they are not our children: poll until they exit.
    for file in "$work"/*.pid; do [ -e "$file" ] && pids+=("$(cat "$file")"); done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    rm -rf "$work"
}
trap cleanup EXIT

start_replica() {  # $1: name; prints the port
    "$server" -m "$root/model/kjv-tiny" --port 0 --parallel 2 -t 1 > "$work/$1.log" 2>&1 &
    pids+=($!)
    echo $! > "$work/$1.pid"
    for _ in $(seq 300); do
        grep -q "listening on" "$work/$1.log" && break
        sleep 0.1
    done
    grep -o 'listening on http://[^ ]*' "$work/$1.log" | sed 's|.*:||'
}
port1="$(start_replica replica1)"
port2="$(start_replica replica2)"
[ -n "$port1" ] && [ -n "$port2" ] || { echo "error: a replica did not start" >&2; cat "$work"/*.log >&2; exit 1; }
lb_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

LLAMA_LB_BIND="127.0.0.1:$lb_port" LLAMA_REPLICA_1="127.0.0.1:$port1" \
LLAMA_REPLICA_2="127.0.0.1:$port2" haproxy -f "$root/tools/haproxy/llama-server.cfg" -db \
    > "$work/haproxy.log" 2>&1 &
pids+=($!)
echo "replicas on :$port1 and :$port2, HAProxy on :$lb_port"

python3 - "$lb_port" "$port1" "$port2" "$(cat "$work/replica1.pid")" <<'PY'
import http.client, json, os, signal, sys, threading, time

lb, port1, port2, pid1 = (int(x) for x in sys.argv[1:5])

def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, json.dumps(body) if body else None,
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data

def completions_served(port):
    _, text = request(port, "GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith('llama_requests_total{endpoint="/v1/completions",status="200"}'):
            return int(line.split()[-1])
    return 0

deadline = time.time() + 30
while True:
    try:
        if request(lb, "GET", "/health")[0] == 200:
            break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("HAProxy did not come up")
    time.sleep(0.1)

def load(n_clients, n_each, on_done=None):
    failures, done = [], [0]
    lock = threading.Lock()
    def client(index):
        for r in range(n_each):
            body = {"prompt": "And God said", "max_tokens": 4, "seed": index * 100 + r}
            try:
                status, data = request(lb, "POST", "/v1/completions", body)
                ok = status == 200 and "choices" in json.loads(data)
            except Exception as error:
                status, ok = str(error), False
            with lock:
                if not ok:
                    failures.append(status)
                done[0] += 1
                if on_done:
                    on_done(done[0])
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    return failures

failures = load(4, 10)
served1, served2 = completions_served(port1), completions_served(port2)
print(f"spread: replica1 served {served1}, replica2 served {served2}, failures {len(failures)}")
assert not failures, failures
assert served1 > 0 and served2 > 0, "both replicas must get requests"

def kill_after(n):
    if n == 10:
        os.kill(pid1, signal.SIGKILL)
        print("replica1 killed after 10 of 80 requests")
failures = load(4, 20, kill_after)
after2 = completions_served(port2)
print(f"after the kill: replica2 served {after2 - served2} more, failures {len(failures)}")
assert not failures, f"failed requests: {failures}"
assert after2 - served2 >= 70, "the surviving replica took over"
print("ok")
PY
