"""`healthcode` command line: `serve` runs Triton and the gateway; `analyze` sends images."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path

import httpx
import orjson
from rich.console import Console

from clients import cli as clients_cli
from gateway.settings import Settings

console = Console(stderr=True, soft_wrap=True)


async def _wait_http(url: str, timeout_s: float, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as http:
        while proc.returncode is None:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateway exited with code {proc.returncode} while starting")


async def serve(settings: Settings) -> int:
    """Start Triton (supervised) and the gateway; stop both on SIGINT/SIGTERM."""
    from gateway.triton.supervisor import TritonSupervisor

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # One socket per client connection: let the gateway use all the descriptors it may.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    triton = TritonSupervisor(settings)
    gateway: asyncio.subprocess.Process | None = None
    watcher: asyncio.Task | None = None
    try:
        with console.status("starting Triton and loading models…"):
            await triton.start()
        watcher = asyncio.create_task(triton.watch())
        gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", "--factory", "gateway.app:create_app",
            "--host", settings.host, "--port", str(settings.port), "--no-access-log",
            "--timeout-graceful-shutdown", str(math.ceil(settings.drain_timeout_s)),
            env={**os.environ, **_as_env(settings), "HEALTHCODE_TRITON_URL": triton.grpc_url},
            start_new_session=True,  # our signals, not the terminal's, decide when it stops
        )  # fmt: skip
        base = f"http://{settings.host}:{settings.port}"
        await _wait_http(f"{base}/healthz", 60, gateway)
        console.print(
            f"[bold green]healthcode is ready[/]: gateway {base} (docs {base}/docs), "
            f"Triton gRPC 127.0.0.1:{settings.triton_grpc_port}, "
            f"metrics http://127.0.0.1:{settings.triton_metrics_port}/metrics. Ctrl-C stops."
        )
        gateway_exit = asyncio.create_task(gateway.wait())
        await asyncio.wait(
            [gateway_exit, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED"
        )
        if gateway.returncode is not None:
            console.print(f"[red]the gateway exited with code {gateway.returncode}[/]")
            return 1
        console.print("stopping…")
        return 0
    except Exception as e:
        console.print(f"[red]healthcode failed to start:[/] {e}")
        return 1
    finally:
        if gateway is not None and gateway.returncode is None:
            gateway.send_signal(signal.SIGTERM)  # uvicorn finishes in-flight requests first
            try:
                await asyncio.wait_for(gateway.wait(), settings.drain_timeout_s + 5)
            except asyncio.TimeoutError:
                gateway.kill()
        if watcher is not None:
            watcher.cancel()
        await triton.stop()


def _as_env(settings: Settings) -> dict[str, str]:
    """Settings for the gateway process, passed the way users set them: HEALTHCODE_* variables."""
    data = settings.model_dump(mode="json")
    return {
        f"HEALTHCODE_{k.upper()}": v if isinstance(v, str) else orjson.dumps(v).decode()
        for k, v in data.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthcode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run embedded Triton and the gateway")
    p_serve.add_argument("--host", help="gateway address (HEALTHCODE_HOST)")
    p_serve.add_argument("--port", type=int, help="gateway port (HEALTHCODE_PORT)")
    p_serve.add_argument("--model-repository", type=Path, help="(HEALTHCODE_MODEL_REPOSITORY)")
    p_serve.set_defaults(run=_serve)
    p_pub = sub.add_parser("publish", help="add a classifier version to the model repository")
    p_pub.add_argument("onnx", type=Path, help="the new model.onnx")
    p_pub.add_argument("--model-repository", type=Path, help="(HEALTHCODE_MODEL_REPOSITORY)")
    p_pub.add_argument("--version", type=int, help="default: the highest version + 1")
    p_pub.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    p_pub.set_defaults(run=_publish)
    clients_cli.register(sub)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return args.run(args)


def _serve(args: argparse.Namespace) -> int:
    overrides = {k: v for k in ("host", "port", "model_repository") if (v := getattr(args, k))}
    return asyncio.run(serve(Settings(**overrides)))


def _publish(args: argparse.Namespace) -> int:
    from gateway.publish import PublishError, publish

    repository = args.model_repository or Settings().model_repository
    try:
        version = publish(args.onnx, repository, version=args.version, check=not args.no_check)
    except (PublishError, OSError) as e:
        console.print(f"[red]not published:[/] {e}")
        return 1
    console.print(
        f"published {args.onnx} as version {version}; Triton picks it up at its next poll"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
