"""One load-generator process of the GPU run (clients.loadtest), started before its window opens.

    python -m benchmarks.gpu.load URL FILE... --concurrency C --seconds S [--body raw|json]

It builds its requests, prints "ready", waits for a line on stdin (the window opens: the driver
has read its counters), runs closed-loop load for S seconds and prints one JSON line: the
summary, its own CPU seconds and its latency histogram (HdrHistogram, encoded) to merge.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

from hdrh.histogram import HdrHistogram

from clients.loadtest.bench import build_requests, load_payloads, summary
from clients.loadtest.echo import run_fast
from clients.loadtest.loadgen import LoadConfig, LoadGenerator, latency_histogram, summary_ms


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("payloads", nargs="+", type=Path)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--body", choices=("raw", "json"), default="raw")
    args = p.parse_args(argv)
    config = LoadConfig(
        url=args.url, requests=10**9, duration_s=args.seconds, concurrency=args.concurrency
    )
    requests = build_requests(args.url, load_payloads(args.payloads), args.body)
    print("ready", flush=True)
    sys.stdin.readline()
    before = cpu_s()
    stats = run_fast(LoadGenerator(config, requests).run())
    out = summary(config, stats, len(requests))
    out["cpu_s"] = round(cpu_s() - before, 3)
    out["histogram"] = stats.latency.encode().decode("ascii")  # base64 already
    print(json.dumps(out), flush=True)
    return 0


def merge(parts: list[dict]) -> dict:
    """The load of several processes as one: counts added, latencies from the merged histogram."""
    histogram = latency_histogram()
    for part in parts:
        histogram.add(HdrHistogram.decode(part["histogram"].encode("ascii")))
    elapsed = max(p["elapsed_s"] for p in parts)
    total = {key: sum(p[key] for p in parts) for key in ("complete", "ok", "failed", "non_2xx")}
    errors: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for part in parts:
        for k, v in part["errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in part["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        **total,
        "processes": len(parts),
        "concurrency": sum(p["concurrency"] for p in parts),
        "elapsed_s": elapsed,
        "requests_per_s": round(total["complete"] / elapsed, 1),
        "ok_per_s": round(total["ok"] / elapsed, 1),
        "errors": errors,
        "statuses": statuses,
        "latency_ms": summary_ms(histogram),
        "load_generator_cpu_s": round(sum(p["cpu_s"] for p in parts), 2),
    }


if __name__ == "__main__":
    sys.exit(main())
