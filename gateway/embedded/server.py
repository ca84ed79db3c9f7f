"""The nvidia-pytriton wheel's tritonserver: its backend folder, command line and environment."""

from __future__ import annotations

import math
import os
import shutil
import socket
import sys
import sysconfig
from pathlib import Path

from gateway import tracing
from gateway.settings import Settings

PROJECT_BACKENDS = Path(__file__).resolve().parent / "backends"
# Triton must let the gateway ping every 2 s, calls or not (gateway.triton_client: keepalive);
# by default it takes pings more often than every 5 minutes as misbehaviour and hangs up.
# docker-compose.yml and deploy/k8s pass the same flags (a test checks).
KEEPALIVE_ARGS = (
    "--grpc-keepalive-permit-without-calls=1",
    "--grpc-http2-min-recv-ping-interval-without-data=1000",
    "--grpc-http2-max-ping-strikes=0",
)


class EmbeddedTritonError(RuntimeError):
    """The embedded server cannot be set up on this machine."""


def wheel_root() -> Path:
    """The wheel's `tritonserver` folder (bin/, backends/python, python_backend_stubs/)."""
    try:
        from pytriton.utils import distribution
    except ImportError as e:
        raise EmbeddedTritonError(
            "the embedded Triton comes from the nvidia-pytriton wheel (Linux x86_64 only); "
            "install the project with `make install`"
        ) from e
    root: Path = distribution.get_root_module_path() / "tritonserver"
    if not (root / "bin" / "tritonserver").is_file():
        raise EmbeddedTritonError(f"no tritonserver binary under {root}")
    return root


def compose_backends(dest: Path) -> Path:
    """Fill `dest` with the wheel's python backend, this Python's stub and our onnxruntime backend.

    Triton refuses a backend library whose real path lies outside the backend folder, so the
    backend files are copied; the stub stays a link (its RPATH is relative to its real place).
    """
    from pytriton.utils import distribution

    root = wheel_root()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = distribution.get_stub_path(version)
    if not stub.is_file():
        raise EmbeddedTritonError(f"the wheel has no python-backend stub for Python {version}")
    python = dest / "python"
    python.mkdir(parents=True, exist_ok=True)
    for source in (root / "backends" / "python").glob("*.*"):
        shutil.copy2(source, python)
    (python / stub.name).symlink_to(stub)
    for backend in PROJECT_BACKENDS.iterdir():
        if (backend / "model.py").is_file():
            (dest / backend.name).mkdir()
            shutil.copy2(backend / "model.py", dest / backend.name)
    return dest


def taken_ports(settings: Settings, replica: int = 0) -> list[str]:
    """Replica `replica`'s ports that something already listens on, each with its setting.

    Tested as Triton binds (SO_REUSEADDR: a closed connection's TIME_WAIT does not count). A
    taken port matters beyond Triton's own failure to bind: another Triton answering there would
    pass the readiness check, and the gateway would serve from it.
    """
    names = (
        "HEALTHCODE_TRITON_HTTP_PORT",
        "HEALTHCODE_TRITON_GRPC_PORT",
        "HEALTHCODE_TRITON_METRICS_PORT",
    )
    taken = []
    for port, name in zip(settings.triton_ports(replica), names, strict=True):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(f"{port} ({name})")
    return taken


def command(settings: Settings, backend_dir: Path, shm_prefix: str, replica: int = 0) -> list[str]:
    """The command line of replica `replica`; all ports on loopback (clients reach the gateway)."""
    http_port, grpc_port, metrics_port = settings.triton_ports(replica)
    return [
        str(wheel_root() / "bin" / "tritonserver"),
        f"--model-repository={settings.model_repository.resolve()}",
        f"--backend-directory={backend_dir}",
        "--model-control-mode=poll",
        f"--repository-poll-secs={settings.repository_poll_s}",
        # A broken model must not take the server (and the models that load) down with it.
        "--exit-on-error=false",
        "--strict-readiness=false",
        "--http-address=127.0.0.1",
        f"--http-port={http_port}",
        "--grpc-address=127.0.0.1",
        f"--grpc-port={grpc_port}",
        "--metrics-address=127.0.0.1",
        f"--metrics-port={metrics_port}",
        "--allow-cpu-metrics=true",
        # Named regions let the supervisor remove exactly this instance's leftovers after a crash.
        f"--backend-config=python,shm-region-prefix-name={shm_prefix}",
        f"--exit-timeout-secs={math.ceil(settings.drain_timeout_s)}",
        f"--log-verbose={settings.triton_log_verbose}",
        *KEEPALIVE_ARGS,
        # With tracing on, Triton exports its own spans, children of the gateway's call.
        *tracing.triton_args(settings.otlp_endpoint),
    ]


def environment() -> dict[str, str]:
    """The stub processes must see this virtualenv's packages and this Python's libpython.

    A stub runs an isolated interpreter (`sys.flags.isolated`): PYTHONPATH and every other PYTHON*
    variable are ignored. It takes the first `python` on PATH as its sys.executable, and with it
    that environment's site-packages, so this Python's folder goes first.
    """
    from pytriton.utils import distribution

    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # The wheel's libraries (needed by the copied backend library) and this Python's libpython.
    libdirs = [str(distribution.get_libs_path()), sysconfig.get_config_var("LIBDIR") or ""]
    libdirs.append(env.get("LD_LIBRARY_PATH", ""))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in libdirs if p)
    return env
