"""A minimal HTTP/1.1 keep-alive connection for the load generator: one socket, reused.

A load generator spends its CPU on the client side of the same machine, so it speaks just enough
HTTP (Content-Length or chunked bodies, Connection: close) and keeps no per-request objects.
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass
from urllib.parse import urlsplit


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 we can read."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host:port/path URLs are supported, got {url!r}")
        return cls(parts.hostname, parts.port or 80, parts.path or "/")


def build_request(target: Target, body: bytes, content_type: str) -> bytes:
    """The whole request as bytes, built once per payload and sent as is."""
    head = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "User-Agent: healthcode-bench\r\nAccept: */*\r\n\r\n"
    )
    return head.encode("ascii") + body


def error_kind(exc: BaseException) -> str:
    """A short name for a failure, as the summary counts them."""
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return "reset"
    if isinstance(exc, ProtocolError | asyncio.LimitOverrunError | ValueError):
        return "protocol"
    if isinstance(exc, OSError):
        if exc.errno == errno.EMFILE or exc.errno == errno.ENFILE:
            return "too_many_open_files"
        if exc.errno == errno.EADDRNOTAVAIL:
            return "ports_exhausted"
        return "connect"
    return type(exc).__name__


@dataclass
class Response:
    status: int
    retry_after: bool
    size: int  # bytes received, head and body


class Connection:
    """One keep-alive connection; reconnects after a close or an error."""

    def __init__(self, target: Target, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, data: bytes) -> Response:
        reused = self._writer is not None
        try:
            return await asyncio.wait_for(self._exchange(data), self.timeout_s)
        except asyncio.IncompleteReadError as e:
            self.close()
            if not (reused and not e.partial):
                raise
        except BaseException:
            self.close()
            raise
        # An idle keep-alive connection the server had closed: resend once on a fresh one.
        return await asyncio.wait_for(self._exchange(data), self.timeout_s)

    async def _exchange(self, data: bytes) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.target.host, self.target.port
            )
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(data)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, length, chunked, close, retry_after = _parse_head(head)
        size = len(head)
        if chunked:
            size += await _read_chunked(reader)
        elif length:
            size += len(await reader.readexactly(length))
        if close:
            self.close()
        return Response(status, retry_after, size)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _parse_head(head: bytes) -> tuple[int, int, bool, bool, bool]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    length, chunked, close, retry_after = 0, False, parts[0] == b"HTTP/1.0", False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"retry-after":
            retry_after = True
    return int(parts[1]), length, chunked, close, retry_after


async def _read_chunked(reader: asyncio.StreamReader) -> int:
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        n = int(line.split(b";", 1)[0], 16)
        size += len(line) + n + 2
        await reader.readexactly(n + 2)
        if n == 0:
            return size
