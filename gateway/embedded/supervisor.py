"""Runs the embedded tritonserver, restarts it with backoff when it dies, and cleans up after it.

tritonserver starts in its own process group. Its python-backend stubs outlive a killed server
(re-parented, deaf to SIGTERM) and leave /dev/shm regions behind, so after every exit the
supervisor SIGKILLs what is left of the group and removes that instance's shared memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from gateway.embedded import server
from gateway.lifetime import end_with_parent
from gateway.settings import Settings
from gateway.waiting import NotReady, wait_until_ok

log = logging.getLogger("healthcode.triton")

SHM_DIR = Path("/dev/shm")
BACKOFF_MAX_S = 30.0
# A server that stayed up this long was healthy: the next crash starts the backoff afresh.
HEALTHY_RUN_S = 60.0


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready in time."""


def _die_with_parent() -> None:
    """Runs in the child before exec: own process group, SIGKILL if the launcher dies."""
    os.setsid()
    end_with_parent(signal.SIGKILL)


class TritonSupervisor:
    """One embedded tritonserver: replica `replica` of settings.triton_replicas."""

    def __init__(self, settings: Settings, replica: int = 0) -> None:
        self.settings = settings
        self.replica = replica
        self._proc: asyncio.subprocess.Process | None = None
        self._stop = asyncio.Event()
        self._reaped_pid: int | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="healthcode-triton-"))
        self._backends = server.compose_backends(self._workdir / "backends")
        self._shm_prefix = f"healthcode_{os.getpid()}_{replica}_"
        self._env = server.environment()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.triton_ports(self.replica)[0]}"

    async def start(self) -> None:
        """Start tritonserver and wait until every model the gateway exposes is ready."""
        if taken := server.taken_ports(self.settings, self.replica):
            raise TritonStartError(
                f"Triton's ports are in use on 127.0.0.1: {', '.join(taken)}. Another Triton or "
                "`healthcode serve` runs here: stop it, or set the settings named to free ports"
            )
        await self._spawn()
        await self.wait_ready(self.settings.triton_start_timeout_s)

    async def _spawn(self) -> None:
        cmd = server.command(self.settings, self._backends, self._shm_prefix, self.replica)
        log.info("starting tritonserver: %s", " ".join(cmd))
        self._proc = await asyncio.create_subprocess_exec(
            *cmd, env=self._env, preexec_fn=_die_with_parent
        )

    async def wait_ready(self, timeout_s: float) -> None:
        """Until the ensembles the usages call are ready (and with them their composing models)."""
        repository = self.settings.model_repository
        models = sorted(  # per usage, the first of its families the repository holds
            next((f for f in families if (repository / f).is_dir()), families[0])
            for families in self.settings.usages.values()
        )
        urls = [f"{self.http_url}/v2/models/{m}/ready" for m in models]
        try:
            await wait_until_ok(urls, timeout_s, alive=self._running)
        except NotReady as e:
            raise TritonStartError(f"tritonserver: {e} (see its log above)") from e

    def _running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def watch(self) -> None:
        """Restart tritonserver whenever it exits, until stop() is called."""
        backoff_s = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            assert self._proc is not None, "start() comes first"
            returncode = await self._proc.wait()
            if self._stop.is_set():
                return
            self._reap()
            if time.monotonic() - started > HEALTHY_RUN_S:
                backoff_s = 1.0
            log.error(
                "tritonserver %d exited with %s; restarting in %.0f s",
                self.replica,
                returncode,
                backoff_s,
            )
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
            if self._stop.is_set():
                return
            try:
                await self._spawn()
            except OSError:  # the old, exited process stays: the loop backs off and tries again
                log.exception("cannot start tritonserver")
                continue
            log.info("tritonserver %d restarted as pid %d", self.replica, self._proc.pid)

    async def stop(self) -> None:
        """SIGTERM tritonserver (it drains in-flight requests), then SIGKILL its whole group."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.settings.drain_timeout_s + 5)
            except asyncio.TimeoutError:
                log.warning("tritonserver did not stop in time; killing it")
        self._reap()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _reap(self) -> None:
        """Kill what is left of the process group and remove its shared-memory regions."""
        # Once per process: later, the group may be gone and its id taken by someone else.
        if self._proc is not None and self._proc.pid != self._reaped_pid:
            self._reaped_pid = self._proc.pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        for region in SHM_DIR.glob(f"{self._shm_prefix}*"):
            region.unlink(missing_ok=True)
