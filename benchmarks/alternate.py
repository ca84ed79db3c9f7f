"""`python -m benchmarks.alternate`: systems side by side, alternating, medians of the rounds.

The way benchmarks/NOTES.md compares two designs on shared cores that drift by ~20% within an
hour: each round starts every system in turn, warms it up, runs `ab` with the seed's JSON body
(or --image's), reads the CPU every process of the system spent from /proc, and stops it. The
medians over the rounds are the result. `ab` opens a connection a request (HTTP/1.0);
`--keep-alive` loads every system with wrk over HTTP/1.1 connections kept open instead.

    python -m benchmarks.alternate --rounds 3 -c 20 -n 2000 \\
        --system before=serve@../before --system after=serve \\
        --system triton-decodes=serve+HEALTHCODE_DECODE=triton --system peer2=peer:2

A system is `serve[@TREE][+VAR=VALUE...]` (`healthcode serve` from a checkout, this one by
default, with settings) or `peer:N` (the harness's in-process peer, N uvicorn workers). `+trace`
points HEALTHCODE_OTLP_ENDPOINT at a collector stand-in in this process (benchmarks/otlp_sink.py);
`+raw` sends it the image itself as an `image/jpeg` body instead of base64 JSON.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import procstat, systems
from benchmarks.otlp_sink import running_sink
from gateway.local_service import free_ports

RESULTS = Path(__file__).resolve().parent / "results"
WARM_UP_REQUESTS = 300
WARM_UP_S = 2


@dataclass
class System:
    name: str
    tree: Path = systems.REPO
    env: dict[str, str] = field(default_factory=dict)
    peer_workers: int = 0  # > 0: the in-process peer instead of `healthcode serve`
    trace: bool = False
    raw: bool = False  # the image as an image/jpeg body, not base64 JSON


def parse_system(text: str) -> System:
    """NAME=serve[@TREE][+VAR=VALUE...][+trace][+raw] or NAME=peer:N."""
    name, sep, spec = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=SPEC, got {text!r}")
    if spec.startswith("peer:"):
        workers = int(spec.removeprefix("peer:"))
        if workers < 1:
            raise ValueError(f"{name}: a peer needs at least 1 worker")
        return System(name, peer_workers=workers)
    head, *extras = spec.split("+")
    kind, _, tree = head.partition("@")
    if kind != "serve":
        raise ValueError(f"{name}: a system is serve[@TREE][+VAR=VALUE...] or peer:N, not {spec!r}")
    system = System(name, tree=Path(tree).resolve() if tree else systems.REPO)
    for extra in extras:
        if extra in ("trace", "raw"):
            setattr(system, extra, True)
        elif "=" in extra:
            var, value = extra.split("=", 1)
            system.env[var] = value
        else:
            raise ValueError(f"{name}: {extra!r} is neither VAR=VALUE, trace nor raw")
    return system


@contextlib.contextmanager
def started(system: System, log: Path, otlp: str) -> Iterator[tuple[str, int]]:
    """The system on a free port: (base URL, the pid whose process tree is the system)."""
    if system.peer_workers:
        with systems.uvicorn_app(
            "benchmarks.inprocess_service:app", system.peer_workers, log
        ) as running:
            yield running
        return
    # Triton's ports too: on the defaults it would meet any `make serve` running here.
    ports, stride = free_ports(int(system.env.get("HEALTHCODE_TRITON_REPLICAS", "1")))
    # Checkouts from before the restructuring (issue 12) have no gateway/__main__.py.
    module = "gateway" if (system.tree / "gateway" / "__main__.py").exists() else "gateway.cli"
    env = {
        **os.environ,
        "PYTHONPATH": str(system.tree),
        "HEALTHCODE_HOST": "127.0.0.1",
        **{f"HEALTHCODE_{name}": str(port) for name, port in ports.items()},
        "HEALTHCODE_TRITON_PORT_STRIDE": str(stride),
        "HEALTHCODE_MODEL_REPOSITORY": str(system.tree / "model_repository"),
        **({"HEALTHCODE_OTLP_ENDPOINT": otlp} if system.trace else {}),
        **system.env,
    }
    base = f"http://127.0.0.1:{ports['PORT']}"
    cmd = [sys.executable, "-m", module, "serve"]
    with systems.process(cmd, env, f"{base}/readyz", log, cwd=system.tree) as proc:
        yield base, proc.pid


def measure(
    system: System, bodies: Path, n: int, c: int, log: Path, otlp: str, keep_alive: bool = False
) -> dict:
    """One run of `system`; `bodies` holds health.json and health.jpg."""
    body = bodies / ("health.jpg" if system.raw else "health.json")
    kind = "image/jpeg" if system.raw else "application/json"
    with started(system, log, otlp) as (base, pid):
        url = f"{base}/analysis/health-code"
        if keep_alive:  # wrk runs for a time: as long as n requests took in the warm-up
            rate = systems.run_wrk(url, body, WARM_UP_S, c=c, content_type=kind)["requests_per_s"]
            before = procstat.cpu_s_by_role(pid)
            result = systems.run_wrk(
                url, body, math.ceil(n / max(rate, 1.0)), c=c, content_type=kind
            )
        else:
            systems.run_ab(url, body, n=WARM_UP_REQUESTS, c=c, content_type=kind)
            before = procstat.cpu_s_by_role(pid)
            result = systems.run_ab(url, body, n=n, c=c, content_type=kind)
        after = procstat.cpu_s_by_role(pid)
    result["cpu_ms_per_request"] = procstat.cpu_ms_per_request(before, after, result["complete"])
    return result


def medians(runs: list[dict]) -> dict:
    """Per system: the medians of requests/s, p99 and CPU-ms per request (each role and all)."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["system"] for r in runs):
        mine = [r for r in runs if r["system"] == name]
        roles = dict.fromkeys(k for r in mine for k in r["cpu_ms_per_request"])
        out[name] = {
            "rounds": len(mine),
            "failed": int(sum(r["failed"] + r["non_2xx"] for r in mine)),
            "requests_per_s": statistics.median(r["requests_per_s"] for r in mine),
            "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in mine),
            "cpu_ms_per_request": {
                k: round(statistics.median(r["cpu_ms_per_request"].get(k, 0.0) for r in mine), 2)
                for k in roles
            },
        }
    return out


def table(summary: dict) -> str:
    roles = list(dict.fromkeys(k for s in summary.values() for k in s["cpu_ms_per_request"]))
    lines = [
        "| system | requests/s | p99 ms | failed | "
        + " | ".join(f"CPU-ms {r}" for r in roles)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(roles),
    ]
    for name, s in summary.items():
        cpu = " | ".join(f"{s['cpu_ms_per_request'].get(r, 0.0):.2f}" for r in roles)
        lines.append(
            f"| {name} | {s['requests_per_s']:.1f} | {s['p99_ms']:.0f} | {s['failed']} | {cpu} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.alternate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--system", action="append", required=True, help="NAME=SPEC; 2 or more")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-n", type=int, default=2000, help="requests per measured run")
    p.add_argument("-c", type=int, default=20, help="concurrency")
    p.add_argument("--out", type=Path, help="JSON results (default: benchmarks/results/<stamp>)")
    p.add_argument("--image", type=Path, help="the image sent (default: the seed JPEG)")
    p.add_argument(
        "--keep-alive",
        action="store_true",
        help="load with wrk over HTTP/1.1 connections kept open, not ab's connection a request",
    )
    args = p.parse_args(argv)
    try:
        chosen = [parse_system(s) for s in args.system]
    except ValueError as e:
        p.error(str(e))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = args.out or RESULTS / f"{stamp}-alternate-c{args.c}.json"
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp, running_sink() as sink:
        bodies = Path(tmp)
        image = args.image.read_bytes() if args.image else systems.seed_jpeg()
        (bodies / "health.jpg").write_bytes(image)
        payload = {"base64": base64.b64encode(image).decode()}
        (bodies / "health.json").write_text(json.dumps(payload))
        for round_ in range(1, args.rounds + 1):
            for system in chosen:
                log = Path(tmp) / f"{system.name}-{round_}.log"
                r = measure(system, bodies, args.n, args.c, log, sink.url, args.keep_alive)
                r.update(system=system.name, round=round_)
                runs.append(r)
                print(
                    f"round {round_} {system.name}: {r['requests_per_s']:.1f} req/s, "
                    f"p99 {r['latency_ms']['p99']:.0f} ms, failed {r['failed']:.0f}, "
                    f"CPU-ms {r['cpu_ms_per_request']}",
                    flush=True,
                )
    summary = medians(runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.alternate " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    out.write_text(json.dumps({"command": command, "runs": runs, "medians": summary}, indent=2))
    tool = "wrk (kept-alive connections)" if args.keep_alive else "ab"
    print(f"\nmedians of {args.rounds} rounds, {tool} -n {args.n} -c {args.c} ({out}):\n")
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
