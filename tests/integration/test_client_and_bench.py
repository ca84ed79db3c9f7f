"""The client and `healthcode bench` against the real service (embedded Triton + gateway)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from benchmarks.systems import run_wrk
from clients.client import HealthCodeClient, SyncHealthCodeClient
from tests.support.service import SEED_JPEG, Service
from tests.support.tools import missing
from training.render import render


async def test_the_async_client_recognises_a_batch_of_screenshots(service: Service) -> None:
    images = [
        render(label, seed=i, width=540, height=1170)
        for i, label in enumerate(("green", "yellow", "red"))
    ]
    async with HealthCodeClient(service.base_url) as client:
        results = await client.analyze_many(images, concurrency=3)
        seed_style = await client.analyze(images[0], base64_json=True)
    assert [getattr(r, "status", r) for r in results] == ["green", "yellow", "red"]
    assert seed_style.status == "green"


def test_the_sync_client_recognises_a_file(service: Service, tmp_path: Path) -> None:
    path = tmp_path / "red.jpg"
    path.write_bytes(render("red", seed=5, width=540, height=1170))
    with SyncHealthCodeClient(service.base_url) as client:
        assert client.analyze(path).status == "red"


def test_bench_sends_200_requests_at_concurrency_8_without_failures(
    service: Service, tmp_path: Path
) -> None:
    path = tmp_path / "green.jpg"
    path.write_bytes(render("green", seed=1, width=720, height=1600, quality=90))
    cmd = [
        sys.executable,
        "-m",
        "clients.cli",
        "bench",
        str(path),
        "--url",
        service.base_url,
        "-n",
        "200",
        "-c",
        "8",
        "--duration",
        "60",
        "--json",
        "--no-progress",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert (result["complete"], result["ok"], result["failed"]) == (200, 200, 0)
    assert result["latency_ms"]["p50"] > 0 and result["requests_per_s"] > 0


def test_alternate_measures_a_traced_serve_of_raw_bodies_and_the_peer(tmp_path: Path) -> None:
    """benchmarks/alternate.py starts each system, measures it from /proc, and stops it."""
    if shutil.which("ab") is None:
        missing("ab", "ab")
    out = tmp_path / "alternate.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.alternate",
        "--system",
        "serve=serve+trace+raw",
        "--system",
        "peer=peer:1",
        "--rounds",
        "1",
        "-n",
        "40",
        "-c",
        "4",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = orjson.loads(out.read_bytes())["medians"]
    assert list(summary) == ["serve", "peer"]
    for name, roles in (("serve", {"web", "tritonserver", "python stubs"}), ("peer", {"web"})):
        assert summary[name]["failed"] == 0 and summary[name]["requests_per_s"] > 0
        assert roles <= set(summary[name]["cpu_ms_per_request"]), summary[name]


def test_wrk_loads_the_service_over_kept_alive_connections(service: Service, tmp_path: Path):
    """benchmarks.alternate --keep-alive's load: every answer a 200, the latency read."""
    if shutil.which("wrk") is None:
        missing("wrk", "wrk")
    body = tmp_path / "health.jpg"
    body.write_bytes(SEED_JPEG.read_bytes())
    result = run_wrk(
        f"{service.base_url}/analysis/health-code", body, 2, c=4, content_type="image/jpeg"
    )
    assert result["complete"] > 0 and result["requests_per_s"] > 0
    assert (result["failed"], result["non_2xx"]) == (0, 0)
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]


@pytest.mark.parametrize("screens", ["status", "wider"])
def test_recognition_measures_the_service_on_independent_pages(
    service: Service, screens: str
) -> None:
    """benchmarks/recognition.py sends its pages (either set) to the running service and scores
    the answers."""
    from benchmarks.code_screens import LABELS
    from benchmarks.recognition import measure

    result = measure(service.base_url, ["screenshot", "photo"], n=8, seed=3, screens=screens)
    for kind in ("screenshot", "photo"):
        r = result[kind]
        assert (r["images"], r["invalid"], r["colour"]) == (8, 2, 6)
        answered = Counter()
        for counts in r["by_drawn"].values():
            answered.update(counts)
        assert set(answered) <= set(LABELS) and answered.total() == 8
        assert r["right"] == r["colour_right"] + r["invalid"] - r["invalid_as_colour"]
        curve = list(r["rule_curve"].values())  # thresholds ascending: never more colours
        for key in ("colour_right", "invalid_as_colour"):
            assert [c[key] for c in curve] == sorted((c[key] for c in curve), reverse=True)


def test_recognition_serves_a_candidate_repository(tmp_path: Path) -> None:
    """--model-repository measures a candidate before it is published: here a copy of the
    project's repository whose rule answers no colour, so its colour pages come back invalid."""
    from benchmarks.recognition import main
    from gateway.repository import PROJECT_REPOSITORY
    from training.export import write_rule

    candidate = tmp_path / "model_repository"
    shutil.copytree(PROJECT_REPOSITORY, candidate)
    never = {"min_colour_probability": 2.0, "closer_look_min_colour_probability": 2.0}
    write_rule(candidate / "health_code_classifier" / "config.pbtxt", never)
    out = tmp_path / "result.json"
    argv = ["--n", "4", "--seed", "3", "--kinds", "screenshot", "--out", str(out)]
    assert main([*argv, "--model-repository", str(candidate)]) == 0
    result = orjson.loads(out.read_bytes())
    assert result["model_repository"] == str(candidate.resolve())
    r = result["kinds"]["screenshot"]
    assert (r["colour"], r["colour_right"], r["invalid_as_colour"]) == (3, 0, 0)
    assert r["right"] == r["invalid"] == 1
