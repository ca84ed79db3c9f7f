"""A model whose input changes arrives as a new family: the usage moves over, losing no request."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx

from gateway.publish import publish_family
from gateway.repository import PROJECT_REPOSITORY, ModelFamily
from tests.support.service import SEED_JPEG, BackgroundLoad, run_service, wait_for

OLD, NEW = ModelFamily("health_code"), ModelFamily("health_code_next")


def inferences(metrics_url: str, model: str) -> float:
    text = httpx.get(metrics_url, timeout=5).text
    pattern = rf'^nv_inference_count\{{model="{model}",version="\d+"\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def test_a_new_family_takes_over_under_load_and_the_old_one_leaves_with_no_failure(
    tmp_path: Path,
) -> None:
    usages = '{"health-code": ["health_code_next", "health_code"]}'
    with (
        run_service(tmp_path, usages=usages) as service,
        BackgroundLoad(service.base_url, SEED_JPEG.read_bytes()) as load,
    ):
        metrics = service.triton_metrics_url()
        assert wait_for(lambda: len(load.answers) >= 10, 30)
        # The release's repository holds the family under its usual name; here it gets a new one.
        publish_family(PROJECT_REPOSITORY, OLD.ensemble, service.model_repository, NEW.ensemble)
        assert wait_for(lambda: inferences(metrics, NEW.classifier) >= 10, 90), service.log_tail()
        old_served, now = inferences(metrics, OLD.classifier), len(load.answers)
        assert wait_for(lambda: len(load.answers) >= now + 10, 30)
        assert inferences(metrics, OLD.classifier) == old_served  # all of it goes to the new one
        for model in (OLD.ensemble, OLD.preprocess, OLD.classifier):
            shutil.rmtree(service.model_repository / model)  # retired once the new one serves
        ready = f"{service.triton_http_url()}/v2/models/{OLD.classifier}/ready"
        assert wait_for(lambda: httpx.get(ready, timeout=5).status_code != 200, 30)
        now = len(load.answers)
        assert wait_for(lambda: len(load.answers) >= now + 10, 30)
        answers = load.stop()
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert all(a.body["status"] == "green" for a in answers)
