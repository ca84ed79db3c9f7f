"""Where the time goes: a py-spy flame graph of every Python process of a system under load."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks import procstat


def py_spy() -> str | None:
    """The py-spy executable of this virtualenv (the `bench` extra), or one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def flamegraphs(root: int, seconds: float, prefix: Path) -> Iterator[list[Path]]:
    """Record every Python process under `root` (all but tritonserver) while the body runs.

    Yields the list of SVGs that will exist once the block ends: <prefix>-<role>-<pid>.svg.
    py-spy samples from outside without stopping the process (--nonblocking): the profiled
    run is slower than a measured one, so profile after measuring, never during.
    """
    exe = py_spy()
    written: list[Path] = []
    if exe is None:
        print("    py-spy not installed: no profiles (pip install -e '.[bench]')", flush=True)
        yield written
        return
    recorders = []
    for pid, (name, _) in sorted(procstat.process_tree(root).items()):
        role = procstat.role(name)
        if role == "tritonserver":
            continue
        svg = prefix.with_name(f"{prefix.name}-{role.replace(' ', '-')}-{pid}.svg")
        cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(round(seconds)),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "flamegraph",
            "--output",
            str(svg),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        recorders.append((svg, proc))
    try:
        yield written
    finally:
        for svg, proc in recorders:
            _, err = proc.communicate(timeout=seconds + 60)
            message = err.decode(errors="replace").strip().splitlines()
            if proc.returncode == 0 and svg.exists():
                written.append(svg)
                continue
            svg.unlink(missing_ok=True)
            if any("No stack counts" in line for line in message):
                print(f"    {svg.name}: idle, no samples")  # e.g. the unused preprocess stubs
            else:  # e.g. no ptrace permission in a container: say so, keep benchmarking
                print(f"    py-spy failed for {svg.name}: {message[0] if message else '?'}")
