"""The autoscalers scale on metrics that exist, with targets that fit the settings and models."""

from __future__ import annotations

import pytest

from gateway.metrics import Metrics
from tests.deploy.manifests import (
    REPO,
    adapter_rules,
    adapter_series,
    config_values,
    flags,
    of_kind,
    one,
    rendered,
    settings_in,
    triton_container,
)


@pytest.fixture(params=["gpu", "cpu"])
def objects(request) -> tuple[dict, ...]:
    return rendered(request.param)


def exposed_names(metrics: Metrics) -> set[str]:
    """Series names the gateway's /metrics shows (counters gain _total, histograms _bucket ...)."""
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    return {f.name + s for f in metrics.registry.collect() for s in suffixes[f.type]}


def hpa_metric(objects, name: str, metric_type: str = "Pods") -> dict:
    hpa = one(objects, "HorizontalPodAutoscaler", name)
    (metric,) = [m for m in hpa["spec"]["metrics"] if m["type"] == metric_type]
    return metric[metric_type.lower()]


def test_each_custom_metric_of_the_autoscalers_has_an_adapter_rule(objects):
    produced = {rule["name"]["as"] for rule in adapter_rules()}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Pods":
                assert metric["pods"]["metric"]["name"] in produced


def test_adapter_rules_read_series_the_gateway_or_triton_exports():
    gateway = exposed_names(Metrics())
    assert "healthcode_requests_in_flight" in gateway
    for rule in adapter_rules():
        series = adapter_series(rule)
        assert series, rule
        for name in series:
            # Triton's names are checked against a running Triton: tests/integration/
            # test_triton_metric_names.py.
            assert name in gateway or name.startswith("nv_"), name


def model_configs(config_name: str | None) -> dict[str, str]:
    """The config of every model as Triton picks it with --model-config-name=config_name."""
    texts = {}
    for default in sorted((REPO / "model_repository").glob("*/config.pbtxt")):
        named = default.parent / "configs" / f"{config_name}.pbtxt"
        texts[default.parent.name] = (
            named if config_name and named.is_file() else default
        ).read_text()
    return texts


# The models one request queues in, one after another: a classification, and (?read=time,
# alongside it) the reading of the shown time.
PATHS = (
    ("health_code_preprocess", "health_code_classifier"),
    ("health_code_time", "ocr_text_detector", "ocr_text_recognizer"),
)


@pytest.mark.parametrize("overlay", ["gpu", "cpu"])
def test_tritons_queue_target_lies_between_batching_delay_and_queue_timeout(overlay):
    objects = rendered(overlay)
    target_us = float(hpa_metric(objects, "triton")["target"]["averageValue"])
    configs = model_configs(flags(triton_container(objects)["args"]).get("model-config-name"))
    timeouts_us = config_values("default_timeout_microseconds", list(configs.values()))
    paths_us = [
        sum(config_values("max_queue_delay_microseconds", [configs[m] for m in path]))
        for path in PATHS
    ]
    assert timeouts_us and set(configs) >= {m for path in PATHS for m in path}
    # An unsaturated pod queues a request about as long as the steps on its way wait to form
    # batches; ten times the longest way is queueing for capacity, not batching.
    assert target_us >= 10 * max(paths_us)
    # Scale out long before requests time out in a queue (REJECT: they would fail).
    assert target_us <= min(timeouts_us) / 100


def test_gateway_scales_out_well_before_it_sheds_load(objects, monkeypatch):
    settings = settings_in(objects, monkeypatch)
    in_flight = float(hpa_metric(objects, "gateway")["target"]["averageValue"])
    assert in_flight <= settings.max_in_flight / 2
    cpu = hpa_metric(objects, "gateway", "Resource")
    assert cpu["name"] == "cpu" and cpu["target"]["averageUtilization"] <= 80
