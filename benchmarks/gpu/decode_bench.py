"""The GPU decoder alone, in one process, before Triton starts (GPU mode only).

    python -m benchmarks.gpu.decode_bench REPOSITORY IMAGES   (prints one JSON object)

Throughput of gpu_decode.GpuDecoder by batch size against imaging.image_to_tensor on one core,
the GPU memory a batch holds (screenshots; 16 Mpx photos, which the pixel budget chunks), and
what nvJPEG and CUDA do with the cases gpu_plan.py routes around or has decided on: damaged
data behind a valid header, progressive JPEGs, antialiased downscales past MAX_GPU_DOWNSCALE.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import simplejpeg

SECONDS = 1.5


def _rate(work, images: int) -> dict:
    """Run work() for SECONDS; images per second, wall and CPU ms per call."""
    work()
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < SECONDS:
        work()
        calls += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "images_per_s": round(calls * images / wall, 1),
        "ms_per_call": round(1000 * wall / calls, 3),
        "cpu_ms_per_image": round(1000 * cpu / (calls * images), 3),
    }


def _outcome(call) -> str:
    try:
        call()
    except Exception as e:
        return f"raises {type(e).__name__}: {str(e)[:200]}"
    return "ok"


def _photo(width: int, height: int) -> bytes:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    rgb = np.stack([np.sin(9 * x), np.cos(7 * y), np.sin(5 * (x + y))], axis=-1)
    return simplejpeg.encode_jpeg(((rgb + 1) * 127.5).astype(np.uint8), quality=85)


def main(repository: Path, folder: Path) -> dict:
    sys.path.insert(0, str(repository / "health_code_preprocess" / "1"))
    import gpu_decode
    import gpu_plan
    import imaging
    import torch
    import torch.nn.functional as F
    import torchvision

    manifest = json.loads((folder / "manifest.json").read_text())
    read = {e["file"]: (folder / e["file"]).read_bytes() for e in manifest}
    shots = [
        read[e["file"]] for e in manifest if e["file"].startswith("screen-") and e["route"] == "gpu"
    ]
    started = time.perf_counter()
    decoder = gpu_decode.GpuDecoder.for_instance("GPU", 0)
    out: dict = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "numpy": np.__version__,
        "warm_up_s": round(time.perf_counter() - started, 2),
        "screenshot_bytes_mean": round(sum(map(len, shots)) / len(shots)),
    }

    def gpu_batch(images: list[bytes]) -> None:
        plans = decoder.plan(images)
        assert all(isinstance(p, gpu_plan.Job) for p in plans), plans
        decoder.decode(images, plans)

    out["gpu_by_batch"] = {}
    for size in (1, 8, 32, 64):
        batch = [shots[i % len(shots)] for i in range(size)]
        out["gpu_by_batch"][size] = _rate(lambda b=batch: gpu_batch(b), size)
    out["cpu_image_to_tensor"] = _rate(
        lambda: [imaging.image_to_tensor(s) for s in shots], len(shots)
    )

    torch.cuda.reset_peak_memory_stats()
    gpu_batch([max(shots, key=len)] * 64)
    out["peak_mib_batch_64_screenshots"] = round(torch.cuda.max_memory_allocated() / 2**20)
    photo = _photo(4608, 3456)  # 15.9 Mpx, under MAX_GPU_PIXELS
    torch.cuda.reset_peak_memory_stats()
    calls = decoder._decode_jpeg
    sizes: list[int] = []
    decoder._decode_jpeg = lambda items: sizes.append(len(items)) or calls(items)
    gpu_batch([photo] * 32)
    decoder._decode_jpeg = calls
    out["peak_mib_batch_32_photos_16mpx"] = round(torch.cuda.max_memory_allocated() / 2**20)
    out["photo_chunks"] = sizes
    out["memory_reserved_mib"] = round(torch.cuda.memory_reserved() / 2**20)

    damaged = read.get("damaged-green.jpg", b"")
    progressive = read.get("progressive-green.jpg", b"")
    tensor = lambda data: torch.frombuffer(bytearray(data), dtype=torch.uint8)  # noqa: E731
    out["nvjpeg_damaged_behind_valid_header"] = _outcome(lambda: calls([tensor(damaged)]))
    out["nvjpeg_progressive"] = _outcome(lambda: calls([tensor(progressive)]))
    device = torch.device("cuda", 0)
    height = imaging.INPUT_HEIGHT
    for factor in (gpu_plan.MAX_GPU_DOWNSCALE, 98):  # ours, and a 1080 x 22000 screenshot's
        tall = torch.zeros((1, 3, height * factor, 1080), device=device)
        width = max(1, round(1080 / factor))
        resize = lambda t=tall, w=width: F.interpolate(  # noqa: E731
            t, size=(height, w), mode="bilinear", antialias=True
        )
        out[f"cuda_antialiased_downscale_{factor}x"] = _outcome(resize)
    torch.cuda.synchronize()
    out["routes"] = dict(decoder.routes)
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
