"""The layers stay apart: the SDK installs and imports without the server, Triton or training."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest brings tomli where tomllib is missing
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SDK_MODULES = (
    "clients",
    "clients.client",
    "clients.cli",
    "clients.loadtest.bench",
    "clients.loadtest.loadgen",
    "clients.loadtest.echo",
)


def imported_top_levels(modules: tuple[str, ...]) -> set[str]:
    """Top-level modules that importing `modules` loads, in a fresh interpreter."""
    code = f"import sys; import {', '.join(modules)}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def closure(names: list[str], optional: bool = False) -> set[str]:
    """The installed distributions `names` need, transitively; with `optional`, the extras of
    `names` themselves too."""
    found: set[str] = set()
    todo = [(Requirement(n), 0) for n in names]
    while todo:
        req, depth = todo.pop()
        name = req.name.lower().replace("_", "-")
        gated = req.marker is not None and not req.marker.evaluate({"extra": ""})
        if name in found or (gated and not (optional and depth == 1)):
            continue
        try:
            needs = requires(req.name) or []
        except PackageNotFoundError:  # not installed: nothing can import it
            continue
        found.add(name)
        todo += [(Requirement(r), depth + 1) for r in needs]
    return found


def test_the_base_install_is_the_sdk_and_needs_no_server_or_training_package():
    base = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    needed = closure(base)
    for heavy in ("fastapi", "uvicorn", "tritonclient", "numpy", "pillow", "torch", "grpcio"):
        assert heavy not in needed, heavy


def test_importing_the_sdk_loads_nothing_of_the_server_or_training():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project["optional-dependencies"]
    # What only the server needs; an SDK package's own optional extras (httpx imports click and
    # brotli when they happen to be installed) are not the server's.
    server = closure(extras["server"] + extras["embedded"][1:])
    server_only = server - closure(project["dependencies"], optional=True)
    owners = packages_distributions()
    imported = imported_top_levels(SDK_MODULES)
    from_server = {
        module
        for module in imported
        if {d.lower().replace("_", "-") for d in owners.get(module, [])} & server_only
    }
    assert from_server == set()
    assert not {"gateway", "training", "benchmarks"} & imported
