"""`make gpu-bundle`: everything the GPU run carries that the GPU machine lacks, in one tarball.

    python -m benchmarks.gpu.bundle [--python 3.12] [--out .device]

The machine (benchmarks/gpu/README.md) has Python with torch, torchvision, onnxruntime, Pillow,
grpcio, httpx, uvloop, rich and prometheus-client, but no Triton, no FastAPI and no network. The
tarball holds, under site/:
- the wheels it lacks, installed for that Python: the gateway's and the load generator's, at the
  versions this virtualenv runs; numpy 1.x (the wheel's python-backend stub is built with a
  pybind11 that misreads numpy 2 arrays); protobuf<5 (tritonclient 2.51);
- the nvidia-pytriton wheel's tritonserver, python backend and that Python's stub, with their
  libraries, laid out as in the wheel (their RPATHs are relative), and a three-function stand-in
  for the wheel's pytriton.utils.distribution, which gateway/embedded/server.py asks for paths;
and under images/ the run's images (images.py). What must travel is .device/: name it in `carry`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "gpu-bundle"
TARBALL = "healthcode-gpu-bundle.tar.xz"
CARRY_LIMIT_BYTES = 64 * 2**20  # the GPU machine's limit on what travels (tree + carried)
# Distributions the GPU machine lacks (or may hold at a version these were not tested with),
# carried at the versions this virtualenv has.
FROM_VENV = (
    # the gateway (HEALTHCODE_DECODE=triton)
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "python-dotenv",
    "typing-inspection",
    "annotated-types",
    "annotated-doc",
    "typing-extensions",
    "uvicorn",
    "httptools",
    "orjson",
    "pybase64",
    "python-json-logger",
    "fastapi-offline",
    "opentelemetry-api",
    "importlib-metadata",
    "lazy-importer",
    "zipp",
    "tzdata",
    "tritonclient",
    "python-rapidjson",
    "simplejpeg",
    "protobuf",
    "numpy",
    # the closer look's QR reader (code_locator.py, in Triton's python stubs)
    "zxing-cpp",
    # the load generator (clients.loadtest)
    "hdrhistogram",
    "tenacity",
)
# What the GPU machine has (its image's package list: /work/.library/device/KINDS.md) of what
# the gateway, the load generator and the stubs import, and what they do not import there.
ON_MACHINE = (
    "httpx",
    "rich",
    "uvloop",
    "grpcio",
    "prometheus-client",
    "pillow",
    "onnxruntime",
    "anyio",
    "h11",
    "click",
    "urllib3",
    "packaging",
)
NOT_IMPORTED = (
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-json-http",  # only with an OTLP endpoint
    "websockets",
    "watchfiles",
    "pyyaml",  # uvicorn[standard]'s, for features not used
    "nvidia-pytriton",  # its tritonserver is copied; its Python package is not imported
    "onnx",  # gateway.ocr_models builds the OCR recogniser's version 2; the GPU run has no OCR
)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "manylinux_2_5_x86_64",
)
# What of the site needs no carrying: console scripts (tritonclient's perf_analyzer is 38 MB),
# numpy's own tests.
PRUNE = ("bin", "numpy/*/tests", "numpy/tests", "**/__pycache__")
# The stand-in for pytriton.utils.distribution: the wheel's own imports half of pytriton.
DISTRIBUTION = '''"""Where the GPU bundle keeps the wheel's parts (benchmarks/gpu/bundle.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def get_root_module_path():
    return ROOT


def get_libs_path():
    return ROOT.parent / "nvidia_pytriton.libs"


def get_stub_path(version):
    return ROOT / "tritonserver" / "python_backend_stubs" / version / "triton_python_backend_stub"
'''


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def pins() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in FROM_VENV]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def install_site(site: Path, python: str, wheels: Path) -> None:
    """The carried wheels, for `python` (e.g. "3.12"), installed into `site`."""
    abi = "cp" + python.replace(".", "")
    target = [
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
        "--only-binary=:all:",
        "--no-deps",
    ]
    for platform in (*PLATFORMS, "any"):
        target += ["--platform", platform]
    wanted = {_normal(pin.split("==")[0]): pin.split("==")[1] for pin in pins()}
    for wheel in wheels.glob("*.whl"):  # one version of each: pip refuses two
        name, version = wheel.name.split("-")[:2]
        if wanted.get(_normal(name)) != version:
            wheel.unlink()
    have = {_normal(p.name.split("-")[0]) for p in wheels.glob("*.whl")}
    if set(wanted) - have:
        pip("download", "-q", *target, "-d", str(wheels), *pins())
    found = sorted(str(p) for p in wheels.glob("*.whl"))
    pip("install", "-q", "--no-index", "--no-compile", "--target", str(site), *target, *found)
    for pattern in PRUNE:
        for path in site.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy_triton(site: Path, python: str) -> None:
    """The wheel's tritonserver, python backend, `python`'s stub and their libraries."""
    spec = importlib.util.find_spec("pytriton")  # not imported: it imports half the wheel
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("no nvidia-pytriton here: `make install` first")
    wheel = Path(spec.submodule_search_locations[0]).resolve()
    parts = (
        "tritonserver/bin/tritonserver",
        "tritonserver/backends/python/libtriton_python.so",
        "tritonserver/backends/python/triton_python_backend_utils.py",
        f"tritonserver/python_backend_stubs/{python}/triton_python_backend_stub",
    )
    for part in parts:
        (site / "pytriton" / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel / part, site / "pytriton" / part)
    libs = site / "nvidia_pytriton.libs"
    libs.mkdir(exist_ok=True)
    for lib in (wheel.parent / "nvidia_pytriton.libs").iterdir():
        if not lib.name.startswith("libpython"):  # the 3.13 stub's: the target has its own
            shutil.copy2(lib, libs)
    (site / "pytriton" / "utils").mkdir(exist_ok=True)
    (site / "pytriton" / "__init__.py").write_text('"""The GPU bundle\'s stand-in."""\n')
    (site / "pytriton" / "utils" / "__init__.py").write_text("")
    (site / "pytriton" / "utils" / "distribution.py").write_text(DISTRIBUTION)


def build(python: str, out: Path) -> dict:
    """Stage under build/gpu-bundle, pack into out/TARBALL; what it holds and how big."""
    stage = BUILD / f"py{python}"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "site").mkdir(parents=True)
    install_site(stage / "site", python, BUILD / f"wheels-py{python}")
    copy_triton(stage / "site", python)
    from benchmarks.gpu import images  # the renderer: only where the bundle is made

    manifest = images.write(stage / "images")
    out.mkdir(parents=True, exist_ok=True)
    tarball = out / TARBALL
    with tarfile.open(tarball, "w:xz", preset=6) as tar:
        for name in ("site", "images"):
            tar.add(stage / name, arcname=name)
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    tree_bytes = sum((REPO / f.decode()).stat().st_size for f in tracked if f)
    info = {
        "python": python,
        "tarball": str(tarball.relative_to(REPO)) if tarball.is_relative_to(REPO) else str(tarball),
        "tarball_bytes": tarball.stat().st_size,
        "unpacked_bytes": sum(p.stat().st_size for p in stage.rglob("*") if p.is_file()),
        "tracked_tree_bytes": tree_bytes,
        "carry_limit_bytes": CARRY_LIMIT_BYTES,
        "pins": pins(),
        "images": len(manifest),
    }
    (out / "bundle.json").write_text(json.dumps(info, indent=1))
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python", default="3.12", help="the GPU machine's Python (major.minor)")
    p.add_argument("--out", type=Path, default=REPO / ".device")
    args = p.parse_args(argv)
    info = build(args.python, args.out)
    total = info["tarball_bytes"] + info["tracked_tree_bytes"]
    print(json.dumps(info, indent=1))
    print(f"travels: {total / 2**20:.1f} MiB of {CARRY_LIMIT_BYTES / 2**20:.0f} MiB")
    return 0 if total <= CARRY_LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
