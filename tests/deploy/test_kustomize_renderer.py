"""The pure-Python kustomize renderer does what kustomize does, for the features deploy/k8s uses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.kustomize import KustomizeError, object_id, render
from tests.deploy.manifests import K8S, rendered, variants, write_kustomization

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed here")


def kubectl_kustomize(directory: Path) -> dict:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return {object_id(o): o for o in yaml.safe_load_all(out.stdout) if o}


def by_id(objects) -> dict:
    return {object_id(o): o for o in objects}


def write(directory: Path, files: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        text = content if isinstance(content, str) else yaml.safe_dump_all(content)
        (directory / name).write_text(text)
    return directory


CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {
        "containers": [
            {"name": "a", "image": "registry.local:5000/team/app:1.0", "args": ["x", "y"]},
            {"name": "b", "image": "busybox"},
        ],
        "initContainers": [{"name": "i", "image": "team/tool@sha256:abc"}],
    },
}
ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "r"},
}
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}}


def kustomization(**fields) -> str:
    return yaml.safe_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields}
    )


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A base and an overlay using every feature the renderer supports."""
    write(
        tmp_path / "base",
        {
            "kustomization.yaml": kustomization(resources=["objects.yaml"]),
            "objects.yaml": [NS, CONFIG, POD, ROLE],
        },
    )
    write(
        tmp_path / "component",
        {
            "kustomization.yaml": yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1alpha1",
                    "kind": "Component",
                    "resources": ["extra.yaml"],
                    "patches": [
                        {
                            "target": {"kind": "ConfigMap", "name": "c"},
                            "patch": "- {op: add, path: /data/from-component, value: 'yes'}",
                        }
                    ],
                }
            ),
            "extra.yaml": [{**CONFIG, "metadata": {"name": "extra"}}],
        },
    )
    write(
        tmp_path / "overlay",
        {
            "kustomization.yaml": kustomization(
                resources=["../base"],
                components=["../component"],
                namespace="team",
                patches=[
                    {"path": "pod.yaml", "target": {"version": "v1", "kind": "Pod", "name": "p"}},
                    {
                        "target": {"kind": "ConfigMap", "name": "c|other"},
                        "patch": "- {op: replace, path: /data/a, value: '2'}\n"
                        "- {op: test, path: /data/a, value: '2'}",
                    },
                ],
                images=[
                    {"name": "registry.local:5000/team/app", "newTag": "2.0"},
                    {"name": "busybox", "newName": "mirror/busybox", "newTag": "1.36"},
                    {"name": "team/tool", "digest": "sha256:def"},
                ],
            ),
            "pod.yaml": (
                "- {op: add, path: /spec/containers/0/args/-, value: z}\n"
                "- {op: add, path: /spec/containers/0/args/0, value: first}\n"
                "- {op: remove, path: /spec/containers/1}\n"
                "- {op: add, path: /metadata/labels, value: {app: web}}\n"
                "- {op: add, path: /metadata/labels/team.io~1tier, value: front}\n"
            ),
        },
    )
    return tmp_path / "overlay"


def test_every_supported_feature_renders_as_specified(example):
    objects = by_id(render(example))
    assert set(objects) == {
        ("v1", "Namespace", "", "team"),
        ("v1", "ConfigMap", "team", "c"),
        ("v1", "ConfigMap", "team", "extra"),
        ("v1", "Pod", "team", "p"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r"),
    }
    assert objects["v1", "ConfigMap", "team", "c"]["data"] == {"a": "2", "from-component": "yes"}
    pod = objects["v1", "Pod", "team", "p"]
    assert pod["metadata"]["labels"] == {"app": "web", "team.io/tier": "front"}
    (app,) = pod["spec"]["containers"]
    assert app["args"] == ["first", "x", "y", "z"]
    assert app["image"] == "registry.local:5000/team/app:2.0"
    assert pod["spec"]["initContainers"][0]["image"] == "team/tool@sha256:def"


@needs_kubectl
def test_every_supported_feature_renders_as_kubectl_kustomize_does(example):
    assert by_id(render(example)) == kubectl_kustomize(example)


@needs_kubectl
@pytest.mark.parametrize(("overlay", "components"), variants())
def test_each_deploy_variant_renders_as_kubectl_kustomize_does(tmp_path, overlay, components):
    if components:
        write_kustomization(tmp_path, overlay, components)
        directory = tmp_path
    else:
        directory = K8S / "overlays" / overlay
    assert by_id(rendered(overlay, components)) == kubectl_kustomize(directory)


def patched(patch: str, target: dict | None = None) -> dict:
    """Kustomization fields: c.yaml with one patch."""
    return {
        "resources": ["c.yaml"],
        "patches": [{"target": target or {"kind": "ConfigMap"}, "patch": patch}],
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"commonLabels": {"a": "b"}}, "does not know"),
        ({"resources": ["missing.yaml"]}, "no such file"),
        ({"resources": ["c.yaml", "c.yaml"]}, "declared twice"),
        (patched("[]", {"kind": "Secret"}), "matches nothing"),
        (patched("data: {a: '3'}"), "only JSON patches"),
        (patched("- {op: replace, path: /data/b, value: 1}"), "does not apply"),
        (patched("- {op: remove, path: /spec/x}"), "does not apply"),
        (patched("- {op: move, from: /data/a, path: /data/b}"), "unsupported"),
        (patched("- {op: test, path: /data/a, value: '9'}"), "test failed"),
        (patched("[]", {"kind": "ConfigMap", "labelSelector": "a=b"}), "does not know"),
    ],
)
def test_what_the_renderer_cannot_do_is_an_error_not_a_silent_gap(tmp_path, fields, message):
    write(tmp_path, {"kustomization.yaml": kustomization(**fields), "c.yaml": [CONFIG]})
    with pytest.raises(KustomizeError, match=message):
        render(tmp_path)


def test_a_component_cannot_stand_in_for_a_kustomization(tmp_path):
    write(tmp_path, {"kustomization.yaml": "kind: Component\n"})
    with pytest.raises(KustomizeError, match="expected Kustomization"):
        render(tmp_path)
