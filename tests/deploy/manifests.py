"""The rendered Kubernetes manifests of deploy/k8s and what the checks need to read them."""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from gateway.settings import Settings
from tests.deploy.kustomize import render

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("gpu", "cpu")
COMPONENTS = ("model-volume",)
NAMESPACE = "healthcode"
ADAPTER_VALUES = K8S / "prometheus-adapter" / "values.yaml"
# The oldest Kubernetes minor the manifests target, and the newest the pinned
# kubernetes-validate knows (an API removed since would fail there).
KUBERNETES_VERSIONS = ("1.31", "1.37")
# Schemas of custom resources, which kubernetes-validate does not carry.
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
}
SCHEMAS = Path(__file__).parent / "schemas"
ENV_PREFIX = "HEALTHCODE_"
GATEWAY_DOCKERFILE = (REPO / "deploy" / "gateway.Dockerfile").read_text()


@functools.cache
def rendered(overlay: str, components: tuple[str, ...] = ()) -> tuple[dict, ...]:
    """An overlay's objects, with components added the way the README says to add them."""
    if not components:
        return tuple(render(K8S / "overlays" / overlay))
    with tempfile.TemporaryDirectory() as tmp:
        write_kustomization(Path(tmp), overlay, components)
        return tuple(render(Path(tmp)))


def write_kustomization(directory: Path, overlay: str, components: tuple[str, ...]) -> None:
    """A kustomization in `directory` of an overlay plus components, by relative paths."""
    k8s = os.path.relpath(K8S, directory)
    spec = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [f"{k8s}/overlays/{overlay}"],
        "components": [f"{k8s}/components/{c}" for c in components],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(spec))


def variants() -> list[tuple[str, tuple[str, ...]]]:
    """Every overlay, alone and with each component."""
    return [(o, ()) for o in OVERLAYS] + [(o, (c,)) for o in OVERLAYS for c in COMPONENTS]


def one(objects: tuple[dict, ...], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def of_kind(objects: tuple[dict, ...], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def container(deployment: dict) -> dict:
    (only,) = pod_spec(deployment)["containers"]
    return only


def env_values(ctr: dict) -> dict[str, str | None]:
    """Environment variables by name: their literal value, or None when taken from elsewhere."""
    return {e["name"]: e.get("value") for e in ctr.get("env", [])}


def flags(args: list[str]) -> dict[str, str]:
    """`--name=value` arguments as a dict."""
    return dict(arg.removeprefix("--").split("=", 1) for arg in args if arg.startswith("--"))


def validate(obj: dict, version: str) -> None:
    """Raise if `obj` breaks its schema (strict: unknown fields fail too)."""
    crd = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if crd is not None:
        schema = json.loads((SCHEMAS / crd).read_text())
        jsonschema.Draft202012Validator(schema).validate(obj)
        return
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except SchemaNotFoundError as e:
        raise AssertionError(f"no schema for {obj['apiVersion']} {obj['kind']}: {e.message}") from e


def adapter_rules() -> list[dict]:
    return yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]


def adapter_series(rule: dict) -> set[str]:
    """Prometheus series a prometheus-adapter rule reads (names followed by `{`)."""
    text = rule["seriesQuery"] + " " + rule["metricsQuery"]
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", text)) - {"<<.Series>>"}


def quantity_bytes(text: str | int) -> int:
    """A Kubernetes memory quantity (or docker's 1gb / 512m) in bytes."""
    units = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    docker = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}  # docker's units are binary
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", str(text))
    assert match, f"not a quantity: {text!r}"
    number, unit = int(match[1]), match[2]
    if unit in units:
        return number * units[unit]
    return number * docker[unit.lower().removesuffix("b") or "b"]


def gateway_container(objects) -> dict:
    return container(one(objects, "Deployment", "gateway"))


def triton_container(objects) -> dict:
    return container(one(objects, "Deployment", "triton"))


def dockerfile_env(name: str) -> str | None:
    match = re.search(rf"\b{name}=(\S+)", GATEWAY_DOCKERFILE)
    return match[1] if match else None


def settings_in(objects, monkeypatch) -> Settings:
    """The Settings a gateway pod starts with: its literal env, secrets as placeholders."""
    env = {}
    for entry in gateway_container(objects)["env"]:
        value = entry.get("value", "placeholder-from-a-secret")
        env[entry["name"]] = re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: env[m[1]], value)
    for name in list(Settings.model_fields):
        monkeypatch.delenv(ENV_PREFIX + name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("HOST", "PORT"):  # the image's own defaults, where the manifest sets none
        if ENV_PREFIX + name not in env and (value := dockerfile_env(ENV_PREFIX + name)):
            monkeypatch.setenv(ENV_PREFIX + name, value)
    return Settings()


def config_values(field: str, texts: list[str]) -> list[int]:
    """Every integer value of `field` in the model config texts."""
    return [int(v) for text in texts for v in re.findall(rf"\b{field}:\s*(\d+)", text)]
