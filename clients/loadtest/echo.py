"""A local echo server for `healthcode bench --echo`: it reads each request and answers a fixed
JSON body, so the load generator's own limits (memory, sockets, CPU) can be measured without a
model behind it. It listens on 127.0.0.1 only.

    python -m clients.echo --port 8099 [--status 503 --retry-after 1] [--delay-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

BODY = b'{"usage":"health-code","status":"green","confidence":1.0,"echo":true}'
REASONS = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}


def response_bytes(status: int = 200, retry_after_s: int | None = None) -> bytes:
    extra = f"Retry-After: {retry_after_s}\r\n" if retry_after_s is not None else ""
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(BODY)}\r\n{extra}\r\n"
    )
    return head.encode("ascii") + BODY


class EchoServer:
    """Answers every request with `status` after `delay_s`; counts what it served."""

    def __init__(
        self, status: int = 200, retry_after_s: int | None = None, delay_s: float = 0.0
    ) -> None:
        self.answer = response_bytes(status, retry_after_s)
        self.delay_s = delay_s
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(self.answer)
                await writer.drain()
                self.served += 1
        writer.close()

    async def start(self, port: int = 0) -> asyncio.Server:
        return await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=4096)


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop where it is installed (it is with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result


async def _main(args: argparse.Namespace) -> None:
    server = await EchoServer(args.status, args.retry_after, args.delay_ms / 1e3).start(args.port)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--retry-after", type=int)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(_main(args))
