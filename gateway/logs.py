"""Logging of the gateway: text or JSON lines, every record about a request tagged with its id.

`configure()` runs in create_app, so both `healthcode serve` and a bare
`uvicorn --factory gateway.app:create_app` get it (uvicorn sets up its own loggers before it calls
the factory; ours then replaces their handlers, so one format covers every line). The access log
is ours, one line per request on the `gateway.access` logger (run uvicorn with --no-access-log);
it never holds image data, bodies or API keys.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any, Literal, Protocol

from pythonjsonlogger.orjson import OrjsonFormatter

LogFormat = Literal["text", "json"]

# The id of the request being served in this context ("-" outside one); set by the middleware.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")
JSON_NAMES = {"asctime": "ts", "levelname": "level", "name": "logger", "exc_info": "exception"}
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

access_logger = logging.getLogger("gateway.access")


class RequestIdFilter(logging.Filter):
    """Give every record the current request id (`record.request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line: ts (UTC, ms), level, logger, message, request_id, extras."""

    converter = staticmethod(time.gmtime)
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__(list(JSON_FIELDS), rename_fields=JSON_NAMES)


class _GatewayHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now; marks the handler configure() installed."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always sys.stderr, also when something (a test) swaps it


def configure(level: str = "INFO", fmt: LogFormat = "text") -> None:
    """Send the root logger and uvicorn's loggers to stderr in `fmt`, at `level`."""
    handler = _GatewayHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _GatewayHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        # uvicorn gives its loggers their own handlers: route them through ours instead.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # ours is gateway.access


class Counted(Protocol):
    bytes_in: int


def access(
    level: int,
    method: str,
    path: str,
    usage: str | None,
    status: int,
    latency_s: float,
    exchange: Counted,
    error_code: str | None,
) -> None:
    """The access line of one request (the caller checked the level is enabled)."""
    latency_ms = round(latency_s * 1000, 1)
    access_logger.log(
        level,
        "%s %s %d %.1f ms %d B%s",
        method,
        path,
        status,
        latency_ms,
        exchange.bytes_in,
        f" {error_code}" if error_code else "",
        extra={
            "method": method,
            "path": path,
            "usage": usage,
            "status": status,
            "latency_ms": latency_ms,
            "bytes_in": exchange.bytes_in,
            "error_code": error_code,
        },
    )


# Probes and scrapes every few seconds: their access lines are DEBUG, not INFO.
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def access_level(path: str, status: int) -> int:
    """DEBUG for probes and scrapes that succeed, INFO for everything else."""
    return logging.DEBUG if path in _QUIET and status < 400 else logging.INFO
