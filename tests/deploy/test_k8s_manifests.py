"""Every deploy/k8s variant renders, validates offline, and holds together as Kubernetes objects."""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest

from tests.deploy.manifests import (
    KUBERNETES_VERSIONS,
    NAMESPACE,
    container,
    env_values,
    flags,
    of_kind,
    one,
    pod_spec,
    quantity_bytes,
    rendered,
    validate,
    variants,
)

VARIANTS = variants()
CLUSTER_SCOPED = {"Namespace"}


def ids(variant: tuple[str, tuple[str, ...]]) -> str:
    return "+".join((variant[0], *variant[1]))


@pytest.fixture(params=VARIANTS, ids=[ids(v) for v in VARIANTS])
def objects(request) -> tuple[dict, ...]:
    return rendered(*request.param)


@pytest.fixture(params=["triton", "gateway"])
def deployment(objects, request) -> dict:
    return one(objects, "Deployment", request.param)


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) == {"matchLabels"}, "only matchLabels selectors are used here"
    return selector["matchLabels"].items() <= labels.items()


def pod_labels(deployment: dict) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_pinned_kubernetes_schemas(objects, version):
    for obj in objects:
        validate(obj, version)


def test_the_strict_schemas_catch_a_misspelt_field(objects):
    triton = copy.deepcopy(one(objects, "Deployment", "triton"))
    container(triton)["readinesProbe"] = container(triton).pop("readinessProbe")
    with pytest.raises(jsonschema.ValidationError, match="readinesProbe"):
        validate(triton, KUBERNETES_VERSIONS[0])
    monitor = copy.deepcopy(of_kind(objects, "ServiceMonitor")[0])
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(monitor, KUBERNETES_VERSIONS[0])


def test_everything_lives_in_the_healthcode_namespace(objects):
    assert one(objects, "Namespace", NAMESPACE)
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]


def test_each_deployment_selects_its_own_pods_and_nothing_else_does(objects):
    triton, gateway = one(objects, "Deployment", "triton"), one(objects, "Deployment", "gateway")
    for deployment, other in ((triton, gateway), (gateway, triton)):
        assert selects(deployment["spec"]["selector"], pod_labels(deployment))
        assert not selects(deployment["spec"]["selector"], pod_labels(other))


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget", "ServiceMonitor"])
def test_services_budgets_and_monitors_each_select_exactly_one_deployment(objects, kind):
    deployments = of_kind(objects, "Deployment")
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    for obj in of_kind(objects, kind):
        if kind == "ServiceMonitor":  # selects a Service, whose selector picks the pods
            labels = obj["spec"]["selector"]
            (service,) = [s for s in services.values() if selects(labels, s["metadata"]["labels"])]
            selector = {"matchLabels": service["spec"]["selector"]}
        elif kind == "Service":
            selector = {"matchLabels": obj["spec"]["selector"]}
        else:
            selector = obj["spec"]["selector"]
        chosen = [d["metadata"]["name"] for d in deployments if selects(selector, pod_labels(d))]
        assert chosen == [obj["metadata"]["name"]], (kind, obj["metadata"]["name"], chosen)


def test_autoscalers_own_the_replica_counts(objects):
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        deployment = one(objects, target["kind"], target["name"])
        # A `replicas` in the manifest would reset the autoscaler's count on every apply.
        assert "replicas" not in deployment["spec"]
        # With one pod down (the budget allows it), another still serves.
        assert hpa["spec"]["minReplicas"] >= 2
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(objects, "HorizontalPodAutoscaler")
    }
    assert targets == {"triton", "gateway"}


def test_disruption_budgets_leave_a_pod_of_each_serving(objects):
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        hpa = one(objects, "HorizontalPodAutoscaler", pdb["metadata"]["name"])
        assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]


def test_pods_spread_over_zones_and_nodes(deployment):
    constraints = pod_spec(deployment)["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in constraints}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in constraints:
        assert selects(constraint["labelSelector"], pod_labels(deployment))


def test_pods_meet_the_restricted_pod_security_standard(objects, deployment):
    namespace = one(objects, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    spec = pod_spec(deployment)
    context = spec["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert not any(k in spec for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert not any("hostPath" in v for v in spec.get("volumes", []))
    for ctr in spec["containers"]:
        assert ctr["securityContext"]["allowPrivilegeEscalation"] is False
        assert ctr["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert not ctr["securityContext"].get("privileged", False)


def test_probes_use_named_ports_the_container_declares(deployment):
    ctr = container(deployment)
    names = {p["name"] for p in ctr["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert ctr[probe]["httpGet"]["port"] in names, probe


def test_memory_is_bounded_and_cpu_requested(deployment):
    resources = container(deployment)["resources"]
    memory = {k: quantity_bytes(resources[k]["memory"]) for k in ("requests", "limits")}
    assert memory["requests"] <= memory["limits"]
    assert "cpu" in resources["requests"]


def test_tritons_shared_memory_is_memory_backed_and_within_its_memory_limit(objects):
    triton = one(objects, "Deployment", "triton")
    (mount,) = [m for m in container(triton)["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    (volume,) = [v for v in pod_spec(triton)["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"
    shm = quantity_bytes(volume["emptyDir"]["sizeLimit"])
    # A tmpfs counts against the container's memory: Triton itself needs room beside it.
    assert 2 * shm <= quantity_bytes(container(triton)["resources"]["limits"]["memory"])


def test_triton_polls_the_repository_named_by_its_model_store_config(objects):
    triton = container(one(objects, "Deployment", "triton"))
    args = flags(triton["args"])
    assert args["model-control-mode"] == "poll"
    assert args["model-repository"] == "$(MODEL_REPOSITORY)"
    (config_ref,) = [e["configMapRef"] for e in triton["envFrom"] if "configMapRef" in e]
    store = one(objects, "ConfigMap", config_ref["name"])["data"]["MODEL_REPOSITORY"]
    mounts = {m["mountPath"]: m for m in triton["volumeMounts"]}
    if store.startswith("s3://"):
        (secret_ref,) = [e["secretRef"] for e in triton["envFrom"] if "secretRef" in e]
        # Node or workload identity may provide credentials instead.
        assert secret_ref["optional"] is True
        assert "/models" not in mounts
    else:
        assert mounts[store]["readOnly"] is True
        volumes = pod_spec(one(objects, "Deployment", "triton"))["volumes"]
        (volume,) = [v for v in volumes if v["name"] == mounts[store]["name"]]
        claim = one(objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("overlay", ["gpu", "cpu"])
def test_only_the_gpu_overlay_asks_for_gpus_and_their_model_configs(overlay):
    triton = container(one(rendered(overlay), "Deployment", "triton"))
    gpus = triton["resources"]["limits"].get("nvidia.com/gpu")
    config_name = flags(triton["args"]).get("model-config-name")
    if overlay == "gpu":
        assert (gpus, config_name) == ("1", "gpu")
    else:
        assert (gpus, config_name) == (None, None)
        assert "tolerations" not in pod_spec(one(rendered(overlay), "Deployment", "triton"))


def test_tritons_grpc_service_is_headless(objects):
    service = one(objects, "Service", "triton")
    assert service["spec"]["clusterIP"] == "None"
    assert "type" not in service["spec"] or service["spec"]["type"] == "ClusterIP"


def test_only_gateway_pods_reach_triton_and_nobody_its_http_api(objects):
    triton, gateway = one(objects, "Deployment", "triton"), one(objects, "Deployment", "gateway")
    (policy,) = of_kind(objects, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"], pod_labels(triton))
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    declared = {p["name"] for p in container(triton)["ports"]}
    reachable = set()
    for rule in policy["spec"]["ingress"]:
        ports = {p["port"] for p in rule["ports"]}  # a rule without ports would open them all
        assert ports <= declared
        reachable |= ports
        for peer in rule["from"]:
            if "podSelector" in peer:
                assert selects(peer["podSelector"], pod_labels(gateway))
                assert ports == {"grpc"}
            else:
                assert ports == {"metrics"}, "only metrics may be reached from another namespace"
    assert "http" not in reachable  # model control and shared-memory registration
    assert "grpc" in reachable


@pytest.mark.parametrize("name", ["triton", "gateway"])
def test_scrape_annotations_agree_with_the_service_monitors(objects, name):
    deployment = one(objects, "Deployment", name)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    monitor = one(objects, "ServiceMonitor", name)
    (endpoint,) = monitor["spec"]["endpoints"]
    port = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert annotations["prometheus.io/port"] == str(port[endpoint["port"]])
    assert annotations["prometheus.io/path"] == endpoint["path"]


def test_gateway_env_names_secret_keys_it_is_given(objects):
    gateway = container(one(objects, "Deployment", "gateway"))
    env = env_values(gateway)
    secret_refs = [e["valueFrom"]["secretKeyRef"] for e in gateway["env"] if "valueFrom" in e]
    assert all(ref.get("optional") is not True for ref in secret_refs)  # no keys: no start
    # HEALTHCODE_API_KEYS is assembled from them: every $(NAME) is defined before its use.
    names = [e["name"] for e in gateway["env"]]
    for i, entry in enumerate(gateway["env"]):
        for ref in re.findall(r"\$\(([A-Z0-9_]+)\)", entry.get("value") or ""):
            assert ref in names[:i], f"{entry['name']} uses {ref} before it is defined"
    assert env["HEALTHCODE_API_KEYS"]
