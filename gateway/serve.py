"""`healthcode serve`: the embedded Triton replica(s), supervised, and the gateway.

The gateway runs on this process's event loop beside the supervisors, with the very Settings
object the command built, and in HEALTHCODE_WORKERS - 1 more processes sharing its listening
socket (each an event loop and a GIL of its own: one process cannot keep two cores busy with
HTTP, JSON and gRPC). The workers start while Triton loads its models (a worker's imports and app
take ~0.4 CPU-s) and serve once the models are ready, so that "ready" finds them serving.
SIGINT/SIGTERM stop the gateways first (they finish in-flight requests, for at most
drain_timeout_s), then Triton and its python stubs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import resource
import signal
import socket
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

import uvicorn
from rich.console import Console

from gateway.app import create_app
from gateway.embedded.supervisor import TritonSupervisor
from gateway.lifetime import end_with_parent
from gateway.repository import compile_python_models
from gateway.settings import Settings

console = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("healthcode.serve")
# spawn: a fork would copy this process's threads and event loop into the worker.
_SPAWN = multiprocessing.get_context("spawn")


class _Gateway(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() owns SIGINT/SIGTERM: the gateway must stop before Triton, not the process.
        yield


def _server(settings: Settings, *, own_signals: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),  # loads imaging.py and labels: a bad repository fails here, first
        access_log=False,  # ours is gateway.access
        log_config=None,  # create_app configured logging
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s),
    )
    return uvicorn.Server(config) if own_signals else _Gateway(config)


def _worker(settings: Settings, sock: socket.socket, go: Event) -> None:
    """A gateway worker process, serving once `go` is set: SIGTERM drains it, as uvicorn does."""
    import uvloop

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is serve()'s to handle
    end_with_parent(signal.SIGTERM)  # drains, then exits
    server = _server(settings, own_signals=True)
    go.wait()
    uvloop.run(server.serve(sockets=[sock]))


def _bind(settings: Settings) -> socket.socket:
    """The gateway's socket, bound but not listening: connections are refused until it listens."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


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
    try:
        gateway = _server(settings, own_signals=False)
    except (FileNotFoundError, ValueError) as e:  # the repository or a usage's families
        console.print(f"[red]healthcode cannot start:[/] {e}")
        return 1
    try:  # bound before Triton spends its seconds loading models; listening once they are ready
        sock = _bind(settings)
    except OSError as e:
        console.print(
            f"[red]the gateway cannot listen on {settings.host}:{settings.port}[/] "
            f"(HEALTHCODE_HOST, HEALTHCODE_PORT): {e.strerror}"
        )
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    compile_python_models(settings.model_repository)
    replicas = [TritonSupervisor(settings, i) for i in range(settings.triton_replicas)]
    watchers: list[asyncio.Task[None]] = []
    go = _SPAWN.Event()  # set once Triton is ready: the workers then serve
    workers: list[BaseProcess] = []
    try:
        workers += [_spawn(settings, sock, go) for _ in range(settings.workers - 1)]
        with console.status("starting Triton and loading models…"):
            started = asyncio.create_task(_start(replicas))
            await _first(started, stop)
            if not started.done():
                started.cancel()
                return 0
            started.result()
        watchers = [asyncio.create_task(replica.watch()) for replica in replicas]
        sock.listen(2048)
        go.set()
        watchers.append(asyncio.create_task(_watch(workers, settings, sock, go)))
        serving = asyncio.create_task(gateway.serve(sockets=[sock]))
        while not gateway.started and not serving.done():
            await asyncio.sleep(0.05)
        if serving.done():
            serving.result()
            console.print("[red]the gateway could not start[/]")
            return 1
        base = f"http://{settings.host}:{settings.port}"
        console.print(
            f"[bold green]healthcode is ready[/]: gateway {base} (docs {base}/docs, "
            f"{settings.workers} worker(s)), Triton gRPC {settings.triton_target}, "
            f"metrics http://127.0.0.1:{settings.triton_metrics_port}/metrics. Ctrl-C stops."
        )
        await _first(serving, stop)
        console.print("stopping…")
        for watcher in watchers:
            watcher.cancel()  # no worker is replaced from now on
        gateway.should_exit = True  # finishes in-flight requests first
        await asyncio.gather(serving, _stop_workers(workers, settings.drain_timeout_s + 5))
        return 0
    except Exception as e:
        console.print(f"[red]healthcode failed:[/] {e}")
        return 1
    finally:
        for watcher in watchers:
            watcher.cancel()
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        sock.close()
        await asyncio.gather(*(replica.stop() for replica in replicas))


def _spawn(settings: Settings, sock: socket.socket, go: Event) -> BaseProcess:
    worker = _SPAWN.Process(target=_worker, args=(settings, sock, go))
    worker.start()
    log.info("gateway worker %d started", worker.pid)
    return worker


async def _watch(
    workers: list[BaseProcess], settings: Settings, sock: socket.socket, go: Event
) -> None:
    """Replace a worker that dies (its connections are lost; the others go on serving)."""
    while True:
        await asyncio.sleep(1)
        for i, worker in enumerate(workers):
            if not worker.is_alive():
                log.error(
                    "gateway worker %s exited with %s; starting another",
                    worker.pid,
                    worker.exitcode,
                )
                workers[i] = _spawn(settings, sock, go)


async def _stop_workers(workers: list[BaseProcess], timeout_s: float) -> None:
    """SIGTERM every worker (each drains its requests), then wait for them, for `timeout_s`."""
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                worker.terminate()
    loop = asyncio.get_running_loop()
    for worker in workers:
        await loop.run_in_executor(None, worker.join, timeout_s)


async def _start(replicas: list[TritonSupervisor]) -> None:
    """Start every replica at once; until all have loaded the models."""
    await asyncio.gather(*(replica.start() for replica in replicas))


async def _first(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Until `task` ends or a stop is asked for, whichever comes first."""
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
