"""A pure-Python renderer for the part of kustomize that deploy/k8s uses (CI has no kubectl).

Supported, with kustomize's meaning: `resources` (files and kustomization directories),
`components`, `patches` given as JSON patches (RFC 6902, a YAML list, from `path` or inline
`patch`, with a `target` of group/version/kind/name/namespace), `namespace` and `images`.
Anything else in a kustomization is an error rather than something silently left out; so is
a patch whose target matches nothing (kustomize ignores it). test_kustomize_renderer.py checks
the output against `kubectl kustomize` wherever kubectl is installed.

    python -m tests.deploy.kustomize deploy/k8s/overlays/gpu    # prints the manifests
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

FILENAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FIELDS = {"apiVersion", "kind", "resources", "components", "patches", "namespace", "images"}
TARGET_FIELDS = {"group", "version", "kind", "name", "namespace"}
# Kinds without a namespace that a namespace transformer must leave alone (others: namespaced).
CLUSTER_SCOPED = {
    "APIService",
    "ClusterRole",
    "ClusterRoleBinding",
    "CSIDriver",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "RuntimeClass",
    "StorageClass",
    "ValidatingWebhookConfiguration",
}
# Where pod specs sit: Pod, Deployment and the like, CronJob.
POD_SPEC_PATHS = (
    ("spec",),
    ("spec", "template", "spec"),
    ("spec", "jobTemplate", "spec", "template", "spec"),
)


class KustomizeError(Exception):
    """A kustomization this renderer cannot (or kustomize would not) render."""


def render(directory: Path) -> list[dict]:
    """The objects `kubectl kustomize directory` prints, in the order they were declared."""
    return _build(Path(directory), "Kustomization", [])


def dump(objects: list[dict]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=True)


def object_id(obj: dict) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _load(directory: Path, kind: str) -> dict:
    found = [directory / name for name in FILENAMES if (directory / name).is_file()]
    if len(found) != 1:
        raise KustomizeError(f"{directory}: expected one of {FILENAMES}, found {len(found)}")
    spec = yaml.safe_load(found[0].read_text()) or {}
    if spec.get("kind", "Kustomization") != kind:
        raise KustomizeError(f"{found[0]}: kind {spec.get('kind')!r}, expected {kind}")
    if unknown := set(spec) - FIELDS:
        raise KustomizeError(f"{found[0]}: fields this renderer does not know: {sorted(unknown)}")
    return spec


def _build(directory: Path, kind: str, objects: list[dict]) -> list[dict]:
    """Objects of `directory` added to `objects` (a component transforms what it is given)."""
    spec = _load(directory, kind)
    objects = list(objects)
    for entry in spec.get("resources", []):
        path = directory / entry
        objects += _build(path, "Kustomization", []) if path.is_dir() else _read(path)
    seen: set[tuple] = set()
    for obj in objects:
        key = _identity(obj)
        if key in seen:
            raise KustomizeError(f"{directory}: {key} is declared twice")
        seen.add(key)
    for entry in spec.get("components", []):
        objects = _build(directory / entry, "Component", objects)
    for patch in spec.get("patches", []):
        _patch(directory, patch, objects)
    if "namespace" in spec:
        _set_namespace(spec["namespace"], objects)
    for image in spec.get("images", []):
        _set_image(image, objects)
    return objects


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        raise KustomizeError(f"{path}: no such file or directory")
    return [copy.deepcopy(doc) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _identity(obj: dict) -> tuple[str, str, str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    meta = obj["metadata"]
    return (group, obj["kind"], meta.get("namespace", ""), meta["name"])


def _matches(target: dict, obj: dict) -> bool:
    if unknown := set(target) - TARGET_FIELDS:
        raise KustomizeError(f"patch target fields this renderer does not know: {unknown}")
    group, _, version = obj["apiVersion"].rpartition("/")
    actual = {
        "group": group,
        "version": version,
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"].get("namespace", ""),
    }
    # As in kustomize: name and namespace are anchored regular expressions.
    return all(re.fullmatch(str(want), actual[field]) for field, want in target.items())


def _patch(directory: Path, entry: dict, objects: list[dict]) -> None:
    if "target" not in entry or ("path" in entry) == ("patch" in entry):
        raise KustomizeError(f"{directory}: a patch needs a target and one of path or patch")
    text = (directory / entry["path"]).read_text() if "path" in entry else entry["patch"]
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeError(f"{directory}: only JSON patches (a list of operations) are supported")
    targets = [obj for obj in objects if _matches(entry["target"], obj)]
    if not targets:
        raise KustomizeError(f"{directory}: patch target {entry['target']} matches nothing")
    for obj in targets:
        for operation in operations:
            _apply_operation(obj, operation)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with '/'")
    return [token.replace("~1", "/").replace("~0", "~") for token in path.split("/")[1:]]


def _apply_operation(obj: dict, operation: dict) -> None:
    op, tokens = operation["op"], _pointer(operation["path"])
    value = copy.deepcopy(operation.get("value"))
    try:
        parent: Any = obj
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        key: Any = tokens[-1]
        if isinstance(parent, list):
            key = len(parent) if key == "-" else int(key)
            if op == "add":
                parent.insert(key, value)
                return
        if op == "add":
            parent[key] = value
        elif op == "replace":
            _ = parent[key]  # only a member that exists is replaced: KeyError otherwise
            parent[key] = value
        elif op == "remove":
            del parent[key]
        elif op == "test":
            if parent[key] != value:
                raise KustomizeError(f"JSON patch test failed: {operation}")
        else:
            raise KustomizeError(f"unsupported JSON patch operation {op!r}")
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise KustomizeError(f"JSON patch {operation} does not apply: {e!r}") from e


def _set_namespace(namespace: str, objects: list[dict]) -> None:
    for obj in objects:
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = namespace
        elif obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace


def _split_image(image: str) -> tuple[str, str]:
    """("registry:5000/a/b", ":tag" or "@sha256:..." or "")."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    name, colon, tag = image.rpartition(":")
    if colon and "/" not in tag:
        return name, ":" + tag
    return image, ""


def _set_image(rule: dict, objects: list[dict]) -> None:
    for obj in objects:
        for path in POD_SPEC_PATHS:
            spec: Any = obj
            for key in path:
                spec = spec.get(key, {}) if isinstance(spec, dict) else {}
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                name, suffix = _split_image(container.get("image", ""))
                if name != rule["name"]:
                    continue
                if "newTag" in rule:
                    suffix = ":" + str(rule["newTag"])
                if "digest" in rule:
                    suffix = "@" + rule["digest"]
                container["image"] = rule.get("newName", name) + suffix


if __name__ == "__main__":
    sys.stdout.write(dump(render(Path(sys.argv[1]))))
