"""Side-by-side benchmark: the old service, the best in-process peer and gateway+Triton.

    python -m benchmarks.run [--quick]       (make bench / make bench BENCH_ARGS=--quick)

One machine, one run: the decode-only ceiling; the seed's exact ab workload (and ab -c 1)
against the old service (async/sync, 1/2/4 workers), the in-process peer (1/2/4 workers) and
gateway+Triton with either decode setting, with the CPU milliseconds per request of every
process; closed-loop sweeps and an open-loop run with `healthcode bench`'s load generator; a
py-spy flame graph of every Python process under load. Writes
benchmarks/results/<timestamp>.{json,md}, PNG plots and SVG profiles.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks import procstat, profile, report, systems
from benchmarks.report import GATEWAY, GATEWAY_TRITON_DECODE, PEER
from clients.loadtest.bench import build_requests, summary
from clients.loadtest.loadgen import LoadConfig, LoadGenerator

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def load(url: str, prepared: list[bytes], **kwargs: object) -> dict:
    config = LoadConfig(url=url, timeout_s=120, **kwargs)  # type: ignore[arg-type]
    stats = asyncio.run(LoadGenerator(config, prepared).run())
    return summary(config, stats, len(prepared))


def ab_with_cpu(url: str, body: Path, pid: int) -> dict:
    """The seed's ab run, plus the CPU milliseconds per request of each process of the system."""
    before = procstat.cpu_s_by_role(pid)
    result = systems.run_ab(url, body)
    after = procstat.cpu_s_by_role(pid)
    result["cpu_ms_per_request"] = procstat.cpu_ms_per_request(before, after, result["complete"])
    return result


def sweep(url: str, prepared: list[bytes], levels: list[int], seconds: float) -> list[dict]:
    out = []
    for c in levels:
        s = load(url, prepared, requests=10**7, concurrency=c, duration_s=seconds)
        print(
            f"    c={c:<4} {s['ok_per_s']:8.1f} ok/s  p99 {s['latency_ms']['p99']:.0f} ms  "
            f"failed {s['failed']}  non-2xx {s['non_2xx']}",
            flush=True,
        )
        out.append(s)
    return out


def baselines(quick: bool) -> list[tuple[str, str, int]]:
    """(name, uvicorn app, workers) of every in-process system, in the order they run."""
    old = [("async", 1), ("sync", 1), ("sync", 2), ("sync", 4)]
    if not quick:
        old[1:1] = [("async", 2), ("async", 4)]
    out = [(f"old-{form} x{n}", f"benchmarks.old_service:{form}_app", n) for form, n in old]
    return out + [
        (f"{PEER} x{n}", "benchmarks.inprocess_service:app", n)
        for n in ((1, 2) if quick else (1, 2, 4))
    ]


def measure(results: dict, name: str, url: str, body: Path, pid: int) -> None:
    """The seed's ab run (with CPU per process) and a c=1 run for unloaded latency."""
    results["ab"][name] = a = ab_with_cpu(url, body, pid)
    results["ab_c1"][name] = c1 = systems.run_ab(url, body, n=20 if results["quick"] else 100, c=1)
    print(
        f"    ab -c 20: {a['requests_per_s']:.1f} req/s, p50 {a['latency_ms']['p50']:.0f} ms, "
        f"p99 {a['latency_ms']['p99']:.0f} ms, failed {a['failed']:.0f}, "
        f"{a['cpu_ms_per_request'].get('all', 0):.1f} CPU-ms/request; "
        f"-c 1: p50 {c1['latency_ms']['p50']:.0f} ms",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer points, shorter runs (< 3 min)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    quick = args.quick
    started = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hc-bench-"))
    jpeg = systems.seed_jpeg()
    body = work / "health.json"
    body.write_bytes(b'{"base64": "' + base64.b64encode(jpeg) + b'"}')
    cores = os.cpu_count() or 1
    results: dict = {
        "timestamp": stamp,
        "quick": quick,
        "machine": machine(),
        "payload": {
            "jpeg_bytes": len(jpeg),
            "json_bytes": body.stat().st_size,
            "size": "1440x3200",
        },
        "ab": {},
        "ab_c1": {},
        "sweep": {},
        "open_loop": {},
        "profiles": [],
    }
    print(f"payload: {len(jpeg) / 1e3:.0f} KB JPEG, {body.stat().st_size / 1e3:.0f} KB JSON")
    ceiling = systems.decode_images_per_s(jpeg, 2 if quick else 5, cores)
    full = systems.full_decode_images_per_s(jpeg, 1 if quick else 3)
    results["ceiling"] = {
        "decode_images_per_s": round(ceiling, 1),
        "processes": cores,
        "full_decode_images_per_s_one_core": round(full, 1),
        "decode_ms_one_core": round(1000 * cores / ceiling, 2),
    }
    print(
        f"decode-only ceiling: {ceiling:.0f} images/s on {cores} cores "
        f"(full-size Pillow decode: {full:.1f}/s on one core)"
    )

    old_levels = [1, 4, 16] if quick else [1, 4, 16, 64]
    gw_levels = [1, 4, 16, 64, 256] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    seconds = 3.0 if quick else 10.0
    profile_s = 3.0 if quick else 10.0
    swept = {"old-async x1", "old-sync x4", f"{PEER} x2"}
    log = work / "services.log"
    for name, app, workers in baselines(quick):
        print(f"{name}:", flush=True)
        with systems.uvicorn_app(app, workers, log) as (base, pid):
            url = f"{base}/analysis/health-code"
            measure(results, name, url, body, pid)
            prepared = build_requests(url, [("seed", jpeg)], "json")
            if name in swept:
                levels = gw_levels if name.startswith(PEER) else old_levels
                results["sweep"][name] = sweep(url, prepared, levels, seconds)
            if name == f"{PEER} x2":
                with profile.flamegraphs(pid, profile_s, args.out / f"{stamp}-peer") as svgs:
                    load(url, prepared, requests=10**7, concurrency=16, duration_s=profile_s)
                results["profiles"] += [svg.name for svg in svgs]

    for name, decode in ((GATEWAY, "gateway"), (GATEWAY_TRITON_DECODE, "triton")):
        print(f"{name}: starting", flush=True)
        with systems.gateway_triton(log, decode=decode) as endpoints:
            url = f"{endpoints.base_url}/analysis/health-code"
            prepared = build_requests(url, [("seed", jpeg)], "json")
            load(url, prepared, requests=50, concurrency=8)  # warm-up
            counts = systems.triton_counts(endpoints.triton_metrics_url())
            measure(results, name, url, body, endpoints.process.pid)
            results["ab"][name]["triton_batch"] = systems.average_batch(
                counts, systems.triton_counts(endpoints.triton_metrics_url())
            )
            if name == GATEWAY or not quick:
                results["sweep"][name] = sweep(url, prepared, gw_levels, seconds)
            prefix = args.out / f"{stamp}-{decode}-decode"
            with profile.flamegraphs(endpoints.process.pid, profile_s, prefix) as svgs:
                load(url, prepared, requests=10**7, concurrency=16, duration_s=profile_s)
            results["profiles"] += [svg.name for svg in svgs]
            if name != GATEWAY:
                continue
            # 70% of what it sustained: the lower of ab's rate and the best sweep point, since on
            # shared cores one lucky sweep point would make the open loop an overload test.
            best = max(s["ok_per_s"] for s in results["sweep"][name])
            rate = max(1.0, round(0.7 * min(best, results["ab"][name]["requests_per_s"])))
            print(f"    open loop at {rate:.0f}/s", flush=True)
            results["open_loop"][name] = load(
                url,
                prepared,
                requests=10**7,
                concurrency=1024,
                rate=rate,
                duration_s=5.0 if quick else 30.0,
            )
    results["elapsed_s"] = round(time.time() - started, 1)
    (args.out / f"{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    md = report.markdown(results, stamp)
    (args.out / f"{stamp}.md").write_text(md)
    report.plots(results, args.out / stamp)
    print(md)
    print(f"wrote {args.out}/{stamp}.{{json,md}}, plots, profiles in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
