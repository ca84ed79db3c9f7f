"""The server's `healthcode` commands: `serve` runs Triton and the gateway; `publish` adds a model.

They join the client's commands (clients.cli) through the `healthcode.commands` entry point, so the
client package never imports the server, and installs without it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from gateway.settings import Settings

console = Console(stderr=True, soft_wrap=True)


def _settings(**overrides: Any) -> Settings:
    """The settings; one that does not validate ends the command (exit 2) with its variable named,
    not a traceback."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        for error in e.errors():
            if error["loc"]:
                name = f"HEALTHCODE_{error['loc'][0]}".upper()
                console.print(f"[red]{name}={error['input']!r}:[/] {error['msg']}")
            else:  # a rule across settings
                console.print(f"[red]bad settings:[/] {error['msg']}")
        raise SystemExit(2) from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `serve` and `publish` to the `healthcode` parser."""
    p_serve = sub.add_parser("serve", help="run embedded Triton and the gateway")
    p_serve.add_argument("--host", help="gateway address (HEALTHCODE_HOST)")
    p_serve.add_argument("--port", type=int, help="gateway port (HEALTHCODE_PORT)")
    p_serve.add_argument("--model-repository", type=Path, help="(HEALTHCODE_MODEL_REPOSITORY)")
    # serve's logging is the gateway's own (gateway.logs, set up by create_app)
    p_serve.set_defaults(run=_serve, own_logging=True)
    p_pub = sub.add_parser("publish", help="add a classifier version to the model repository")
    p_pub.add_argument("onnx", type=Path, help="the new model.onnx")
    p_pub.add_argument("--model-repository", type=Path, help="(HEALTHCODE_MODEL_REPOSITORY)")
    p_pub.add_argument("--version", type=int, help="default: the highest version + 1")
    p_pub.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    p_pub.set_defaults(run=_publish)
    p_fam = sub.add_parser(
        "publish-family",
        help="add a whole model family (preprocess, classifier, ensemble) under a new name",
    )
    p_fam.add_argument("source", type=Path, help="the model repository holding the family")
    p_fam.add_argument(
        "--as", dest="name", required=True, help="its name here, e.g. health_code_v3"
    )
    p_fam.add_argument("--family", default="health_code", help="its name in the source")
    p_fam.add_argument("--model-repository", type=Path, help="(HEALTHCODE_MODEL_REPOSITORY)")
    p_fam.set_defaults(run=_publish_family)


def _serve(args: argparse.Namespace) -> int:
    overrides = {k: v for k in ("host", "port", "model_repository") if (v := getattr(args, k))}
    settings = _settings(**overrides)
    with contextlib.ExitStack() as stack:
        if settings.workers > 1 and settings.prometheus_multiproc_dir is None:
            # Several workers: prometheus-client keeps their samples in files that /metrics adds
            # up. It reads the variable when imported, so before anything imports it.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="healthcode-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
            settings = settings.model_copy(update={"prometheus_multiproc_dir": Path(folder)})
        import uvloop  # uvicorn[standard]'s event loop, as `uvicorn` itself would pick

        from gateway.serve import serve

        result: int = uvloop.run(serve(settings))
        return result


def _publish(args: argparse.Namespace) -> int:
    from gateway.publish import PublishError, publish

    repository = args.model_repository or _settings().model_repository
    try:
        version = publish(args.onnx, repository, version=args.version, check=not args.no_check)
    except (PublishError, OSError) as e:
        console.print(f"[red]not published:[/] {e}")
        return 1
    console.print(
        f"published {args.onnx} as version {version}; Triton picks it up at its next poll"
    )
    return 0


def _publish_family(args: argparse.Namespace) -> int:
    from gateway.publish import PublishError, publish_family

    repository = args.model_repository or _settings().model_repository
    try:
        publish_family(args.source, args.family, repository, args.name)
    except (PublishError, OSError) as e:
        console.print(f"[red]not published:[/] {e}")
        return 1
    console.print(
        f"published {args.family} of {args.source} as {args.name}; usages that list it first "
        "move to it once Triton has loaded it"
    )
    return 0
