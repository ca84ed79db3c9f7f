"""Per-process CPU time and memory of a system under test, read from /proc (Linux).

A system is the process tree under the one process the harness started; its processes are
grouped by role (see role()).
"""

from __future__ import annotations

import os
from pathlib import Path

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 1e6
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """/proc/pid/stat as [comm, state, ppid, ...]: index i holds field i + 2 of proc(5)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return [text[text.index("(") + 1 : text.rindex(")")], *text[text.rindex(")") + 2 :].split()]


def process_tree(root: int) -> dict[int, tuple[str, int]]:
    """pid -> (program, parent pid) for root and all its live descendants."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            table[int(entry.name)] = (fields[0], int(fields[2]))
    tree, frontier = {}, {root}
    while frontier:
        tree.update({p: table[p] for p in frontier if p in table})
        frontier = {p for p, (_, parent) in table.items() if parent in frontier} - set(tree)
    return tree


def role(name: str) -> str:
    """tritonserver, its python stubs, or the Python web processes (gateway and launcher, or
    the old service's uvicorn and workers)."""
    if name == "tritonserver":
        return "tritonserver"
    return "python stubs" if name.startswith("triton_python") else "web"


def cpu_s_by_role(root: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each role's live processes."""
    out: dict[str, float] = {}
    for pid, (name, _) in process_tree(root).items():
        if fields := _stat(pid):
            r = role(name)
            out[r] = out.get(r, 0.0) + (int(fields[12]) + int(fields[13])) * TICK_S  # utime, stime
    return out


def rss_mb_by_role(root: int) -> dict[str, float]:
    """Resident memory in MB of each role's live processes."""
    out: dict[str, float] = {}
    for pid, (name, _) in process_tree(root).items():
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        r = role(name)
        out[r] = out.get(r, 0.0) + pages * PAGE_MB
    return out


def cpu_ms_per_request(before: dict[str, float], after: dict[str, float], requests: float) -> dict:
    """CPU milliseconds per request of each role between two cpu_s_by_role readings."""
    if not requests:
        return {}
    per_role = {r: 1000 * (after[r] - before.get(r, 0.0)) / requests for r in after}
    per_role["all"] = sum(per_role.values())
    return {r: round(ms, 2) for r, ms in per_role.items()}
