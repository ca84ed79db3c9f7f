"""Operators update the model by dropping a version folder; `healthcode serve` stops cleanly."""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import httpx

from tests.integration.service import pids_using, run_service
from training.render import render

UPDATE_TIMEOUT_S = 60


def publish_version(model_dir: Path, version: int, onnx: Path) -> None:
    """What an operator does: stage the folder beside the versions, then rename it into place."""
    staging = model_dir / f".staging-{version}"
    staging.mkdir()
    shutil.copy2(onnx, staging / "model.onnx")
    os.rename(staging, model_dir / str(version))


def test_a_new_model_version_is_served_while_requests_keep_succeeding(tmp_path):
    body = {"base64": base64.b64encode(render("red", seed=90_010)).decode()}
    versions, failures = [], []
    # A service of its own: the session's service keeps answering version 1.
    with run_service(tmp_path) as service, httpx.Client(base_url=service.base_url) as client:
        assert client.post("/analysis/health-code", json=body).json()["model_version"] == "1"
        model_dir = service.model_repository / "health_code_classifier"
        publish_version(model_dir, 2, model_dir / "1" / "model.onnx")
        deadline = time.monotonic() + UPDATE_TIMEOUT_S
        while time.monotonic() < deadline and versions[-3:] != ["2"] * 3:
            response = client.post("/analysis/health-code", json=body, timeout=30)
            if response.status_code != 200 or response.json()["status"] != "red":
                failures.append(response.text)
            else:
                versions.append(response.json()["model_version"])
            time.sleep(0.05)
    assert failures == []
    assert versions[-1] == "2", f"still serving {versions[-1]} after {UPDATE_TIMEOUT_S} s"


def test_serve_stops_cleanly_on_sigterm_leaving_no_processes_or_shared_memory(tmp_path):
    with run_service(tmp_path) as service:
        pid = service.process.pid
        image = render("green", seed=90_011)
        ok = httpx.post(
            f"{service.base_url}/analysis/health-code",
            content=image,
            headers={"content-type": "image/jpeg" if image[:2] == b"\xff\xd8" else "image/png"},
            timeout=30,
        )
        assert ok.status_code == 200
        assert pids_using(service.model_repository), "tritonserver should be running"
        assert service.stop() == 0, service.log_tail()
    time.sleep(0.5)
    assert pids_using(service.model_repository) == []
    assert list(Path("/dev/shm").glob(f"healthcode_{pid}_*")) == []
