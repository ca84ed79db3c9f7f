"""deploy/k8s agrees with the rest of the project: settings, routes, ports, images, grace periods.

Each fact is read from its home (the Settings class, the app's routes, the Dockerfiles, the
compose file, the model configs), never from a copy kept here. Autoscaling: test_k8s_autoscaling.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import Match

from gateway.app import create_app
from gateway.settings import Settings
from tests.deploy.manifests import (
    ENV_PREFIX,
    GATEWAY_DOCKERFILE,
    K8S,
    REPO,
    config_values,
    container,
    env_values,
    flags,
    gateway_container,
    one,
    pod_spec,
    quantity_bytes,
    rendered,
    settings_in,
    triton_container,
)

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
MODEL_CONFIGS = sorted((REPO / "model_repository").glob("*/config*/*.pbtxt")) + sorted(
    (REPO / "model_repository").glob("*/config.pbtxt")
)
# Room for the gateway process itself beside the request bodies it may hold.
GATEWAY_BASE_MEMORY_BYTES = 512 * 2**20


@pytest.fixture(params=["gpu", "cpu"])
def objects(request) -> tuple[dict, ...]:
    return rendered(request.param)


def test_every_healthcode_variable_is_a_setting_or_read_by_the_image(objects):
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    read_by_image = set(re.findall(r"\$\{?(HEALTHCODE_[A-Z0-9_]+)", GATEWAY_DOCKERFILE))
    for ctr in (gateway_container(objects), triton_container(objects)):
        names = {n for n in env_values(ctr) if n.startswith(ENV_PREFIX)}
        assert names <= fields | read_by_image, names - fields - read_by_image
    assert not any(n.startswith(ENV_PREFIX) for n in env_values(triton_container(objects)))


def test_the_gateway_settings_are_valid_and_production_ones(objects, monkeypatch):
    settings = settings_in(objects, monkeypatch)
    assert settings.decode == "triton"  # the gateway image carries no model repository
    assert settings.log_format == "json"
    assert settings.api_keys  # /analysis and /metrics want a key


def routed(app, path: str) -> bool:
    """Whether a GET of `path` reaches one of the app's routes (as the server would route it)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def test_probe_and_scrape_paths_are_routes_of_the_gateway(objects, monkeypatch):
    app = create_app(settings_in(objects, monkeypatch))
    assert not routed(app, "/no-such-path")
    gateway = gateway_container(objects)
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert routed(app, gateway[probe]["httpGet"]["path"]), probe
    template = one(objects, "Deployment", "gateway")["spec"]["template"]
    assert routed(app, template["metadata"]["annotations"]["prometheus.io/path"])
    (endpoint,) = one(objects, "ServiceMonitor", "gateway")["spec"]["endpoints"]
    assert routed(app, endpoint["path"])


def test_the_gateway_listens_where_its_pod_and_service_say(objects, monkeypatch):
    settings = settings_in(objects, monkeypatch)
    (port,) = gateway_container(objects)["ports"]
    assert port["containerPort"] == settings.port
    assert settings.host == "0.0.0.0"
    assert re.search(rf"^EXPOSE {settings.port}$", GATEWAY_DOCKERFILE, re.M)
    (service_port,) = one(objects, "Service", "gateway")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]


def test_the_gateway_reaches_every_triton_pod_through_the_headless_service(objects, monkeypatch):
    url = urlsplit(settings_in(objects, monkeypatch).triton_url)
    assert url.scheme == "dns" and url.netloc == ""  # dns:///host:port, the resolver's form
    host, _, port = url.path.removeprefix("/").rpartition(":")
    service = one(objects, "Service", "triton")
    meta = service["metadata"]
    assert host == f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
    assert service["spec"]["clusterIP"] == "None"
    (grpc,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    triton = triton_container(objects)
    (target,) = [p for p in triton["ports"] if p["name"] == grpc["targetPort"]]
    assert target["containerPort"] == int(flags(triton["args"])["grpc-port"])


def test_tritons_ports_are_the_projects_triton_ports(objects):
    triton = triton_container(objects)
    declared = {p["name"]: p["containerPort"] for p in triton["ports"]}
    defaults = Settings.model_fields
    for name in ("http", "grpc", "metrics"):
        assert declared[name] == int(flags(triton["args"])[f"{name}-port"])
        assert declared[name] == defaults[f"triton_{name}_port"].default


def test_images_are_the_compose_files(objects):
    assert triton_container(objects)["image"] == COMPOSE["services"]["triton"]["image"]
    assert gateway_container(objects)["image"] == COMPOSE["services"]["gateway"]["image"]
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    for service in ("triton", "gateway"):
        assert COMPOSE["services"][service]["image"].endswith(f":{version}")


@pytest.mark.parametrize("overlay", ["gpu", "cpu"])
def test_triton_runs_with_the_compose_files_flags(overlay):
    compose = flags(COMPOSE["services"]["triton"]["command"])
    k8s = flags(triton_container(rendered(overlay))["args"])
    del compose["model-repository"]  # a mounted folder there; s3:// or a volume here
    if overlay == "cpu":
        del compose["model-config-name"]  # the default config.pbtxt: CPU
    assert {k: k8s.get(k) for k in compose} == compose


def test_tritons_readiness_is_the_compose_healthcheck_of_a_served_model(objects, monkeypatch):
    path = triton_container(objects)["readinessProbe"]["httpGet"]["path"]
    healthcheck = " ".join(COMPOSE["services"]["triton"]["healthcheck"]["test"])
    assert urlsplit(healthcheck.split()[-1]).path == path
    model = re.fullmatch(r"/v2/models/([^/]+)/ready", path)[1]
    usages = settings_in(objects, monkeypatch).usages
    assert any(model in families for families in usages.values())


def test_shared_memory_is_the_compose_files(objects):
    triton = one(objects, "Deployment", "triton")
    (shm,) = [v for v in pod_spec(triton)["volumes"] if v["name"] == "dshm"]
    compose_shm = quantity_bytes(COMPOSE["services"]["triton"]["shm_size"])
    assert quantity_bytes(shm["emptyDir"]["sizeLimit"]) == compose_shm


def test_the_gateway_runs_as_its_images_user(objects):
    uid = int(re.search(r"--uid (\d+)", GATEWAY_DOCKERFILE)[1])
    assert pod_spec(one(objects, "Deployment", "gateway"))["securityContext"]["runAsUser"] == uid


def prestop_sleep_s(ctr: dict) -> int:
    command = ctr["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1])


def test_a_stopping_gateway_drains_within_its_grace_period(objects, monkeypatch):
    settings = settings_in(objects, monkeypatch)
    gateway = gateway_container(objects)
    drain_s = int(env_values(gateway)["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"])
    assert drain_s == math.ceil(settings.drain_timeout_s)
    assert settings.drain_timeout_s >= settings.request_timeout_s  # accepted requests finish
    grace_s = pod_spec(one(objects, "Deployment", "gateway"))["terminationGracePeriodSeconds"]
    assert grace_s >= prestop_sleep_s(gateway) + drain_s


def test_a_stopping_triton_finishes_its_inferences_within_its_grace_period(objects):
    triton = triton_container(objects)
    exit_s = int(flags(triton["args"])["exit-timeout-secs"])
    grace_s = pod_spec(one(objects, "Deployment", "triton"))["terminationGracePeriodSeconds"]
    assert grace_s >= prestop_sleep_s(triton) + exit_s
    # While it sleeps before SIGTERM, out of the DNS answer, every gateway opens a fresh channel.
    assert Settings().triton_reresolve_s < prestop_sleep_s(triton)
    # Triton's queues time requests out first: what it still holds at SIGTERM can finish.
    timeouts_us = config_values(
        "default_timeout_microseconds", [f.read_text() for f in MODEL_CONFIGS]
    )
    assert timeouts_us and max(timeouts_us) <= exit_s * 1e6


def test_gateway_memory_holds_every_body_it_admits(objects, monkeypatch):
    settings = settings_in(objects, monkeypatch)
    workers = int(env_values(gateway_container(objects))["HEALTHCODE_WORKERS"])
    limit = quantity_bytes(gateway_container(objects)["resources"]["limits"]["memory"])
    admitted = workers * settings.max_in_flight * settings.max_body_bytes
    assert limit >= admitted + GATEWAY_BASE_MEMORY_BYTES


def test_the_readme_names_every_secret_the_manifests_need():
    readme = (K8S / "README.md").read_text()
    for overlay in ("gpu", "cpu"):
        for obj in rendered(overlay):
            if obj["kind"] != "Deployment":
                continue
            ctr = container(obj)
            refs = [e["valueFrom"]["secretKeyRef"] for e in ctr.get("env", []) if "valueFrom" in e]
            whole = [e["secretRef"] for e in ctr.get("envFrom", []) if "secretRef" in e]
            refs += [ref | {"key": ""} for ref in whole]
            for ref in refs:
                assert ref["name"] in readme and ref["key"] in readme, ref


def test_triton_accepts_the_gateways_keepalive_pings_everywhere(objects):
    from gateway.embedded.server import KEEPALIVE_ARGS

    compose = COMPOSE["services"]["triton"]["command"]
    kubernetes = triton_container(objects)["args"]
    for flag in KEEPALIVE_ARGS:
        assert flag in compose and flag in kubernetes, flag
