"""No client may starve the others: costly images against an ordinary client, and rate limits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from benchmarks import costly_attack
from gateway.local_service import LocalService
from tests.support.service import run_service

URL = "/analysis/health-code"
BASELINE_FLOOR_MS = 10.0


def test_clients_sending_costly_images_leave_an_ordinary_client_its_latency(
    service: LocalService,
) -> None:
    # Issue 16's bounds: p50 <= 3x and p99 <= 5x the client's latency alone. On an idle 2-core box
    # that is 6-7 ms, and the attack's own pace (20,000-35,000 requests in 12 s, run to run) moves
    # the loaded p50 between 6 and 19 ms: the bounds apply to a baseline of at least 10 ms (before
    # issue 16 the attack made the p50 1.4-2.1 s). A p99 of ~500 requests is their fifth worst: a
    # stall of the shared host can put it over once (a CI run of 2026-12-06: over 64 ms, where
    # 28-31 ms is usual), so a run over the bounds is measured again, and two in a row fail.
    for _ in range(2):
        result = costly_attack.run(service.base_url + URL, seconds=12)
        alone, loaded, attack = result["alone_ms"], result["under_attack_ms"], result["attack"]
        baseline = {k: max(alone[k], BASELINE_FLOOR_MS) for k in ("p50", "p99")}
        if loaded["p50"] <= 3 * baseline["p50"] and loaded["p99"] <= 5 * baseline["p99"]:
            break
    assert loaded["p50"] <= 3 * baseline["p50"], result
    assert loaded["p99"] <= 5 * baseline["p99"], result
    # Every costly request was answered: decoded, refused as too large, or a clean 503.
    assert attack["failed"] == 0, result
    assert set(attack["statuses"]) <= {"200", "413", "503"}, result
    assert attack["statuses"].get("413", 0) > 0  # the 49 Mpx PNG, before any decoding
    assert attack["503_with_retry_after"] == attack["statuses"].get("503", 0), result


def test_the_rate_limiter_answers_429_with_a_retry_after_that_holds(tmp_path: Path) -> None:
    image = costly_attack.seed_jpeg()
    headers = {"content-type": "image/jpeg"}
    with (
        run_service(tmp_path, rate_limit_per_s="1", rate_limit_burst="2") as limited,
        httpx.Client(base_url=limited.base_url, timeout=30) as http,
    ):
        first = [http.post(URL, content=image, headers=headers) for _ in range(3)]
        refused = first[-1]
        assert [r.status_code for r in first] == [200, 200, 429]
        assert refused.json()["error"]["code"] == "rate_limited"
        wait_s = int(refused.headers["retry-after"])
        assert 1 <= wait_s <= 2
        time.sleep(wait_s)  # what the client was told to wait
        assert http.post(URL, content=image, headers=headers).status_code == 200
