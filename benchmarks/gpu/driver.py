"""The GPU run (benchmarks/gpu/run.sh): Triton with the GPU configs on one machine, its answers
checked against the CPU path, then loaded through the gateway; all of it into one results folder.

    python -m benchmarks.gpu.driver --bundle DIR --out DIR [--mode auto|gpu|cpu] [--quick]

Mode gpu: preflight, the decoder alone (decode_bench), Triton with --model-config-name=gpu,
parity, load at c = 16, 64, 256 (JPEG screenshots) and 64 (every kind of image). Mode cpu (no GPU
here): the default configs, shorter, to prove the run works end to end except for the GPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.gpu import observe, parity, summary
from benchmarks.gpu.levels import measure
from benchmarks.gpu.services import Gateway, Triton, run_repository

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "numpy",
    "torch",
    "torchvision",
    "onnxruntime",
    "simplejpeg",
    "pillow",
    "grpcio",
    "protobuf",
    "tritonclient",
    "fastapi",
    "uvicorn",
    "pydantic",
)
LOG_TAIL_BYTES = 4 * 2**20  # what of each log comes back ($OUT: 16 MB a file at most)


@dataclass(frozen=True)
class Plan:
    levels: tuple[int, ...]  # closed-loop concurrencies, JPEG screenshots
    mixed_level: int  # one more, with every kind of image (PNGs, odd JPEGs: the CPU's share)
    seconds: float  # measured, per level
    warm_s: float  # unmeasured load at the level's concurrency first
    gateway_workers: int
    load_processes: int
    # The bundle runs the classifier with the embedded python-based backend on onnxruntime's
    # CPU provider (the machine has no onnxruntime-gpu; production's native backend runs it on
    # CUDA): more instances keep it from being what limits the GPU run.
    classifier_instances: int | None


PLANS = {
    "gpu": Plan((16, 64, 256), 64, 20.0, 3.0, 6, 2, 4),
    "cpu": Plan((4, 16), 4, 6.0, 2.0, 1, 1, None),
}
QUICK = {"gpu": Plan((16, 64), 64, 8.0, 2.0, 6, 2, 4), "cpu": Plan((4,), 4, 4.0, 1.0, 1, 1, None)}


def read_images(folder: Path) -> list[dict]:
    entries = json.loads((folder / "manifest.json").read_text())
    return [
        {**e, "path": folder / e["file"], "data": (folder / e["file"]).read_bytes()}
        for e in entries
    ]


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    gpus = ""
    if shutil.which("nvidia-smi"):
        gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "gpus": gpus.strip().splitlines(),
        "python": platform.python_version(),
        "packages": versions,
    }


def preflight(triton: Triton, gpu: bool) -> dict:
    """What the stubs will import, and whether the binaries find their libraries."""
    env = triton.environment()
    probe = (
        "import json, numpy, onnxruntime, simplejpeg; out = {'numpy': numpy.__version__, "
        "'onnxruntime': onnxruntime.__version__}\n"
        "try:\n import torch, torchvision; out.update(torch=torch.__version__, "
        "torchvision=torchvision.__version__, cuda=torch.cuda.is_available())\n"
        "except Exception as e: out['torch'] = repr(e)\nprint(json.dumps(out))"
    )
    # -I: isolated, as the stub is (no PYTHONPATH): it sees what the stubs will see.
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], env=env, capture_output=True, text=True
    )
    out: dict = {"stub_imports": json.loads(done.stdout) if done.returncode == 0 else done.stderr}
    binaries = [triton.command()[0], *triton.backends.glob("python/*stub")]
    missing = []
    for binary in binaries:
        ldd = subprocess.run(["ldd", str(binary)], env=env, capture_output=True, text=True)
        missing += [
            f"{Path(binary).name}: {line.strip()}"
            for line in ldd.stdout.splitlines()
            if "not found" in line
        ]
    out["missing_libraries"] = missing
    out["dev_shm_mib"] = shutil.disk_usage("/dev/shm").total // 2**20  # python-backend tensors
    imports = out["stub_imports"]
    out["ok"] = not missing and isinstance(imports, dict) and (not gpu or imports.get("cuda"))
    return out


def decode_bench(triton: Triton, repository: Path, images: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.gpu.decode_bench", str(repository), str(images)]
    done = subprocess.run(
        cmd, env=triton.environment(), capture_output=True, text=True, timeout=240, cwd=REPO
    )
    if done.returncode != 0:
        return {"error": done.stderr[-4000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", type=Path, required=True, help="where run.sh unpacked the bundle")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=("auto", "gpu", "cpu"), default="auto")
    p.add_argument("--quick", action="store_true", help="fewer, shorter levels")
    p.add_argument("--deadline-s", type=float, default=480.0, help="skip what would end later")
    args = p.parse_args(argv)
    mode = args.mode if args.mode != "auto" else ("gpu" if shutil.which("nvidia-smi") else "cpu")
    gpu, plan = mode == "gpu", (QUICK if args.quick else PLANS)[mode]
    deadline = time.monotonic() + args.deadline_s
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"mode": mode, "plan": asdict(plan), "machine": machine(), "levels": []}

    def save() -> None:
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
        (args.out / "summary.md").write_text(summary.markdown(results))

    images = read_images(args.bundle / "images")
    repository = run_repository(
        REPO / "model_repository",
        Path(tempfile.mkdtemp(prefix="healthcode-gpu-models-")),
        plan.classifier_instances if gpu else None,
    )
    triton = Triton(repository, gpu, args.out / "triton.log")
    gateway = Gateway(triton, plan.gateway_workers, args.out / "gateway.log")
    sampler = observe.GpuSampler(args.out / "gpu-samples.csv")
    try:
        results["preflight"] = preflight(triton, gpu)
        save()
        if not results["preflight"]["ok"]:
            print(json.dumps(results["preflight"], indent=1), file=sys.stderr)
            return 2
        if gpu:
            results["decode_bench"] = decode_bench(triton, repository, args.bundle / "images")
            save()
        results["triton_ready_s"] = round(triton.start(timeout_s=180), 1)
        results["gpu_processes_loaded"] = observe.gpu_processes()
        results["parity"] = parity.check(images, repository, triton.grpc_target, triton.metrics_url)
        save()
        results["gateway_ready_s"] = round(gateway.start(timeout_s=120), 1)
        screenshots = [e["path"] for e in images if e["route"] == "gpu"]
        mixed = [e["path"] for e in images if e["route"] != "damaged"]
        runs = [(c, screenshots, "colour JPEGs") for c in plan.levels]
        runs.append((plan.mixed_level, mixed, "every kind"))
        for concurrency, files, payload in runs:
            if time.monotonic() + plan.warm_s + plan.seconds + 30 > deadline:
                results.setdefault("skipped", []).append(f"c={concurrency} {payload}: no time")
                continue
            print(f"load: c={concurrency}, {payload}", file=sys.stderr, flush=True)
            level = measure(
                gateway,
                triton,
                sampler,
                (concurrency, files, payload),
                plan.seconds,
                plan.warm_s,
                plan.load_processes,
            )
            results["levels"].append(level)
            save()
        return 0 if results["parity"]["summary"]["passed"] else 1
    except (SystemExit, Exception) as e:  # recorded, so that results.json says why it stopped
        results["error"] = f"{type(e).__name__}: {e}"
        print(results["error"], file=sys.stderr)
        return 2
    finally:
        gateway.stop()
        triton.stop()
        sampler.stop()
        shutil.rmtree(repository, ignore_errors=True)
        save()
        for log in ("triton.log", "gateway.log", "gpu-samples.csv"):
            _keep_tail(args.out / log)


def _keep_tail(path: Path) -> None:
    if path.is_file() and path.stat().st_size > LOG_TAIL_BYTES:
        with path.open("rb") as f:
            f.seek(-LOG_TAIL_BYTES, os.SEEK_END)
            tail = f.read()
        path.write_bytes(b"[...]\n" + tail)


if __name__ == "__main__":
    sys.exit(main())
