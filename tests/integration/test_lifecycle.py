"""Operators update the model by dropping a version folder; `healthcode serve` stops cleanly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import tritonclient.grpc as grpcclient

from gateway.publish import MODEL, publish
from gateway.repository import versions
from tests.support.service import Answer, BackgroundLoad, pids_using, run_service, wait_for
from training.render import render

UPDATE_TIMEOUT_S = 60


def versions_served(answers: list[Answer]) -> list[str]:
    return [a.body.get("model_version") for a in answers if a.status_code == 200]


def classifier_states(service) -> dict[str, tuple[str, str]]:
    """Triton's own report: version -> (state, reason) for the classifier."""
    with grpcclient.InferenceServerClient(service.triton_grpc_url()) as triton:
        index = triton.get_model_repository_index(as_json=True)["models"]
    return {
        m.get("version", ""): (m.get("state", ""), m.get("reason", ""))
        for m in index
        if m["name"] == MODEL
    }


def test_model_updates_under_load_lose_no_request_even_when_a_version_is_broken(tmp_path):
    """Broken version 2 is reported and version 1 keeps serving; good version 3 then takes over."""
    image = render("red", seed=90_010, fmt="jpeg")
    with run_service(tmp_path) as service, BackgroundLoad(service.base_url, image) as load:
        model_dir = service.model_repository / MODEL
        first = str(versions(model_dir)[-1])  # the version the repository ships
        good = model_dir / first / "model.onnx"
        broken = tmp_path / "broken.onnx"
        broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

        broken_version = publish(broken, service.model_repository, check=False)
        state = lambda: classifier_states(service).get(str(broken_version), ("",))  # noqa: E731
        assert wait_for(lambda: state()[0] == "UNAVAILABLE", 60)
        assert state()[1], "Triton should say why the broken version failed"
        after_failure = len(load.answers)
        assert wait_for(lambda: len(load.answers) >= after_failure + 20, 30)
        assert set(versions_served(load.answers)) == {first}

        good_version = str(publish(good, service.model_repository))
        served = lambda: versions_served(load.answers)[-3:]  # noqa: E731
        assert wait_for(lambda: served() == [good_version] * 3, UPDATE_TIMEOUT_S)
        answers = load.stop()

    assert [a.body for a in answers if a.status_code != 200] == []
    assert all(a.body["status"] == "red" for a in answers)
    assert set(versions_served(answers)) == {first, good_version}


def test_sigterm_drains_in_flight_requests_then_leaves_no_process_or_shared_memory(tmp_path):
    image = render("green", seed=90_011, fmt="jpeg")

    async def flood_then_stop(service) -> tuple[int, list]:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as http:
            tasks = [
                asyncio.create_task(
                    http.post(
                        "/analysis/health-code",
                        content=image,
                        headers={"content-type": "image/jpeg"},
                    )
                )
                for _ in range(48)
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            service.process.send_signal(signal.SIGTERM)
            in_flight = sum(not task.done() for task in tasks)
            return in_flight, await asyncio.gather(*tasks, return_exceptions=True)

    with run_service(tmp_path) as service:
        pid = service.process.pid
        assert pids_using(service.model_repository), "tritonserver should be running"
        in_flight, responses = asyncio.run(flood_then_stop(service))
        assert service.stop() == 0, service.log_tail()
    assert in_flight > 20, "SIGTERM should arrive while most requests are in flight"
    assert [getattr(r, "status_code", r) for r in responses] == [200] * 48
    assert wait_for(lambda: pids_using(service.model_repository) == [], 5)
    assert list(Path("/dev/shm").glob(f"healthcode_{pid}_*")) == []
