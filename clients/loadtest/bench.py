"""`healthcode bench`: payloads, the run with a live progress bar, an ab-style summary, --json."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from clients.loadtest.echo import run_fast
from clients.loadtest.loadgen import LoadConfig, LoadGenerator, LoadStats, peak_rss_mb, summary_ms
from clients.loadtest.rawhttp import Target, build_request
from clients.media import IMAGE_SUFFIXES, content_type

MAX_FOLDER_FILES = 1000  # payloads stay in memory: bound them


def load_payloads(paths: list[Path]) -> list[tuple[str, bytes]]:
    """Images from files and folders (JPEG/PNG; at most MAX_FOLDER_FILES a folder)."""
    found: list[tuple[str, bytes]] = []
    for path in paths:
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files = images[:MAX_FOLDER_FILES]
        else:
            files = [path]
        found += [(str(p), p.read_bytes()) for p in files]
    if not found:
        raise ValueError("no payloads: give image files or a folder of them")
    return found


def build_requests(url: str, payloads: list[tuple[str, bytes]], body: str) -> list[bytes]:
    """One pre-built request per payload: the raw image, or the seed's {"base64": ...} JSON."""
    target = Target.parse(url)
    out = []
    for _, data in payloads:
        if body == "json":
            json_body = b'{"base64": "%s"}' % base64.b64encode(data)
            out.append(build_request(target, json_body, "application/json"))
        else:
            out.append(build_request(target, data, content_type(data)))
    return out


def summary(config: LoadConfig, stats: LoadStats, payloads: int) -> dict[str, Any]:
    """Everything the run measured, as plain data (what --json prints)."""
    elapsed = max(stats.elapsed_s, 1e-9)
    mode = "open" if config.rate is not None else "closed"
    return {
        "url": config.url,
        "mode": mode,
        "concurrency": config.concurrency,
        "rate_target": config.rate,
        "payloads": payloads,
        "elapsed_s": round(stats.elapsed_s, 3),
        "complete": stats.complete,
        "ok": stats.ok,
        "failed": stats.failed,
        "errors": dict(stats.errors),
        "non_2xx": sum(stats.statuses.values()),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "retry_after_503": stats.retry_after_503,
        "late_starts": stats.late_starts,
        "requests_per_s": round(stats.complete / elapsed, 2),
        "ok_per_s": round(stats.ok / elapsed, 2),
        "received_kb_per_s": round(stats.bytes_received / 1024 / elapsed, 2),
        "sent_kb_per_s": round(stats.bytes_sent / 1024 / elapsed, 2),
        "latency_ms": summary_ms(stats.latency),
        "latency_from": "intended send time" if mode == "open" else "send time",
        "client_rss_mb": {str(k): v for k, v in sorted(stats.rss_mb.items())},
        "client_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary in ab's spirit, for people."""
    errors = ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items())) or "none"
    statuses = ", ".join(f"{k}: {v}" for k, v in s["statuses"].items()) or "none"
    mode = (
        f"open loop, {s['rate_target']:g} requests/s, at most {s['concurrency']} in flight"
        if s["mode"] == "open"
        else f"closed loop, concurrency {s['concurrency']}"
    )
    lat = s["latency_ms"]
    rss = ", ".join(f"{int(k):,}: {v:.0f} MB" for k, v in s["client_rss_mb"].items())
    lines = [
        f"URL:                    {s['url']}",
        f"Mode:                   {mode} ({s['payloads']} payloads)",
        f"Time taken for tests:   {s['elapsed_s']:.3f} seconds",
        f"Complete requests:      {s['complete']}",
        f"Failed requests:        {s['failed']} ({errors})",
        f"Non-2xx responses:      {s['non_2xx']} ({statuses}; 503 with Retry-After: "
        f"{s['retry_after_503']})",
        f"Requests per second:    {s['requests_per_s']:.2f} [#/sec] (mean)",
        f"Transfer rate:          {s['received_kb_per_s']:.2f} [Kbytes/sec] received, "
        f"{s['sent_kb_per_s']:.2f} sent",
        f"Latency (ms, from {s['latency_from']}):",
        "  " + "  ".join(f"{k} {v:.1f}" for k, v in lat.items()),
        f"Client RSS:             {rss} (peak {s['client_peak_rss_mb']:.0f} MB)",
    ]
    if s["mode"] == "open":
        lines.insert(6, f"Late starts:            {s['late_starts']} (all slots busy)")
    return "\n".join(lines)


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    """A local echo server in a child process (so its memory is not the client's)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.loadtest.echo"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("ready "):
            raise RuntimeError("the echo server did not start")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def run_load(config: LoadConfig, requests: list[bytes], progress: bool) -> LoadStats:
    gen = LoadGenerator(config, requests)
    if not progress:
        return await gen.run()
    total = config.requests
    bar = Progress(
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}  {task.fields[rate]}  {task.fields[bad]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("bench", total=total, rate="", bad="")

    def update(stats: LoadStats) -> None:
        elapsed = max(1e-9, asyncio.get_running_loop().time() - started)
        bad = stats.failed + sum(stats.statuses.values())
        rate = f"{stats.complete / elapsed:,.0f} req/s"
        bar.update(task, completed=stats.done, rate=rate, bad=f"{bad:,} failed/non-2xx")

    started = asyncio.get_running_loop().time()
    with bar:
        return await gen.run(update)


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of `healthcode bench`; exit status 1 when any request failed."""
    payloads = load_payloads(args.payloads)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(echo_server()) if args.echo else args.url
        url = f"{base.rstrip('/')}/analysis/{args.usage}"
        config = LoadConfig(
            url=url,
            requests=args.requests,
            duration_s=args.duration,
            concurrency=args.concurrency,
            rate=args.rate,
            timeout_s=args.timeout,
        )
        requests = build_requests(url, payloads, args.body)
        stats = run_fast(run_load(config, requests, args.progress and sys.stderr.isatty()))
    result = summary(config, stats, len(payloads))
    print(orjson.dumps(result).decode() if args.json else format_summary(result))
    return 1 if stats.failed else 0


def add_arguments(p: argparse.ArgumentParser, default_url: str) -> None:
    p.add_argument("payloads", nargs="+", type=Path, help="image files or folders of them")
    p.add_argument("--url", default=default_url)
    p.add_argument("--usage", default="health-code")
    p.add_argument("-n", "--requests", type=int, default=1000, help="at most this many")
    p.add_argument("-t", "--duration", type=float, help="and for at most this many seconds")
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=8,
        help="closed loop: clients; open loop: cap on requests in flight",
    )
    p.add_argument("--rate", type=float, help="open loop: requests per second")
    p.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    p.add_argument(
        "--body",
        choices=("raw", "json"),
        default="json",
        help='json: the seed\'s {"base64": ...}; raw: the image bytes',
    )
    p.add_argument(
        "--echo", action="store_true", help="dry run: target a local echo server instead of --url"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false")
