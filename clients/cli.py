"""`healthcode`: the client's commands (`analyze`, `bench`), and the server's where it is installed.

The server's commands (`serve`, `publish`) join through the `healthcode.commands` entry point:
this package never imports the server, so `pip install healthcode` (the SDK alone) gives a
working `healthcode analyze` and `healthcode bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import orjson

from clients.client import DEFAULT_URL, HealthCodeClient, HealthCodeError
from clients.loadtest import bench

PLUGIN_GROUP = "healthcode.commands"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="healthcode", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="recognise health-code images")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--usage", default="health-code")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=lambda a: asyncio.run(analyze(a.files, a.url, a.usage, a.json)))
    b = sub.add_parser(
        "bench",
        help="load generator: closed loop (-c) or open loop (--rate), ab-style summary",
        description="Send POST /analysis/{usage} requests; 127.0.0.1 by default.",
    )
    bench.add_arguments(b, DEFAULT_URL)
    b.set_defaults(run=bench.run_bench)
    for plugin in entry_points(group=PLUGIN_GROUP):
        try:
            register = plugin.load()
        except ImportError:  # the server's extra is not installed: its commands are absent
            continue
        register(sub)
    return top


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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "own_logging", False):
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
