"""Client-side subcommands of `healthcode`: `analyze` and `bench` (the load generator)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx
import orjson

from clients import bench
from clients.client import HealthCodeClient, HealthCodeError

DEFAULT_URL = "http://127.0.0.1:8080"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the client subcommands to the `healthcode` parser."""
    p = sub.add_parser("analyze", help="recognise health-code images")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--usage", default="health-code")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(
        run=lambda args: asyncio.run(analyze(args.files, args.url, args.usage, args.json))
    )
    b = sub.add_parser(
        "bench",
        help="load generator: closed loop (-c) or open loop (--rate), ab-style summary",
        description="Send POST /analysis/{usage} requests; 127.0.0.1 by default.",
    )
    bench.add_arguments(b, DEFAULT_URL)
    b.set_defaults(run=bench.run_bench)


async def analyze(files: list[Path], url: str, usage: str, as_json: bool) -> int:
    """Print one line per file; exit status 1 if any failed."""
    failures = 0
    async with HealthCodeClient(url) as client:
        for path in files:
            try:
                result = await client.analyze(path, usage)
            except (HealthCodeError, OSError, httpx.HTTPError) as e:
                failures += 1
                line = {"file": str(path), "error": str(e)}
                print(orjson.dumps(line).decode() if as_json else f"{path}\terror\t{e}")
                continue
            if as_json:
                print(orjson.dumps({"file": str(path), **result.__dict__}).decode())
            else:
                print(f"{path}\t{result.status}\t{result.confidence:.3f}")
    return 1 if failures else 0
