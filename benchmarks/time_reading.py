"""`python -m benchmarks.time_reading`: how well and at what cost `?read=time` reads the time.

Accuracy: test sets with known shown times, each as screenshots, re-saved screenshots (shrunk,
JPEG 50-75) and phone photos of the screen: `independent` (benchmarks/time_screens.py: own
layouts, fonts and effects) and `rendered` (training/render.py, when its RenderSpec draws a shown
time). Each image's READING is right, none (`time: null`), or wrong (a time given as a reading
that is not the one shown: the outcome that must stay rare).

Cost: the committed seed screenshot through Triton's health_code_time, one at a time: CPU-ms
per request of tritonserver and its python stubs, from /proc; then throughput and p50/p99 at a
small concurrency. `--in-process` runs the same page-reading code with onnxruntime in this
process instead of Triton (for tuning: no server, per-stage timings).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks import time_screens
from benchmarks.procstat import cpu_s_by_role, rss_mb_by_role
from benchmarks.systems import REPO, gateway_triton, seed_jpeg
from gateway.local_service import LocalService
from gateway.repository import versions
from gateway.time_reading import MODEL

KINDS = ("screenshot", "resaved", "photo")
SEED_READING = "2022-08-27T10:15:46"


def independent_set(kind: str, n: int, seed: int) -> list[tuple[bytes, str]]:
    """n images of `kind` with their expected READING, drawn by benchmarks/time_screens.py."""
    out = []
    for i in range(n):
        rng = random.Random(seed * 100_003 + i)
        shot = time_screens.screen(rng)
        out.append((time_screens.encode(shot.image, kind, rng), shot.reading))
    return out


# training/timestamps.py's formats -> what each one shows, as a READING pattern.
RENDERED_READINGS = {
    "iso": "%Y-%m-%dT%H:%M:%S",
    "cn_two_lines": "--%m-%dT%H:%M:%S",
    "cn_one_line": "--%m-%dT%H:%M:%S",
    "updated": "%Y-%m-%dT%H:%M:%S",
    "slash_minutes": "%Y-%m-%dT%H:%M",
    "time_only": "T%H:%M:%S",
}


def _rendered_kind(spec) -> str | None:
    """screenshot, resaved or photo; None for what has no known shown time (none drawn, crops)."""
    if spec.shown_time is None or spec.crop:
        return None
    if spec.photo:
        return "photo"
    if spec.chat or (spec.fmt == "jpeg" and spec.quality < 75):
        return "resaved"
    return "screenshot"


def rendered_set(kind: str, n: int, seed: int) -> list[tuple[bytes, str]]:
    """n images of `kind` from training/render.py, as its sampler draws them, with a shown time."""
    from training.render import render_sample
    from training.spec import sample_spec

    out: list[tuple[bytes, str]] = []
    i = seed * 1_000_003
    while len(out) < n:
        i += 1
        label = ("green", "yellow", "red")[i % 3]
        spec = sample_spec(label, random.Random(i))
        if _rendered_kind(spec) != kind:
            continue
        spec, data = render_sample(label, i)
        out.append((data, spec.shown_time.strftime(RENDERED_READINGS[spec.time_format])))
    return out


class InProcess:
    """The Triton model's page-reading code with onnxruntime sessions, one thread each."""

    def __init__(self) -> None:
        import onnxruntime as ort

        folder = REPO / "model_repository"
        from training.preprocessing import imaging, page_reading

        self.page_reading = page_reading()
        self.imaging = imaging
        # the newest version of each, as Triton serves it, and the recogniser's alphabet beside it
        newest = [
            folder / name / str(versions(folder / name)[-1])
            for name in ("ocr_text_detector", "ocr_text_recognizer")
        ]
        keys = newest[1] / "keys.txt"
        self.decoder = importlib.import_module("ctc_decoding").CtcDecoder.from_file(str(keys))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sessions = [ort.InferenceSession(str(v / "model.onnx"), options) for v in newest]
        self.stages: Counter = Counter()
        self.lines_read: list[int] = []

    def read(self, data: bytes) -> tuple[str, str, str]:
        clock = time.process_time
        started = clock()
        page = self.page_reading.Page.from_bytes(data, self.imaging)
        decoded = clock()
        probability = self.sessions[0].run(None, {"x": page.detector_input[None]})[0]
        detected = clock()
        page.set_probability(probability[0, 0])
        boxes = clock()
        recognise = crop = zoom = 0.0
        while True:
            t0 = clock()
            if (region := page.zoom_input()) is not None:
                zoomed = self.sessions[0].run(None, {"x": region[None]})[0]
                page.set_zoom_probability(zoomed[0, 0])
            t1 = clock()
            crops = page.next_crops()
            t2 = clock()
            zoom, crop = zoom + t1 - t0, crop + t2 - t1
            if not crops:
                break
            batch = self.page_reading.to_line_batch(crops)
            page.add_lines(self.decoder.decode(self.sessions[1].run(None, {"x": batch})[0]))
            recognise += clock() - t2
        reading = page.reading()
        self.stages.update(
            decode=decoded - started,
            detect=detected - decoded,
            boxes=boxes - detected,
            zoom=zoom,
            crop=crop,
            recognise=recognise,
        )
        self.lines_read.append(len(page.lines))
        lines = "\n".join(line.text for line in page.lines)
        return ("", "", lines) if reading is None else (reading.text, reading.value, lines)


async def triton_reads(grpc_url: str, images: list[bytes], concurrency: int) -> list:
    from gateway.routing import image_inputs
    from gateway.triton_client import Client

    client = Client(grpc_url)
    results: list = [None] * len(images)
    latencies: list[float] = []
    queue = iter(range(len(images)))

    async def worker() -> None:
        for i in queue:
            started = time.perf_counter()
            r = await client.infer(MODEL, image_inputs(images[i]), client_timeout=60)
            latencies.append(time.perf_counter() - started)
            results[i] = tuple(r.as_numpy(n)[0, 0].decode() for n in ("TEXT", "READING", "LINES"))

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.close()
    return [results, latencies]


async def _wait_model(grpc_url: str, timeout_s: float = 180) -> None:
    from tritonclient.grpc.aio import InferenceServerClient

    client = InferenceServerClient(grpc_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if await client.is_model_ready(MODEL):
                    return
            except Exception:
                pass
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{MODEL} not ready in {timeout_s} s")
    finally:
        await client.close()


def score(expected: list[str], answers: list[tuple[str, str, str]]) -> dict:
    """right / none / wrong counts and rates, and a few examples of what went wrong."""
    outcomes = Counter()
    misses = []
    for want, (text, got, lines) in zip(expected, answers, strict=True):
        outcome = "right" if got == want else ("none" if not got else "wrong")
        outcomes[outcome] += 1
        if outcome == "wrong" or (outcome == "none" and len(misses) < 6):
            misses.append({"expected": want, "read": got, "text": text, "lines": lines[:200]})
    n = len(expected)
    return {
        "n": n,
        **{k: outcomes[k] for k in ("right", "none", "wrong")},
        "right_rate": round(outcomes["right"] / n, 4),
        "wrong_rate": round(outcomes["wrong"] / n, 4),
        "misses": misses,
    }


def accuracy(read_all, sets: list[str], kinds: list[str], n: int, seed: int) -> dict:
    out = {}
    for name in sets:
        make = independent_set if name == "independent" else rendered_set
        for kind in kinds:
            cases = make(kind, n, seed)
            answers = read_all([data for data, _ in cases])
            out[f"{name}/{kind}"] = result = score([want for _, want in cases], answers)
            print(
                f"{name}/{kind}: {result['right']}/{n} right, {result['none']} none, "
                f"{result['wrong']} wrong",
                flush=True,
            )
    return out


def cost(service: LocalService, n: int, seconds: float, concurrency: list[int]) -> dict:
    """CPU-ms per seed request (tritonserver + stubs), then throughput and latency under load."""
    seed, grpc = seed_jpeg(), service.triton_grpc_url()
    results, _ = asyncio.run(triton_reads(grpc, [seed] * 3, 1))  # warm up
    before = cpu_s_by_role(service.process.pid)
    results, latencies = asyncio.run(triton_reads(grpc, [seed] * n, 1))
    after = cpu_s_by_role(service.process.pid)
    spent = {k: round((after.get(k, 0) - before.get(k, 0)) * 1000 / n, 1) for k in after}
    out = {
        "seed_reading": results[0][1],
        "seed_right": all(r[1] == SEED_READING for r in results),
        "cpu_ms_per_request": spent,
        "cpu_ms_triton_total": round(
            spent.get("tritonserver", 0) + spent.get("python stubs", 0), 1
        ),
        "c1_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "load": [],
    }
    for c in concurrency:
        started = time.perf_counter()
        count = max(c * 4, round(seconds * 4))
        _, latencies = asyncio.run(triton_reads(grpc, [seed] * count, c))
        elapsed = time.perf_counter() - started
        out["load"].append(
            {
                "concurrency": c,
                "requests": count,
                "requests_per_s": round(count / elapsed, 2),
                "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
                "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
            }
        )
        print(f"c={c}: {out['load'][-1]}", flush=True)
    out["rss_mb"] = {k: round(v) for k, v in rss_mb_by_role(service.process.pid).items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_reading", description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="images per set and kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sets", default="independent", help="independent,rendered")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--in-process", action="store_true", help="no Triton: tune the code")
    parser.add_argument("--cost-n", type=int, default=30, help="seed requests for CPU-ms (0: none)")
    parser.add_argument("--concurrency", default="2,4")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    sets, kinds = args.sets.split(","), args.kinds.split(",")
    results: dict = {"n": args.n, "seed": args.seed}
    if args.in_process:
        reader = InProcess()
        results["accuracy"] = accuracy(
            lambda images: [reader.read(d) for d in images], sets, kinds, args.n, args.seed
        )
        total = len(reader.lines_read)
        results["cpu_ms_per_image"] = {
            k: round(v * 1000 / total, 1) for k, v in reader.stages.items()
        }
        results["lines_read_mean"] = round(statistics.mean(reader.lines_read), 2)
    else:
        with tempfile.TemporaryDirectory() as tmp, gateway_triton(Path(tmp) / "serve.log") as svc:
            grpc = svc.triton_grpc_url()
            asyncio.run(_wait_model(grpc))
            if args.n:
                results["accuracy"] = accuracy(
                    lambda images: asyncio.run(triton_reads(grpc, images, 2))[0],
                    sets,
                    kinds,
                    args.n,
                    args.seed,
                )
            if args.cost_n:
                levels = [int(c) for c in args.concurrency.split(",") if c]
                results["cost"] = cost(svc, args.cost_n, 10, levels)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
