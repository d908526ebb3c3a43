"""The Helm chart, rendered by the real Helm engine and checked as a cluster would see it.

Rendering uses helm-python-sdk (Helm's own Go engine, no `helm` binary); manifests are validated
with kubernetes-validate's strict offline schemas; the operator CRDs it cannot validate are checked
structurally here, and the PrometheusRule's groups also by `promtool check rules`. Without those
tools the tests skip, except under CI, where a missing tool fails them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from dataflow_exporter import config as config_mod
from dataflow_exporter.cli import build_parser, shard_from
from tests.support.tools import require_module, require_tool

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "dataflow-exporter"
CHART_TEMPLATE = CHART / "files" / "rules.template.yml"
CHART_ALERTS_CONFIG = CHART / "files" / "alerts-config.yml"
REPO_RULES = ROOT / "alerts" / "dataflow-exporter.rules.yml"
RELEASE = "flows"
NAMESPACE = "monitoring"
FULLNAME = "flows-dataflow-exporter"
# The chart's kubeVersion floor and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.25.0", "latest")
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

FULL_VALUES: dict[str, Any] = {
    "config": {
        "global": {"interval": "30s", "timeout": "10s", "stale_after": "5m"},
        "targets": [
            {
                "name": "peerdb-prod",
                "system": "peerdb",
                "url": "http://peerdb-ui.peerdb:3000",
                "password_file": "/run/secrets/peerdb-credentials/password",
                "mirrors": {"include": ["^orders_"], "exclude": []},
                "labels": {"env": "prod"},
            },
            {
                "name": "peerdb-dr",
                "system": "peerdb",
                "url": "http://peerdb-ui.peerdb-dr:3000",
                "password": "${PEERDB_DR_PASSWORD}",
            },
        ],
    },
    "secretEnv": [
        {"name": "PEERDB_DR_PASSWORD", "secretName": "peerdb-dr", "key": "password"},
    ],
    "secretFiles": [
        {"secretName": "peerdb-credentials", "items": [{"key": "password", "path": "password"}]},
        {"secretName": "exporter-tls", "mountPath": "/run/secrets/exporter-tls"},
    ],
    "extraEnv": [{"name": "TZ", "value": "UTC"}],
    "webConfig": {"existingSecret": "exporter-web-config", "tls": True},
    "sharding": {"enabled": True, "replicas": 3},
    "podAnnotations": {"team": "data-platform"},
    "serviceMonitor": {
        "enabled": True,
        "labels": {"release": "kube-prometheus-stack"},
        "tlsConfig": {"insecureSkipVerify": True},
    },
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "dashboards": {"enabled": True, "annotations": {"grafana_folder": "Dataflow"}},
    "networkPolicy": {
        "enabled": True,
        "prometheus": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
        "extraFrom": [{"podSelector": {"matchLabels": {"app": "status-bot"}}}],
    },
}

SAMPLE_DASHBOARD = {
    "title": "Dataflow overview",
    "uid": "dataflow-overview",
    "panels": [{"type": "stat", "targets": [{"expr": "sum(dataflow_exporter_target_up)"}]}],
}


@pytest.fixture(scope="module")
def helm() -> ModuleType:
    return require_module("helm_python")


@pytest.fixture(scope="module")
def kubernetes_validate() -> ModuleType:
    return require_module("kubernetes_validate")


def render(helm: ModuleType, values: dict[str, Any], chart: Path = CHART) -> list[dict[str, Any]]:
    """Every object the chart renders with these values (NOTES.txt excluded)."""
    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(helm: ModuleType, values: dict[str, Any]) -> str:
    """The rendered NOTES.txt."""
    with helm.Chart.load(str(CHART)) as loaded:
        rendered = loaded.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    text: str = next(t for name, t in rendered.items() if name.endswith("NOTES.txt"))
    return text


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The one object of this kind."""
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment or StatefulSet running the exporter."""
    found = [o for o in objects if o["kind"] in {"Deployment", "StatefulSet"}]
    assert len(found) == 1
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The exporter container."""
    containers = workload(objects)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["exporter"]
    result: dict[str, Any] = containers[0]
    return result


def chart_copy(tmp_path: Path, dashboards: dict[str, dict[str, Any]]) -> Path:
    """A copy of the chart whose files/dashboards holds exactly these JSON files."""
    copy = tmp_path / "dataflow-exporter"
    shutil.copytree(CHART, copy)
    folder = copy / "files" / "dashboards"
    for existing in folder.glob("*.json"):
        existing.unlink()
    for name, dashboard in dashboards.items():
        (folder / name).write_text(json.dumps(dashboard, indent=2), encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def default_objects(helm: ModuleType) -> list[dict[str, Any]]:
    return render(helm, {})


@pytest.fixture(scope="module")
def full_objects(
    helm: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    chart = chart_copy(tmp_path_factory.mktemp("full"), {"overview.json": SAMPLE_DASHBOARD})
    return render(helm, FULL_VALUES, chart)


def lint_problems(helm: ModuleType, values: dict[str, Any]) -> list[str]:
    """Lint findings of severity warning or error (info, like a missing icon, is fine)."""
    report = helm.lint(str(CHART), values, strict=True)
    problems = [m["error"] for m in report["messages"] if m["severity"] >= 2]
    return [*problems, *report["errors"]]


# --- lint and manifest validity ---------------------------------------------------------------


def test_chart_lints_clean_with_default_values(helm: ModuleType) -> None:
    assert lint_problems(helm, {}) == []


def test_chart_lints_clean_with_everything_enabled(helm: ModuleType) -> None:
    assert lint_problems(helm, FULL_VALUES) == []


def test_values_schema_rejects_a_misspelt_key(helm: ModuleType) -> None:
    problems = lint_problems(helm, {"sharding": {"enabled": True, "replica": 3}})
    assert any("replica" in p for p in problems)


def _validate_all(kv: ModuleType, objects: list[dict[str, Any]], version: str) -> list[str]:
    """Strict schema errors of every built-in object; CRD kinds are left to their own tests."""
    target = kv.utils.latest_version() if version == "latest" else version
    errors = []
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kv.validate(obj, target, strict=True)
        except kv.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    return errors


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_default_render_is_valid_kubernetes(
    kubernetes_validate: ModuleType, default_objects: list[dict[str, Any]], version: str
) -> None:
    assert {o["kind"] for o in default_objects} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceAccount",
    }
    assert _validate_all(kubernetes_validate, default_objects, version) == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_fully_enabled_render_is_valid_kubernetes(
    kubernetes_validate: ModuleType, full_objects: list[dict[str, Any]], version: str
) -> None:
    kinds = sorted(o["kind"] for o in full_objects)
    assert kinds == sorted(
        [
            "ConfigMap",  # the exporter config
            "ConfigMap",  # the sample dashboard
            "NetworkPolicy",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "StatefulSet",
        ]
    )
    assert _validate_all(kubernetes_validate, full_objects, version) == []


def test_crd_kinds_are_the_only_ones_without_a_schema(
    kubernetes_validate: ModuleType, full_objects: list[dict[str, Any]]
) -> None:
    for obj in full_objects:
        if obj["kind"] not in CRD_KINDS:
            continue
        with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
            kubernetes_validate.validate(obj, kubernetes_validate.utils.latest_version(), True)


def test_every_object_carries_the_standard_labels(full_objects: list[dict[str, Any]]) -> None:
    for obj in full_objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "dataflow-exporter"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"].startswith("dataflow-exporter-")


# --- the pod ------------------------------------------------------------------------------------


def test_pod_runs_as_non_root_with_a_read_only_root_filesystem(
    default_objects: list[dict[str, Any]],
) -> None:
    pod = workload(default_objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container(default_objects)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_only_tmp_is_writable_and_it_is_an_empty_dir(default_objects: list[dict[str, Any]]) -> None:
    pod = workload(default_objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = [m for m in container(default_objects)["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]
    assert "emptyDir" in volumes[writable[0]["name"]]


def test_probes_check_healthy_and_ready_endpoints(default_objects: list[dict[str, Any]]) -> None:
    exporter = container(default_objects)
    assert exporter["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert exporter["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    for probe in (exporter["livenessProbe"], exporter["readinessProbe"]):
        assert probe["httpGet"]["port"] == "http-metrics"
        assert probe["httpGet"]["scheme"] == "HTTP"


def test_container_has_resource_requests_and_a_memory_limit(
    default_objects: list[dict[str, Any]],
) -> None:
    resources = container(default_objects)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_service_exposes_port_9891_named_http_metrics(
    default_objects: list[dict[str, Any]],
) -> None:
    service = only(default_objects, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": 9891, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    assert container(default_objects)["ports"][0]["containerPort"] == 9891
    pod_labels = workload(default_objects)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_arguments_are_accepted_by_the_exporter_cli(
    default_objects: list[dict[str, Any]], full_objects: list[dict[str, Any]]
) -> None:
    for objects in (default_objects, full_objects):
        args = build_parser().parse_args(container(objects)["args"])
        assert args.command == "run"
        assert args.config_file == "/etc/dataflow-exporter/config.yaml"
        assert args.listen == ":9891"
        assert args.log_format == "json"


def test_config_map_is_mounted_where_the_exporter_reads_it(
    default_objects: list[dict[str, Any]],
) -> None:
    mount = next(m for m in container(default_objects)["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == "/etc/dataflow-exporter/config.yaml"
    assert mount["subPath"] == "config.yaml"
    volumes = workload(default_objects)["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == "config")
    assert volume["configMap"]["name"] == only(default_objects, "ConfigMap")["metadata"]["name"]


# --- config and checksum --------------------------------------------------------------------------


def _config_map(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "ConfigMap" and "config.yaml" in o["data"])


def _checksum(objects: list[dict[str, Any]]) -> str:
    annotations = workload(objects)["spec"]["template"]["metadata"]["annotations"]
    checksum: str = annotations["checksum/config"]
    return checksum


def test_config_map_holds_the_values_config_tree(
    helm: ModuleType, full_objects: list[dict[str, Any]]
) -> None:
    rendered = yaml.safe_load(_config_map(full_objects)["data"]["config.yaml"])
    assert rendered["targets"] == FULL_VALUES["config"]["targets"]
    # Helm merges maps with the chart's defaults, so `global` keeps the defaults not overridden.
    with helm.Chart.load(str(CHART)) as loaded:
        assert rendered == loaded.merge_values(FULL_VALUES)["config"]
    assert rendered["global"]["max_concurrency"] == 8


def test_checksum_annotation_follows_the_config(helm: ModuleType) -> None:
    base = {"config": {"targets": [{"name": "a", "system": "peerdb", "url": "http://p:3000"}]}}
    changed = {"config": {"targets": [{"name": "b", "system": "peerdb", "url": "http://p:3000"}]}}
    unrelated = {**base, "resources": {"requests": {"cpu": "1"}}}
    checksum = _checksum(render(helm, base))
    assert re.fullmatch(r"[0-9a-f]{64}", checksum)
    assert _checksum(render(helm, changed)) != checksum
    assert _checksum(render(helm, unrelated)) == checksum


def _env_refs(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def _file_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("_file") and isinstance(value, str):
                yield value
            else:
                yield from _file_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _file_keys(item)


def test_config_references_resolve_inside_the_pod(
    full_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    text = _config_map(full_objects)["data"]["config.yaml"]
    exporter = container(full_objects)
    env_names = {e["name"] for e in exporter["env"]}
    assert _env_refs(text) <= env_names
    mounts = [m["mountPath"] for m in exporter["volumeMounts"]]
    secret_paths = list(_file_keys(yaml.safe_load(text)))
    assert secret_paths
    for path in secret_paths:
        assert any(path.startswith(f"{mount}/") for mount in mounts), path
    # The exporter accepts the rendered config once the mounted files and variables exist.
    for path in secret_paths:
        local = tmp_path / path.removeprefix("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("not-a-real-secret\n", encoding="utf-8")
    local_text = text.replace("/run/secrets/", f"{tmp_path}/run/secrets/")
    loaded = config_mod.parse(yaml.safe_load(local_text), env=dict.fromkeys(env_names, "x"))
    assert [t.name for t in loaded.targets] == ["peerdb-prod", "peerdb-dr"]


# --- secrets ------------------------------------------------------------------------------------


def test_credentials_come_from_existing_secrets_by_reference(
    full_objects: list[dict[str, Any]],
) -> None:
    assert not [o for o in full_objects if o["kind"] == "Secret"]
    env = {e["name"]: e for e in container(full_objects)["env"]}
    assert env["PEERDB_DR_PASSWORD"] == {
        "name": "PEERDB_DR_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "peerdb-dr", "key": "password"}},
    }
    volumes = workload(full_objects)["spec"]["template"]["spec"]["volumes"]
    secrets = {v["secret"]["secretName"] for v in volumes if "secret" in v}
    assert secrets == {"peerdb-credentials", "exporter-tls", "exporter-web-config"}


def test_secret_files_are_directory_mounts_so_rotation_reaches_the_pod(
    full_objects: list[dict[str, Any]],
) -> None:
    volumes = workload(full_objects)["spec"]["template"]["spec"]["volumes"]
    secret_volumes = {v["name"] for v in volumes if "secret" in v}
    mounts = [m for m in container(full_objects)["volumeMounts"] if m["name"] in secret_volumes]
    assert mounts
    assert all("subPath" not in m and m["readOnly"] is True for m in mounts)
    paths = {m["mountPath"] for m in mounts}
    assert "/run/secrets/peerdb-credentials" in paths


def test_inline_secret_in_config_is_refused_without_echoing_it(helm: ModuleType) -> None:
    secret = "correct-horse-battery-staple"
    values = {
        "config": {
            "targets": [
                {"name": "p", "system": "peerdb", "url": "http://p:3000", "password": secret}
            ]
        }
    }
    with pytest.raises(helm.HelmError) as caught:
        render(helm, values)
    message = str(caught.value)
    assert "targets[0].password" in message
    assert secret not in message


def test_secret_value_fields_are_rejected_by_the_values_schema(helm: ModuleType) -> None:
    values = {"secretEnv": [{"name": "X", "secretName": "s", "key": "k", "value": "hunter2"}]}
    assert any("value" in p for p in lint_problems(helm, values))


# --- web config -------------------------------------------------------------------------------


def test_web_config_secret_is_mounted_and_passed_to_the_exporter(
    full_objects: list[dict[str, Any]],
) -> None:
    exporter = container(full_objects)
    args = build_parser().parse_args(exporter["args"])
    volumes = workload(full_objects)["spec"]["template"]["spec"]["volumes"]
    web = next(v for v in volumes if v.get("secret", {}).get("secretName") == "exporter-web-config")
    mount = next(m for m in exporter["volumeMounts"] if m["name"] == web["name"])
    assert args.web_config == f"{mount['mountPath']}/web-config.yml"


def test_tls_web_config_switches_probes_and_scrapes_to_https(
    full_objects: list[dict[str, Any]],
) -> None:
    exporter = container(full_objects)
    assert exporter["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert exporter["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    endpoint = only(full_objects, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}


def test_probes_stay_http_checks_with_basic_auth_because_health_is_exempt(helm: ModuleType) -> None:
    objects = render(helm, {"webConfig": {"existingSecret": "web", "basicAuth": True}})
    exporter = container(objects)
    assert exporter["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert exporter["readinessProbe"]["httpGet"]["path"] == "/-/ready"


# --- sharding -----------------------------------------------------------------------------------


def test_sharding_runs_a_statefulset_whose_pods_own_one_shard_each(
    full_objects: list[dict[str, Any]],
) -> None:
    assert not [o for o in full_objects if o["kind"] == "Deployment"]
    statefulset = only(full_objects, "StatefulSet")
    replicas = statefulset["spec"]["replicas"]
    assert replicas == 3
    args = build_parser().parse_args(container(full_objects)["args"])
    pods = [f"{statefulset['metadata']['name']}-{i}" for i in range(replicas)]
    shards = [shard_from(args.shard_index, args.shard_count, hostname=pod) for pod in pods]
    assert [(s.index, s.count) for s in shards if s] == [(0, 3), (1, 3), (2, 3)]


def test_sharding_uses_a_headless_service_as_the_statefulset_service(
    full_objects: list[dict[str, Any]],
) -> None:
    service = only(full_objects, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert only(full_objects, "StatefulSet")["spec"]["serviceName"] == service["metadata"]["name"]


def test_default_runs_one_unsharded_deployment(default_objects: list[dict[str, Any]]) -> None:
    deployment = only(default_objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    args = build_parser().parse_args(container(default_objects)["args"])
    assert (args.shard_index, args.shard_count) == (None, None)


# --- ServiceMonitor -----------------------------------------------------------------------------


def test_service_monitor_scrapes_the_chart_service(full_objects: list[dict[str, Any]]) -> None:
    monitor = only(full_objects, "ServiceMonitor")
    service = only(full_objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert set(spec) == {"namespaceSelector", "selector", "endpoints"}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = spec["endpoints"]
    known = {"port", "path", "scheme", "interval", "scrapeTimeout", "tlsConfig", "basicAuth"}
    assert set(endpoint) <= known | {"relabelings", "metricRelabelings"}
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


def test_optional_operator_objects_are_off_by_default(
    default_objects: list[dict[str, Any]],
) -> None:
    assert not {o["kind"] for o in default_objects} & CRD_KINDS


# --- NetworkPolicy ------------------------------------------------------------------------------


def test_no_network_policy_by_default(default_objects: list[dict[str, Any]]) -> None:
    assert "NetworkPolicy" not in {o["kind"] for o in default_objects}


def test_the_network_policy_selects_the_exporter_pods_and_only_ingress(
    full_objects: list[dict[str, Any]],
) -> None:
    policy = only(full_objects, "NetworkPolicy")
    pod = workload(full_objects)["spec"]["template"]
    assert policy["metadata"]["namespace"] == NAMESPACE
    selected = policy["spec"]["podSelector"]["matchLabels"]
    assert selected and selected.items() <= pod["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_the_network_policy_lets_in_prometheus_and_the_listed_peers_on_the_port_only(
    full_objects: list[dict[str, Any]],
) -> None:
    policy = only(full_objects, "NetworkPolicy")
    [rule] = policy["spec"]["ingress"]
    [port] = container(full_objects)["ports"]
    assert rule["ports"] == [{"port": port["name"], "protocol": "TCP"}]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
        {"podSelector": {"matchLabels": {"app": "status-bot"}}},
    ]


def test_the_network_policy_defaults_to_prometheus_operators_pods(helm: ModuleType) -> None:
    policy = only(render(helm, {"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_the_default_network_policy_is_valid_kubernetes(
    helm: ModuleType, kubernetes_validate: ModuleType, version: str
) -> None:
    objects = render(helm, {"networkPolicy": {"enabled": True}})
    assert _validate_all(kubernetes_validate, objects, version) == []


def test_a_misspelt_network_policy_key_is_refused(helm: ModuleType) -> None:
    problems = lint_problems(helm, {"networkPolicy": {"enabeld": True}})
    assert any("enabeld" in problem for problem in problems)


# --- PrometheusRule -----------------------------------------------------------------------------


def test_chart_carries_the_rules_template_and_the_one_alerts_config() -> None:
    assert CHART_TEMPLATE.read_bytes() == (ROOT / "alerts" / "rules.template.yml").read_bytes()
    assert CHART_ALERTS_CONFIG.read_bytes() == (ROOT / "alerts" / "config.yml").read_bytes()


def _rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = only(objects, "PrometheusRule")["spec"]["groups"]
    return groups


def _alert(groups: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(r for g in groups for r in g["rules"] if r.get("alert") == name)


def test_prometheus_rule_with_default_values_is_the_repo_rules_file(
    full_objects: list[dict[str, Any]],
) -> None:
    rule = only(full_objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    repo_groups = yaml.safe_load(REPO_RULES.read_text(encoding="utf-8"))["groups"]
    assert rule["spec"]["groups"] == repo_groups


def test_values_tune_thresholds_durations_and_runbook_url(helm: ModuleType) -> None:
    config = {
        "runbook_url": "https://wiki.example.org/dataflow/runbooks",
        "alerts": {
            "PeerDBSlotLagHigh": {"threshold_bytes": 10737418240, "for": "45m"},
            "EtlworksFlowFailed": {"statuses": "error|warning"},
        },
    }
    objects = render(helm, {"prometheusRule": {"enabled": True, "config": config}})
    groups = _rule_groups(objects)
    slot = _alert(groups, "PeerDBSlotLagHigh")
    assert slot["expr"].strip() == "peerdb_slot_lag_bytes > 10737418240"
    assert slot["for"] == "45m"
    assert "more than {{ 10737418240 | humanize1024 }}B of WAL for 45m" in " ".join(
        slot["annotations"]["description"].split()
    )
    assert 'status=~"error|warning"' in _alert(groups, "EtlworksFlowFailed")["expr"]
    # Untouched settings keep the shipped defaults.
    assert _alert(groups, "PeerDBMirrorFailed")["for"] == "5m"
    urls = {
        r["alert"]: r["annotations"]["runbook_url"]
        for g in groups
        for r in g["rules"]
        if "alert" in r
    }
    # The absent alert links Prometheus' targets page whatever runbook_url says.
    assert urls.pop("DataflowExporterAbsent") == "{{ $externalURL }}/targets"
    assert all(u.startswith("https://wiki.example.org/dataflow/runbooks#") for u in urls.values())


@pytest.mark.parametrize(
    ("alerts", "named"),
    [
        ({"PeerDBMirrorFaild": {"for": "1m"}}, "prometheusRule.config.alerts.PeerDBMirrorFaild"),
        ({"PeerDBMirrorFailed": {"treshold": 1}}, "alerts.PeerDBMirrorFailed.treshold"),
    ],
)  # fmt: skip
def test_unknown_alert_or_setting_in_values_is_refused_by_name(
    helm: ModuleType, alerts: dict[str, Any], named: str
) -> None:
    values = {"prometheusRule": {"enabled": True, "config": {"alerts": alerts}}}
    with pytest.raises(helm.HelmError) as caught:
        render(helm, values)
    assert named in str(caught.value)


def test_prometheus_rule_passes_promtool(
    full_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    promtool = require_tool("promtool")
    rules = tmp_path / "rendered.rules.yml"
    rules.write_text(yaml.safe_dump(only(full_objects, "PrometheusRule")["spec"]), "utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_rule_appends_additional_groups(helm: ModuleType) -> None:
    extra = {"name": "site", "rules": [{"record": "site:up:sum", "expr": "sum(up)"}]}
    objects = render(helm, {"prometheusRule": {"enabled": True, "additionalGroups": [extra]}})
    groups = only(objects, "PrometheusRule")["spec"]["groups"]
    shipped = yaml.safe_load(REPO_RULES.read_text(encoding="utf-8"))["groups"]
    assert groups == [*shipped, extra]


# --- dashboards ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2])
def test_one_dashboard_config_map_per_json_file(
    helm: ModuleType, tmp_path: Path, count: int
) -> None:
    files = {
        f"Dataflow {i}.json": {**SAMPLE_DASHBOARD, "uid": f"dataflow-{i}"} for i in range(count)
    }
    chart = chart_copy(tmp_path, files)
    objects = render(helm, {"dashboards": {"enabled": True}}, chart)
    dashboards = [o for o in objects if o["metadata"].get("labels", {}).get("grafana_dashboard")]
    assert len(dashboards) == count
    assert len({d["metadata"]["name"] for d in dashboards}) == count
    loaded = {}
    for config_map in dashboards:
        assert config_map["kind"] == "ConfigMap"
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        [(key, text)] = config_map["data"].items()
        assert re.fullmatch(r"[-._a-zA-Z0-9]+\.json", key)
        loaded[json.loads(text)["uid"]] = json.loads(text)
    assert loaded == {d["uid"]: d for d in files.values()}


def test_dashboards_are_off_by_default(helm: ModuleType, tmp_path: Path) -> None:
    chart = chart_copy(tmp_path, {"overview.json": SAMPLE_DASHBOARD})
    objects = render(helm, {}, chart)
    assert [o for o in objects if o["kind"] == "ConfigMap"] == [_config_map(objects)]


# --- NOTES.txt ----------------------------------------------------------------------------------


def test_notes_warn_when_no_target_is_configured(helm: ModuleType) -> None:
    assert "config.targets is empty" in notes(helm, {})
    configured = {"config": {"targets": [{"name": "a", "system": "peerdb", "url": "http://p"}]}}
    assert "config.targets is empty" not in notes(helm, configured)


def test_notes_name_every_shard_pod(helm: ModuleType) -> None:
    text = notes(helm, {"sharding": {"enabled": True, "replicas": 3}})
    assert f"{FULLNAME}-0 .. {FULLNAME}-2" in text


# --- AlertmanagerConfig -------------------------------------------------------------------------

ALERTMANAGER_EXAMPLE = ROOT / "alerts" / "alertmanager.example.yml"
AM_VALUES: dict[str, Any] = {
    "alertmanagerConfig": {
        "enabled": True,
        "receivers": {
            "pager": {"urlSecret": {"name": "oncall-hooks", "key": "pager"}},
            "tickets": {"urlSecret": {"name": "oncall-hooks", "key": "tickets"}},
        },
    }
}


def _matchers(strings: list[str]) -> list[dict[str, str]]:
    parsed = []
    for text in strings:
        match = re.fullmatch(r'(\w+)(=~|=)"(.*)"', text)
        assert match, text
        parsed.append({"name": match[1], "matchType": match[2], "value": match[3]})
    return parsed


def test_alertmanager_config_is_the_example_routing(helm: ModuleType) -> None:
    example = yaml.safe_load(ALERTMANAGER_EXAMPLE.read_text(encoding="utf-8"))
    spec = only(render(helm, AM_VALUES), "AlertmanagerConfig")["spec"]
    route, shipped = example["route"], spec["route"]
    assert shipped["receiver"] == route["receiver"]
    assert shipped["groupBy"] == route["group_by"]
    assert (shipped["groupWait"], shipped["groupInterval"], shipped["repeatInterval"]) == (
        route["group_wait"],
        route["group_interval"],
        route["repeat_interval"],
    )
    assert [(r["receiver"], r["matchers"], r.get("repeatInterval")) for r in shipped["routes"]] == [
        (r["receiver"], _matchers(r["matchers"]), r.get("repeat_interval")) for r in route["routes"]
    ]
    [inhibit] = example["inhibit_rules"]
    assert spec["inhibitRules"] == [
        {
            "sourceMatch": _matchers(inhibit["source_matchers"]),
            "targetMatch": _matchers(inhibit["target_matchers"]),
            "equal": inhibit["equal"],
        }
    ]
    assert [r["name"] for r in spec["receivers"]] == [r["name"] for r in example["receivers"]]
    urls = [r["webhookConfigs"][0]["urlSecret"] for r in spec["receivers"]]
    assert urls == [
        {"name": "oncall-hooks", "key": "pager"},
        {"name": "oncall-hooks", "key": "tickets"},
    ]


def test_alertmanager_config_without_a_receiver_secret_is_refused_by_name(helm: ModuleType) -> None:
    with pytest.raises(helm.HelmError) as caught:
        render(helm, {"alertmanagerConfig": {"enabled": True}})
    assert "alertmanagerConfig.receivers.pager.urlSecret.name" in str(caught.value)


def test_alert_settings_tuned_for_the_rules_reach_the_exporters_config(helm: ModuleType) -> None:
    tuned = {"EtlworksFlowRunningTooLong": {"threshold_seconds": 259200}}
    values: dict[str, Any] = {
        "config": {
            "global": {"alerts": {"PeerDBMirrorPaused": {"for": "4h"}}},
            "targets": [{"name": "a", "system": "peerdb", "url": "http://p:3000"}],
        },
        "prometheusRule": {"enabled": True, "config": {"alerts": tuned}},
    }
    rendered = yaml.safe_load(_config_map(render(helm, values))["data"]["config.yaml"])
    assert rendered["global"]["alerts"] == {
        "EtlworksFlowRunningTooLong": {"threshold_seconds": 259200},
        "PeerDBMirrorPaused": {"for": "4h"},
    }
    assert (
        "alerts"
        not in yaml.safe_load(
            _config_map(render(helm, {"config": values["config"] | {"global": {}}}))["data"][
                "config.yaml"
            ]
        )["global"]
    )


def test_a_url_carrying_credentials_is_refused_without_echoing_them(helm: ModuleType) -> None:
    secret = "s3cr3t-in-url"
    url = f"http://admin:{secret}@peerdb:3000"
    values = {"config": {"targets": [{"name": "p", "system": "peerdb", "url": url}]}}
    with pytest.raises(helm.HelmError) as caught:
        render(helm, values)
    message = str(caught.value)
    assert "config.targets[0].url: must not carry credentials" in message
    assert secret not in message
    plain = {"config": {"targets": [{"name": "p", "system": "peerdb", "url": "http://p:3000"}]}}
    assert _config_map(render(helm, plain))


def test_flows_excluded_in_values_are_left_out_of_the_running_too_long_rule(
    helm: ModuleType,
) -> None:
    config = {"alerts": {"EtlworksFlowRunningTooLong": {"exclude_flows": "CDC .*"}}}
    objects = render(helm, {"prometheusRule": {"enabled": True, "config": config}})
    expr = _alert(_rule_groups(objects), "EtlworksFlowRunningTooLong")["expr"]
    assert 'etlworks_flow_last_execution_duration_seconds{flow!~"CDC .*"}' in expr
