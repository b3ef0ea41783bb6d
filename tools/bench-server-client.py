#!/usr/bin/env python3
"""Load generator for llama-server (used by tools/bench-server.sh): for each concurrency N, N
clients each send streamed /v1/completions requests at once; prints a markdown table of aggregate
generated tokens/s, time to first token and per-request latency (p50/p99)."""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def one_request(host, port, body, api_key):
    """Sends one streamed completion; returns (ttft_s, latency_s, completion_tokens)."""
    conn = http.client.HTTPConnection(host, port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = "Bearer " + api_key
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", json.dumps(body), headers)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]!r}")
    ttft = None
    tokens = 0
    for raw in response:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if ttft is None and chunk["choices"] and chunk["choices"][0].get("text"):
            ttft = time.perf_counter() - start
        if "usage" in chunk:
            tokens = chunk["usage"]["completion_tokens"]
    latency = time.perf_counter() - start
    conn.close()
    return (ttft if ttft is not None else latency), latency, tokens


def run_level(args, clients):
    results, errors = [], []
    lock = threading.Lock()

    def client(index):
        for r in range(args.requests):
            body = {"prompt": args.prompt, "max_tokens": args.max_tokens, "stream": True,
                    "ignore_eos": True, "seed": index * 1000 + r, "temperature": args.temperature}
            try:
                result = one_request(args.host, args.port, body, args.api_key)
                with lock:
                    results.append(result)
            except Exception as error:  # reported, not fatal: the table shows the count
                with lock:
                    errors.append(str(error))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    tokens = sum(r[2] for r in results)
    ttfts = [r[0] * 1000 for r in results]
    latencies = [r[1] * 1000 for r in results]
    return {
        "clients": clients, "requests": len(results), "errors": len(errors),
        "tokens": tokens, "tps": tokens / wall if wall > 0 else 0.0,
        "ttft_p50": percentile(ttfts, 50), "ttft_p99": percentile(ttfts, 99),
        "lat_p50": percentile(latencies, 50), "lat_p99": percentile(latencies, 99),
        "first_error": errors[0] if errors else "",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--requests", type=int, default=2, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompt", default="And God said")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--api-key", default="")
    args = parser.parse_args()

    levels = [int(x) for x in args.concurrency.split(",") if x]
    print("| clients | requests | errors | generated tokens | aggregate tokens/s | "
          "TTFT p50 (ms) | TTFT p99 (ms) | latency p50 (ms) | latency p99 (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    failed = False
    base = None
    for clients in levels:
        r = run_level(args, clients)
        base = base or r["tps"]
        print(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['tokens']} | "
              f"{r['tps']:.1f} ({r['tps'] / base:.2f}x) | {r['ttft_p50']:.0f} | "
              f"{r['ttft_p99']:.0f} | {r['lat_p50']:.0f} | {r['lat_p99']:.0f} |", flush=True)
        if r["errors"]:
            print(f"first error: {r['first_error']}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
