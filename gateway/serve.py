"""`healthcode serve`: the embedded Triton replica(s), supervised, and the gateway in this process.

The gateway runs on this process's event loop beside the supervisor, with the very Settings object
the command built. SIGINT/SIGTERM stop the gateway first (it finishes in-flight requests, for at
most drain_timeout_s), then Triton and its python stubs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import signal
from collections.abc import Iterator

import uvicorn
from rich.console import Console

from gateway.app import create_app
from gateway.embedded.supervisor import TritonSupervisor
from gateway.settings import Settings

console = Console(stderr=True, soft_wrap=True)


class _Gateway(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() owns SIGINT/SIGTERM: the gateway must stop before Triton, not the process.
        yield


async def serve(settings: Settings) -> int:
    """Start Triton and the gateway; stop both on SIGINT/SIGTERM. The exit status."""
    if settings.triton_url:
        console.print(
            "[red]HEALTHCODE_TRITON_URL names an external Triton, but `healthcode serve` runs "
            "its own:[/] unset it, or run the gateway alone: "
            "uvicorn --factory gateway.app:create_app"
        )
        return 2
    # One socket per client connection: let the gateway use all the descriptors it may.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    config = uvicorn.Config(
        create_app(settings),  # loads imaging.py and labels: a bad repository fails here, first
        host=settings.host,
        port=settings.port,
        access_log=False,  # ours is gateway.access
        log_config=None,  # create_app configured logging
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s),
    )
    gateway = _Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    replicas = [TritonSupervisor(settings, i) for i in range(settings.triton_replicas)]
    watchers: list[asyncio.Task[None]] = []
    try:
        with console.status("starting Triton and loading models…"):
            started = asyncio.create_task(_start(replicas))
            await _first(started, stop)
            if not started.done():
                started.cancel()
                return 0
            started.result()
        watchers = [asyncio.create_task(replica.watch()) for replica in replicas]
        serving = asyncio.create_task(gateway.serve())
        while not gateway.started and not serving.done():
            await asyncio.sleep(0.05)
        if serving.done():
            serving.result()
            console.print("[red]the gateway could not start[/]")
            return 1
        base = f"http://{settings.host}:{settings.port}"
        console.print(
            f"[bold green]healthcode is ready[/]: gateway {base} (docs {base}/docs), "
            f"Triton gRPC {settings.triton_target}, "
            f"metrics http://127.0.0.1:{settings.triton_metrics_port}/metrics. Ctrl-C stops."
        )
        await _first(serving, stop)
        console.print("stopping…")
        gateway.should_exit = True  # finishes in-flight requests first
        await serving
        return 0
    except Exception as e:
        console.print(f"[red]healthcode failed:[/] {e}")
        return 1
    finally:
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*(replica.stop() for replica in replicas))


async def _start(replicas: list[TritonSupervisor]) -> None:
    """Start every replica at once; until all have loaded the models."""
    await asyncio.gather(*(replica.start() for replica in replicas))


async def _first(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Until `task` ends or a stop is asked for, whichever comes first."""
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
