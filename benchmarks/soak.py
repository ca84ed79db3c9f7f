"""Overload and soak runs against `healthcode serve`, with the memory of every process sampled.

    python -m benchmarks.soak [--overload-clients 2000] [--soak-requests 100000]   (make soak)

1. Overload: a closed loop far past what two cores serve (default 2,000 clients). Every answer
   must be a 200 or a clean 503 with Retry-After, and the gateway's memory must stay bounded.
2. Soak: a long closed-loop run at a sustainable concurrency. 0 failures; the RSS of the
   gateway, tritonserver and its python stubs must stay flat.
RSS is read from /proc every second for the whole process tree ("web" is the gateway and the
launcher). Writes
benchmarks/results/<timestamp>-soak.json and a PNG plot of RSS over time.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path

import orjson

from benchmarks import procstat, systems
from benchmarks.run import RESULTS, machine
from clients.loadtest.bench import build_requests, summary
from clients.loadtest.loadgen import LoadConfig, LoadGenerator

ROLES = ("web", "tritonserver", "python stubs")


class Sampler(threading.Thread):
    """Samples the resident memory of each role every interval until stopped."""

    def __init__(self, root: int, interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.root, self.interval_s = root, interval_s
        self.samples: list[dict] = []
        self.started = time.monotonic()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval_s):
            sample = procstat.rss_mb_by_role(self.root)
            self.samples.append({"t_s": round(time.monotonic() - self.started, 1), **sample})

    def mark(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def stop(self) -> list[dict]:
        self._done.set()
        self.join()
        return self.samples


def run_phase(url: str, prepared: list[bytes], **config: object) -> dict:
    cfg = LoadConfig(url=url, timeout_s=120, **config)  # type: ignore[arg-type]
    stats = asyncio.run(LoadGenerator(cfg, prepared).run())
    return summary(cfg, stats, len(prepared))


def rss_stats(samples: list[dict], start: float, end: float) -> dict:
    window = [s for s in samples if start <= s["t_s"] <= end]
    out = {}
    for role in ROLES:
        values = [s.get(role, 0.0) for s in window] or [0.0]
        tenth = max(1, len(values) // 10)
        first, last = sum(values[:tenth]) / tenth, sum(values[-tenth:]) / tenth
        out[role] = {
            "first_10pct_mb": round(first, 1),
            "last_10pct_mb": round(last, 1),
            "peak_mb": round(max(values), 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overload-clients", type=int, default=2000)
    parser.add_argument("--overload-requests", type=int, default=20_000)
    parser.add_argument("--overload-seconds", type=float, default=120)
    parser.add_argument("--soak-requests", type=int, default=100_000)
    parser.add_argument("--soak-clients", type=int, default=16)
    parser.add_argument("--soak-seconds", type=float, default=3600)
    args = parser.parse_args(argv)

    stamp = time.strftime("%Y%m%dT%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpeg = systems.seed_jpeg()  # the benchmark's committed payload: runs stay comparable
    log = RESULTS / f"{stamp}-soak.log"
    result: dict = {"machine": machine(), "payload_bytes": len(jpeg), "phases": {}}
    with systems.gateway_triton(log) as service:
        url = f"{service.base_url}/analysis/health-code"
        prepared = build_requests(url, [("image/jpeg", jpeg)], "json")
        sampler = Sampler(service.process.pid)
        sampler.start()
        for name, config in (
            (
                "overload",
                dict(
                    requests=args.overload_requests,
                    concurrency=args.overload_clients,
                    duration_s=args.overload_seconds,
                ),
            ),
            (
                "soak",
                dict(
                    requests=args.soak_requests,
                    concurrency=args.soak_clients,
                    duration_s=args.soak_seconds,
                ),
            ),
        ):
            if not config["requests"]:
                continue
            print(f"{name}: {config}", flush=True)
            start = sampler.mark()
            phase = run_phase(url, prepared, **config)
            phase["rss"] = rss_stats(sampler.samples, start, sampler.mark())
            result["phases"][name] = phase
            print(orjson.dumps(phase, option=orjson.OPT_INDENT_2).decode(), flush=True)
        result["rss_samples"] = sampler.stop()
    out = RESULTS / f"{stamp}-soak.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    plot(result["rss_samples"], RESULTS / f"{stamp}-soak-rss.png")
    print(f"wrote {out}")
    return 0


def plot(samples: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for role in ROLES:
        ax.plot([s["t_s"] for s in samples], [s.get(role, 0.0) for s in samples], label=role)
    ax.set_xlabel("seconds")
    ax.set_ylabel("resident memory, MB")
    ax.set_title("healthcode serve under overload, then soak")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
