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
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

# The id of the request being served in this context ("-" outside one); set by the middleware.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# LogRecord attributes that are not `extra` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}

access_logger = logging.getLogger("gateway.access")


class RequestIdFilter(logging.Filter):
    """Give every record the current request id (`record.request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class _GatewayHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now; marks the handler configure() installed."""

    @property  # type: ignore[override]
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
