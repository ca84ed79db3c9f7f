"""The OpenAPI description tells the truth: schemathesis finds nothing against the real service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.local_service import LocalService

PROJECT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("st")


def test_every_check_of_schemathesis_passes_against_the_openapi_description(
    service: LocalService,
) -> None:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{service.base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "60",
        "--seed",
        "20261201",
        "--generation-deterministic",
        "--no-color",
    ]
    # From the project root, where schemathesis reads schemathesis.toml.
    done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=600)
    report = done.stdout[-6000:]
    assert done.returncode == 0, report
    assert "No issues found" in done.stdout or "passed" in done.stdout, report
