"""Each Python model loads once: its stub's `__pycache__` must not look like an update to poll mode.

The stub writes bytecode into the version folder the first time it imports a model; Triton's
poll then saw a changed folder and loaded every Python model a second time, at start and after
each publish (gateway.repository.compile_python_models).
"""

from __future__ import annotations

import re
import time
from collections import Counter

import httpx

from gateway.publish import publish_family
from gateway.repository import PROJECT_REPOSITORY, ModelFamily
from tests.support.service import run_service, wait_for

OLD, NEW = ModelFamily("health_code"), ModelFamily("health_code_next")
POLLS = 3  # the test service polls every second


def test_python_models_load_once_at_start_and_after_a_family_is_published(tmp_path):
    with run_service(tmp_path) as service:
        time.sleep(POLLS)
        publish_family(PROJECT_REPOSITORY, OLD.ensemble, service.model_repository, NEW.ensemble)
        ready = f"{service.triton_http_url()}/v2/models/{NEW.ensemble}/ready"
        assert wait_for(lambda: httpx.get(ready, timeout=5).status_code == 200, 90)
        time.sleep(POLLS)
        log = service.log.read_text(errors="replace")
    counts = Counter(re.findall(r"successfully loaded '([^']+)'", log))
    python_models = (OLD.preprocess, OLD.locate, NEW.preprocess, NEW.locate, "health_code_time")
    assert {m: counts.get(m) for m in python_models} == dict.fromkeys(python_models, 1), counts
    assert "successfully unloaded" not in log
