#!/usr/bin/env python3
"""Checks the deployment files in deploy/ without a cluster or a container engine.

- deploy/k8s: every file listed in kustomization.yaml (and no YAML file left
  out of it). Core kinds are validated with kubernetes-validate against one
  Kubernetes version in strict mode (an unknown field fails). KEDA kinds get
  structural checks. Then cross-checks between the documents: probes,
  resources, security context, PDBs, Service selectors, NetworkPolicies
  fencing every Deployment, HPA vs ScaledObject,
  probe ports, ConfigMap/Secret references.
- deploy/k8s secrets: Secrets come from kustomize's secretGenerator and local
  .env files that are never committed (their keys listed in .env.example
  beside them); a Secret with placeholder values among the resources fails.
- docker-compose.yml: operator ports (RabbitMQ management, Prometheus,
  Grafana) bound to 127.0.0.1 only, every credential from .env (no default),
  TRUSTED_PROXIES set for the services.
- deploy/grafana: the dashboard JSON and the provisioning files.
- deploy/prometheus: prometheus.yml and alerts.yml.
  Every metric named in a PromQL expression must be one the services export
  (METRICS below), or come from RabbitMQ's exporter (rabbitmq_*), or be `up`.

Then it proves it can fail: it breaks copies of deploy/ in a temporary folder
in known ways and asserts each copy is rejected for the expected reason.

Run through scripts/validate_deploy.sh, which installs the pinned packages.
Exit status 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.29.0"

# The metrics the services export (name -> type). A histogram `h` is queried
# as h_bucket, h_sum and h_count. Keep in step with docs/OPERATIONS.md.
METRICS: dict[str, str] = {
    # ingest (/metrics on METRICS_LISTEN, 9100)
    "delivertrack_ingest_http_requests_total": "counter",  # route, method, status
    "delivertrack_ingest_http_request_duration_seconds": "histogram",  # route
    "delivertrack_ingest_db_reads_total": "counter",
    "delivertrack_ingest_publish_confirm_duration_seconds": "histogram",  # kind
    "delivertrack_ingest_publishes_refused_total": "counter",  # reason
    "delivertrack_ingest_cache_requests_total": "counter",  # result
    "delivertrack_ingest_rate_limited_total": "counter",  # limit
    "delivertrack_ingest_broker_connected": "gauge",
    # workers (/metrics on 9101), label pool
    "delivertrack_workers_messages_consumed_total": "counter",
    "delivertrack_workers_messages_acked_total": "counter",
    "delivertrack_workers_messages_retried_total": "counter",
    "delivertrack_workers_messages_dead_lettered_total": "counter",
    "delivertrack_workers_window_messages": "histogram",
    "delivertrack_workers_store_write_duration_seconds": "histogram",  # pool, store
    "delivertrack_workers_lag_seconds": "histogram",
    "delivertrack_workers_broker_connected": "gauge",
    "delivertrack_workers_messages_refused_total": "counter",  # pool, reason
    "delivertrack_workers_mail_sent_total": "counter",  # kind
    "delivertrack_workers_webhook_attempts_total": "counter",  # outcome
    # broadcaster (/metrics on METRICS_LISTEN, 9102)
    "delivertrack_broadcaster_connections": "gauge",
    "delivertrack_broadcaster_subscriptions": "gauge",
    "delivertrack_broadcaster_messages_sent_total": "counter",
    "delivertrack_broadcaster_slow_clients_dropped_total": "counter",
    "delivertrack_broadcaster_lag_seconds": "histogram",
    "delivertrack_broadcaster_broker_connected": "gauge",
    "delivertrack_broadcaster_events_refused_total": "counter",
}
# Series Prometheus itself makes for every target.
PROMETHEUS_BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def queryable_metrics() -> set[str]:
    names: set[str] = set()
    for name, kind in METRICS.items():
        if kind == "histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


QUERYABLE = queryable_metrics()

# ---------------------------------------------------------------- helpers


class Problems:
    """Collects failures; each is one line naming the file and the object."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def __bool__(self) -> bool:
        return bool(self.items)


def get(data: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return default
    return data


def load_yaml_documents(path: Path) -> list[Any]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def label_selector_matches(selector: dict | None, labels: dict) -> bool:
    """A metav1.LabelSelector (matchLabels/matchExpressions) against pod labels.
    An empty or missing selector matches nothing here: we never want one."""
    if not selector:
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def plain_selector_matches(selector: dict | None, labels: dict) -> bool:
    """A Service's selector (a plain map)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- PromQL

_PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_PROMQL_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects. Not a parser: strings,
    label matchers, ranges and grouping label lists are removed, and the
    identifiers left that are not functions or keywords are metric names."""
    text = _PROMQL_STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers (and their $variables)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges, subqueries, $__rate_interval
    text = _PROMQL_GROUPING.sub(" ", text)
    names: set[str] = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = match.group(0)
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before in ".$":  # 1e3, 5m, $var
            continue
        if text[match.end():].lstrip().startswith("("):  # a function or aggregation
            continue
        if token.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(token)
    return names


def check_metric_names(expr: str, where: str, problems: Problems) -> set[str]:
    names = promql_metric_names(expr)
    for name in sorted(names):
        if name in QUERYABLE or name.startswith("rabbitmq_") or name in PROMETHEUS_BUILTIN:
            continue
        if name in METRICS:
            problems.add(where, f"{name} is a histogram: query {name}_bucket, _sum or _count")
        elif name.startswith("delivertrack_"):
            problems.add(where, f"unknown metric {name} (not exported by any service)")
        else:
            problems.add(where, f"metric {name} is neither a DeliverTrack metric nor rabbitmq_*")
    return names


# ---------------------------------------------------------------- Kubernetes

CORE_SKIP = {"Kustomization"}
KEDA_GROUP = "keda.sh/"
RABBITMQ_GROUP = "rabbitmq.com/"
# RabbitmqCluster (rabbitmq.com/v1beta1) spec fields, from the operator's CRD.
RABBITMQ_CLUSTER_SPEC_KEYS = {
    "replicas", "image", "imagePullSecrets", "service", "persistence", "resources", "affinity",
    "tolerations", "rabbitmq", "tls", "override", "skipPostDeploySteps",
    "terminationGracePeriodSeconds", "delayStartSeconds", "secretBackend",
}
RABBITMQ_CONFIG_KEYS = {"additionalConfig", "advancedConfig", "envConfig", "additionalPlugins", "erlangInetConfig"}
SCALED_OBJECT_SPEC_KEYS = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
    "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers",
}
TRIGGER_KEYS = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
RABBITMQ_METADATA_KEYS = {
    "host", "hostFromEnv", "protocol", "mode", "value", "activationValue", "queueName",
    "vhostName", "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout",
    "unsafeSsl", "usernameFromEnv", "passwordFromEnv",
}
TRIGGER_AUTH_SPEC_KEYS = {
    "secretTargetRef", "env", "configMapTargetRef", "hashiCorpVault", "azureKeyVault",
    "podIdentity", "gcpSecretManager", "awsSecretManager", "boundServiceAccountToken",
}


class Manifests:
    def __init__(self) -> None:
        self.docs: list[tuple[str, dict]] = []  # (file name, document)

    def of_kind(self, kind: str) -> list[tuple[str, dict]]:
        return [(f, d) for f, d in self.docs if d.get("kind") == kind]

    def named(self, kind: str, name: str) -> dict | None:
        for _, doc in self.of_kind(kind):
            if get(doc, "metadata", "name") == name:
                return doc
        return None


def where_of(file: str, doc: dict) -> str:
    return f"k8s/{file} {doc.get('kind', '?')}/{get(doc, 'metadata', 'name', default='?')}"


def load_kustomization(k8s: Path, problems: Problems) -> list[str]:
    path = k8s / "kustomization.yaml"
    if not path.exists():
        problems.add("k8s", "kustomization.yaml is missing")
        return []
    try:
        docs = load_yaml_documents(path)
    except yaml.YAMLError as e:
        problems.add("k8s/kustomization.yaml", f"does not parse: {e}")
        return []
    if len(docs) != 1 or not isinstance(docs[0], dict):
        problems.add("k8s/kustomization.yaml", "must be one mapping")
        return []
    kustomization = docs[0]
    if kustomization.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or kustomization.get("kind") != "Kustomization":
        problems.add("k8s/kustomization.yaml", "apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
    resources = kustomization.get("resources")
    if not isinstance(resources, list) or not resources:
        problems.add("k8s/kustomization.yaml", "resources must be a non-empty list")
        return []
    if len(set(resources)) != len(resources):
        problems.add("k8s/kustomization.yaml", "resources lists a file twice")
    for resource in resources:
        if not (k8s / resource).is_file():
            problems.add("k8s/kustomization.yaml", f"resource {resource} does not exist")
    generated.clear()
    for generator in kustomization.get("secretGenerator") or []:
        name = generator.get("name")
        keys: set[str] = set()
        for env in generator.get("envs") or []:
            example = k8s / f"{env}.example"
            if not example.is_file():
                problems.add("k8s/kustomization.yaml", f"secretGenerator {name}: {env}.example is missing (it lists the keys)")
                continue
            for line in example.read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                    keys.add(line.split("=", 1)[0].strip())
        for entry in generator.get("files") or []:
            key, _, source = str(entry).rpartition("=")
            source = source or str(entry)
            keys.add(key or Path(source).name)
            if not (k8s / f"{source}.example").is_file():
                problems.add("k8s/kustomization.yaml", f"secretGenerator {name}: {source}.example is missing (it shows the file)")
        if generator.get("literals"):
            problems.add("k8s/kustomization.yaml", f"secretGenerator {name}: literals put secrets in the repository; use envs")
        generated.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                          "type": "Opaque", "stringData": {k: "" for k in sorted(keys)}})
    listed = {os.path.normpath(r) for r in resources}
    for path in sorted(k8s.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.name != "kustomization.yaml":
            rel = os.path.normpath(path.relative_to(k8s).as_posix())
            if rel not in listed:
                problems.add(f"k8s/{rel}", "is not listed in kustomization.yaml resources")
    return [r for r in resources if (k8s / r).is_file()]


# Secrets kustomize generates from local files: (name, keys), filled by
# load_kustomization.
generated: list[dict] = []


def check_secrets(m: Manifests, problems: Problems) -> None:
    for file, doc in m.of_kind("Secret"):
        if file == GENERATED:
            continue
        values = list((doc.get("stringData") or {}).values()) + list((doc.get("data") or {}).values())
        if any("REPLACE-ME" in str(v).upper() for v in values):
            problems.add(where_of(file, doc), "applies a Secret with placeholder values (REPLACE-ME); generate it from a local file instead")
    config = m.named("ConfigMap", "delivertrack-config") or {}
    if not (config.get("data") or {}).get("TRUSTED_PROXIES"):
        problems.add("k8s/configmap.yaml", "delivertrack-config does not set TRUSTED_PROXIES (behind an ingress every client would be one address)")


GENERATED = "kustomization.yaml secretGenerator"


def validate_core(file: str, doc: dict, problems: Problems) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(document)"
        problems.add(where_of(file, doc), f"schema (Kubernetes {K8S_VERSION}, strict): {path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError as e:
        problems.add(where_of(file, doc), f"no schema: {e.message}")


def check_keda(m: Manifests, problems: Problems) -> None:
    for file, doc in m.docs:
        if not str(doc.get("apiVersion", "")).startswith(KEDA_GROUP):
            continue
        where = where_of(file, doc)
        if doc.get("apiVersion") != "keda.sh/v1alpha1":
            problems.add(where, "apiVersion must be keda.sh/v1alpha1")
        if doc.get("kind") not in ("ScaledObject", "TriggerAuthentication"):
            problems.add(where, f"unexpected KEDA kind {doc.get('kind')}")
        for key in doc:
            if key not in ("apiVersion", "kind", "metadata", "spec"):
                problems.add(where, f"unknown top-level field {key}")
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            problems.add(where, "spec is missing")
            continue
        if doc.get("kind") == "TriggerAuthentication":
            check_trigger_authentication(m, where, spec, problems)
        elif doc.get("kind") == "ScaledObject":
            check_scaled_object(m, where, spec, problems)


def check_rabbitmq_clusters(m: Manifests, problems: Problems) -> None:
    """The broker cluster (RabbitmqCluster, run by the RabbitMQ Cluster
    Operator): structure, a majority that survives a node lost, and the
    settings the services rely on."""
    for file, doc in m.docs:
        if not str(doc.get("apiVersion", "")).startswith(RABBITMQ_GROUP):
            continue
        where = where_of(file, doc)
        if (doc.get("apiVersion"), doc.get("kind")) != ("rabbitmq.com/v1beta1", "RabbitmqCluster"):
            problems.add(where, "only rabbitmq.com/v1beta1 RabbitmqCluster is expected from rabbitmq.com")
            continue
        spec = doc.get("spec") or {}
        for key in set(doc) - {"apiVersion", "kind", "metadata", "spec"}:
            problems.add(where, f"unknown top-level field {key}")
        for key in set(spec) - RABBITMQ_CLUSTER_SPEC_KEYS:
            problems.add(where, f"unknown field spec.{key}")
        for key in set(spec.get("rabbitmq") or {}) - RABBITMQ_CONFIG_KEYS:
            problems.add(where, f"unknown field spec.rabbitmq.{key}")
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or replicas < 3 or replicas % 2 == 0:
            problems.add(where, f"spec.replicas must be odd and at least 3 (a majority survives a node lost), got {replicas!r}")
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not get(spec, "resources", section, resource):
                    problems.add(where, f"has no spec.resources.{section}.{resource}")
        config = str(get(spec, "rabbitmq", "additionalConfig", default=""))
        for setting in ("load_definitions", "queue_leader_locator"):
            if setting not in config:
                problems.add(where, f"spec.rabbitmq.additionalConfig does not set {setting}")
        volumes = get(spec, "override", "statefulSet", "spec", "template", "spec", "volumes", default=[]) or []
        for volume in volumes:
            secret = get(volume, "secret", "secretName")
            if secret and m.named("Secret", secret) is None:
                problems.add(where, f"mounts Secret {secret}, which nothing makes")


def check_trigger_authentication(m: Manifests, where: str, spec: dict, problems: Problems) -> None:
    for key in spec:
        if key not in TRIGGER_AUTH_SPEC_KEYS:
            problems.add(where, f"unknown field spec.{key}")
    refs = spec.get("secretTargetRef")
    if not isinstance(refs, list) or not refs:
        problems.add(where, "spec.secretTargetRef must be a non-empty list")
        return
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict) or set(ref) - {"parameter", "name", "key"}:
            problems.add(where, f"secretTargetRef[{i}] takes parameter, name and key only")
            continue
        if not all(isinstance(ref.get(k), str) and ref.get(k) for k in ("parameter", "name", "key")):
            problems.add(where, f"secretTargetRef[{i}] needs parameter, name and key")
            continue
        secret = m.named("Secret", ref["name"])
        if secret is None:
            problems.add(where, f"secretTargetRef[{i}] names Secret {ref['name']}, which is not in the set")
            continue
        keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
        if ref["key"] not in keys:
            problems.add(where, f"secretTargetRef[{i}]: key {ref['key']} is not in Secret {ref['name']}")


def is_number(value: Any) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def check_scaled_object(m: Manifests, where: str, spec: dict, problems: Problems) -> None:
    for key in spec:
        if key not in SCALED_OBJECT_SPEC_KEYS:
            problems.add(where, f"unknown field spec.{key}")
    target = spec.get("scaleTargetRef") or {}
    target_name = target.get("name")
    deployment = m.named("Deployment", target_name) if target_name else None
    if target.get("kind", "Deployment") != "Deployment" or deployment is None:
        problems.add(where, f"spec.scaleTargetRef.name must name a Deployment in the set (got {target_name!r})")
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not isinstance(low, int) or not isinstance(high, int) or low < 0 or high < 1:
        problems.add(where, "minReplicaCount/maxReplicaCount must be integers (min >= 0, max >= 1)")
    elif low > high:
        problems.add(where, f"minReplicaCount {low} > maxReplicaCount {high}")
    # A package-pool replica beyond one per shard can never be active.
    if deployment is not None and isinstance(high, int) and worker_pools(deployment) == "packages":
        shards = package_shards(m)
        if shards is not None and high > shards:
            problems.add(where, f"maxReplicaCount {high} exceeds PACKAGE_SHARDS {shards} (at most one active consumer per shard)")
    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        problems.add(where, "spec.triggers must be a non-empty list")
        return
    for i, trigger in enumerate(triggers):
        tw = f"{where} triggers[{i}]"
        if not isinstance(trigger, dict):
            problems.add(tw, "must be a mapping")
            continue
        for key in trigger:
            if key not in TRIGGER_KEYS:
                problems.add(tw, f"unknown field {key}")
        if trigger.get("type") != "rabbitmq":
            problems.add(tw, f"type must be rabbitmq (got {trigger.get('type')!r})")
        meta = trigger.get("metadata")
        if not isinstance(meta, dict):
            problems.add(tw, "metadata is missing")
            meta = {}
        for key, value in meta.items():
            if key not in RABBITMQ_METADATA_KEYS:
                problems.add(tw, f"unknown rabbitmq metadata {key}")
            if not isinstance(value, str):
                problems.add(tw, f"metadata.{key} must be a string (KEDA metadata is map[string]string), got {value!r}")
        if meta.get("mode") != "QueueLength":
            problems.add(tw, f"metadata.mode must be QueueLength (got {meta.get('mode')!r})")
        if not is_number(meta.get("value")):
            problems.add(tw, f"metadata.value must be a positive number (got {meta.get('value')!r})")
        if not meta.get("queueName"):
            problems.add(tw, "metadata.queueName is missing")
        if meta.get("protocol") not in ("http", "amqp", "auto", None):
            problems.add(tw, f"metadata.protocol {meta.get('protocol')!r} is not http, amqp or auto")
        if meta.get("useRegex") not in (None, "true", "false"):
            problems.add(tw, "metadata.useRegex must be \"true\" or \"false\"")
        if meta.get("useRegex") == "true":
            if meta.get("protocol") != "http":
                problems.add(tw, "useRegex needs protocol http")
            if meta.get("operation") not in ("sum", "max", "average"):
                problems.add(tw, "useRegex needs operation sum, max or average")
            else:
                try:
                    re.compile(meta.get("queueName", ""))
                except re.error as e:
                    problems.add(tw, f"queueName is not a regular expression: {e}")
        if "host" in meta:
            problems.add(tw, "metadata.host would put credentials in the manifest; use authenticationRef")
        auth = trigger.get("authenticationRef") or {}
        auth_name = auth.get("name")
        auth_doc = m.named("TriggerAuthentication", auth_name) if auth_name else None
        if auth.get("kind", "TriggerAuthentication") != "TriggerAuthentication" or auth_doc is None:
            problems.add(tw, f"authenticationRef must name a TriggerAuthentication in the set (got {auth_name!r})")
        elif not any(r.get("parameter") == "host" for r in get(auth_doc, "spec", "secretTargetRef", default=[]) or []):
            problems.add(tw, f"TriggerAuthentication {auth_name} gives no `host` parameter")


def containers_of(deployment: dict) -> list[dict]:
    spec = get(deployment, "spec", "template", "spec", default={}) or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def env_value(deployment: dict, name: str) -> str | None:
    for container in containers_of(deployment):
        for var in container.get("env") or []:
            if var.get("name") == name and "value" in var:
                return var["value"]
    return None


def worker_pools(deployment: dict) -> str | None:
    return env_value(deployment, "WORKER_POOLS")


def package_shards(m: Manifests) -> int | None:
    for _, doc in m.of_kind("ConfigMap"):
        value = (doc.get("data") or {}).get("PACKAGE_SHARDS")
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def port_matches(port: Any, container: dict) -> bool:
    for declared in container.get("ports") or []:
        if port == declared.get("containerPort") or port == declared.get("name"):
            return True
    return False


def check_deployments(m: Manifests, problems: Problems) -> None:
    deployments = m.of_kind("Deployment")
    if not deployments:
        problems.add("k8s", "no Deployment in the set")
    pdbs = m.of_kind("PodDisruptionBudget")
    for file, dep in deployments:
        where = where_of(file, dep)
        name = get(dep, "metadata", "name")
        pod_labels = get(dep, "spec", "template", "metadata", "labels", default={}) or {}
        selector = get(dep, "spec", "selector")
        if not label_selector_matches(selector, pod_labels):
            problems.add(where, "spec.selector does not match the pod template's labels")
        pod_spec = get(dep, "spec", "template", "spec", default={}) or {}
        if "terminationGracePeriodSeconds" not in pod_spec:
            problems.add(where, "terminationGracePeriodSeconds is not set")
        pod_sc = pod_spec.get("securityContext") or {}
        annotations = get(dep, "spec", "template", "metadata", "annotations", default={}) or {}
        if annotations.get("prometheus.io/scrape") != "true":
            problems.add(where, "pod template lacks the prometheus.io/scrape annotation")
        containers = pod_spec.get("containers") or []
        scrape_port = annotations.get("prometheus.io/port")
        if scrape_port is not None and not any(
            port_matches(int(scrape_port) if str(scrape_port).isdigit() else scrape_port, c) for c in containers
        ):
            problems.add(where, f"prometheus.io/port {scrape_port} is not a container port")
        for container in containers:
            cw = f"{where} container {container.get('name')}"
            for probe_name in ("readinessProbe", "livenessProbe"):
                if not container.get(probe_name):
                    problems.add(cw, f"has no {probe_name}")
            for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(probe_name) or {}
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler in probe and not port_matches(probe[handler].get("port"), container):
                        problems.add(cw, f"{probe_name}.{handler}.port {probe[handler].get('port')!r} is not one of the container's ports")
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if not get(resources, section, resource):
                        problems.add(cw, f"has no resources.{section}.{resource}")
            sc = container.get("securityContext") or {}
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                problems.add(cw, "runAsNonRoot is not true")
            if (sc.get("runAsUser") or pod_sc.get("runAsUser")) != 10001:
                problems.add(cw, "runAsUser is not 10001 (the image's user)")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.add(cw, "readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.add(cw, "allowPrivilegeEscalation is not false")
            if "ALL" not in (get(sc, "capabilities", "drop", default=[]) or []):
                problems.add(cw, "capabilities.drop does not include ALL")
            check_references(m, cw, container, problems)
        matching = [p for _, p in pdbs if label_selector_matches(get(p, "spec", "selector"), pod_labels)]
        if not matching:
            problems.add(where, "no PodDisruptionBudget selects its pods")
        elif len(matching) > 1:
            problems.add(where, "more than one PodDisruptionBudget selects its pods (eviction would fail)")
        for other_file, other in deployments:
            if other is dep:
                continue
            other_labels = get(other, "spec", "template", "metadata", "labels", default={}) or {}
            if label_selector_matches(selector, other_labels):
                problems.add(where, f"its selector also matches the pods of Deployment {get(other, 'metadata', 'name')}")
        hpas = [h for _, h in m.of_kind("HorizontalPodAutoscaler") if get(h, "spec", "scaleTargetRef", "name") == name]
        scaled = [s for _, s in m.of_kind("ScaledObject") if get(s, "spec", "scaleTargetRef", "name") == name]
        if hpas and scaled:
            problems.add(where, "is scaled by both an HPA and a KEDA ScaledObject (KEDA makes its own HPA)")
        if len(hpas) + len(scaled) > 1 and not (hpas and scaled):
            problems.add(where, "has more than one autoscaler")


def check_references(m: Manifests, where: str, container: dict, problems: Problems) -> None:
    for source in container.get("envFrom") or []:
        for ref_kind, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(ref_kind)
            if ref and not ref.get("optional") and m.named(kind, ref.get("name")) is None:
                problems.add(where, f"envFrom {ref_kind} names {kind} {ref.get('name')!r}, which is not in the set")
    for var in container.get("env") or []:
        value_from = var.get("valueFrom") or {}
        for ref_kind, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(ref_kind)
            if not ref or ref.get("optional"):
                continue
            doc = m.named(kind, ref.get("name"))
            if doc is None:
                problems.add(where, f"env {var.get('name')}: {kind} {ref.get('name')!r} is not in the set")
            elif ref.get("key") not in set(doc.get("data") or {}) | set(doc.get("stringData") or {}):
                problems.add(where, f"env {var.get('name')}: key {ref.get('key')!r} is not in {kind} {ref.get('name')}")


def check_selectors(m: Manifests, problems: Problems) -> None:
    deployments = [d for _, d in m.of_kind("Deployment")]

    def pod_labels(dep: dict) -> dict:
        return get(dep, "spec", "template", "metadata", "labels", default={}) or {}

    for file, svc in m.of_kind("Service"):
        where = where_of(file, svc)
        selector = get(svc, "spec", "selector")
        matched = [d for d in deployments if plain_selector_matches(selector, pod_labels(d))]
        if not matched:
            problems.add(where, "its selector matches no Deployment's pods")
            continue
        for port in get(svc, "spec", "ports", default=[]) or []:
            target = port.get("targetPort", port.get("port"))
            for dep in matched:
                if not any(port_matches(target, c) for c in get(dep, "spec", "template", "spec", "containers", default=[])):
                    problems.add(where, f"targetPort {target!r} is not a container port of Deployment {get(dep, 'metadata', 'name')}")
    for file, pdb in m.of_kind("PodDisruptionBudget"):
        if not any(label_selector_matches(get(pdb, "spec", "selector"), pod_labels(d)) for d in deployments):
            problems.add(where_of(file, pdb), "its selector matches no Deployment's pods")
    # Every Deployment's pods are fenced by a NetworkPolicy (TRUSTED_PROXIES
    # names the pod network on the strength of it), whose ports exist.
    policies = m.of_kind("NetworkPolicy")
    for dep in deployments:
        fencing = [(f, p) for f, p in policies
                   if label_selector_matches(get(p, "spec", "podSelector"), pod_labels(dep))]
        if not fencing:
            problems.add(f"Deployment {get(dep, 'metadata', 'name')}", "no NetworkPolicy selects its pods")
        containers = get(dep, "spec", "template", "spec", "containers", default=[]) or []
        for file, policy in fencing:
            for rule in get(policy, "spec", "ingress", default=[]) or []:
                for port in rule.get("ports") or []:
                    if not any(port_matches(port.get("port"), c) for c in containers):
                        problems.add(where_of(file, policy),
                                     f"port {port.get('port')!r} is not a container port of Deployment {get(dep, 'metadata', 'name')}")
    for file, hpa in m.of_kind("HorizontalPodAutoscaler"):
        target = get(hpa, "spec", "scaleTargetRef", default={}) or {}
        if target.get("kind") != "Deployment" or m.named("Deployment", target.get("name")) is None:
            problems.add(where_of(file, hpa), f"scaleTargetRef does not name a Deployment in the set ({target.get('name')!r})")


def check_k8s(deploy: Path, problems: Problems) -> dict:
    k8s = deploy / "k8s"
    m = Manifests()
    files = load_kustomization(k8s, problems)
    for file in files:
        try:
            docs = load_yaml_documents(k8s / file)
        except yaml.YAMLError as e:
            problems.add(f"k8s/{file}", f"does not parse: {e}")
            continue
        if not docs:
            problems.add(f"k8s/{file}", "holds no document")
        for doc in docs:
            if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") or not get(doc, "metadata", "name"):
                problems.add(f"k8s/{file}", "a document lacks apiVersion, kind or metadata.name")
                continue
            if get(doc, "metadata", "namespace"):
                problems.add(where_of(file, doc), "sets metadata.namespace (the manifests are namespace-less)")
            m.docs.append((file, doc))
    m.docs.extend((GENERATED, doc) for doc in generated)
    seen: set[tuple[str, str]] = set()
    for file, doc in m.docs:
        key = (doc["kind"], doc["metadata"]["name"])
        if key in seen:
            problems.add(where_of(file, doc), "defined twice")
        seen.add(key)
        if doc["kind"] in CORE_SKIP:
            problems.add(where_of(file, doc), "a Kustomization is not a resource")
        elif not str(doc["apiVersion"]).startswith((KEDA_GROUP, RABBITMQ_GROUP)):
            validate_core(file, doc, problems)
    check_keda(m, problems)
    check_rabbitmq_clusters(m, problems)
    check_deployments(m, problems)
    check_selectors(m, problems)
    check_secrets(m, problems)
    kinds: dict[str, int] = {}
    for _, doc in m.docs:
        kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
    return {"files": len(files), "documents": len(m.docs), "kinds": kinds}


# ---------------------------------------------------------------- Grafana


def check_grafana(deploy: Path, problems: Problems) -> dict:
    path = deploy / "grafana" / "dashboards" / "delivertrack.json"
    where = "grafana/dashboards/delivertrack.json"
    stats = {"panels": 0, "targets": 0, "metrics": set()}
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        problems.add(where, f"does not load: {e}")
        return stats
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.add(where, f"has no {key}")
    if dashboard.get("uid") != "delivertrack":
        problems.add(where, "uid must be delivertrack (links and provisioning use it)")
    if not isinstance(dashboard.get("schemaVersion"), int):
        problems.add(where, "schemaVersion must be an integer")
    if "${" in json.dumps(dashboard.get("panels", [])):
        problems.add(where, "uses a ${...} placeholder; refer to the datasource by uid prometheus")

    def check_datasource(ds: Any, pw: str) -> None:
        if ds is not None and (not isinstance(ds, dict) or ds.get("uid") != "prometheus"):
            problems.add(pw, f"datasource must be {{\"uid\": \"prometheus\"}}, got {ds!r}")

    panels = list(dashboard.get("panels") or [])
    ids: set[Any] = set()
    while panels:
        panel = panels.pop(0)
        pw = f"{where} panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("id") in ids:
            problems.add(pw, "duplicate panel id")
        ids.add(panel.get("id"))
        if not panel.get("title"):
            problems.add(pw, "has no title")
        if panel.get("type") == "row":
            panels.extend(panel.get("panels") or [])  # a collapsed row holds its panels
            continue
        stats["panels"] += 1
        check_datasource(panel.get("datasource"), pw)
        targets = panel.get("targets")
        if not targets:
            problems.add(pw, "has no targets")
            continue
        for target in targets:
            stats["targets"] += 1
            check_datasource(target.get("datasource"), pw)
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.add(pw, f"target {target.get('refId')} has no expr")
                continue
            stats["metrics"] |= check_metric_names(expr, f"{pw} target {target.get('refId')}", problems)

    provisioning = deploy / "grafana" / "provisioning"
    try:
        ds = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text()) or {}
        sources = ds.get("datasources") or []
        if not any(s.get("uid") == "prometheus" and s.get("type") == "prometheus" and s.get("url") for s in sources):
            problems.add("grafana/provisioning/datasources/prometheus.yml", "no prometheus datasource with uid prometheus and a url")
    except (OSError, yaml.YAMLError, AttributeError) as e:
        problems.add("grafana/provisioning/datasources/prometheus.yml", f"does not load: {e}")
    try:
        dp = yaml.safe_load((provisioning / "dashboards" / "delivertrack.yml").read_text()) or {}
        if not any(get(p, "options", "path") for p in dp.get("providers") or []):
            problems.add("grafana/provisioning/dashboards/delivertrack.yml", "no provider with options.path")
    except (OSError, yaml.YAMLError, AttributeError) as e:
        problems.add("grafana/provisioning/dashboards/delivertrack.yml", f"does not load: {e}")
    return stats


# ---------------------------------------------------------------- Prometheus

REQUIRED_SCRAPES = {
    # job -> (static target or dns name, port)
    # The services' operations listeners (METRICS_LISTEN), not their
    # public ports.
    "ingest": ("ingest:9100", None),
    "broadcaster": ("broadcaster:9102", None),
    "package-workers": ("package-workers", 9101),
    "location-workers": ("location-workers", 9101),
    "mail-workers": ("mail-workers", 9101),
    "webhook-workers": ("webhook-workers", 9101),
    # Every broker node: each reports the queues it leads.
    "rabbitmq": ("rabbitmq", 15692),
}


def check_prometheus(deploy: Path, problems: Problems) -> dict:
    where = "prometheus/prometheus.yml"
    stats = {"jobs": 0, "rules": 0, "metrics": set()}
    try:
        config = yaml.safe_load((deploy / "prometheus" / "prometheus.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        problems.add(where, f"does not load: {e}")
        return stats
    jobs = {}
    for scrape in config.get("scrape_configs") or []:
        name = scrape.get("job_name")
        if name in jobs:
            problems.add(where, f"job {name} defined twice")
        jobs[name] = scrape
    stats["jobs"] = len(jobs)
    for job, (target, port) in REQUIRED_SCRAPES.items():
        scrape = jobs.get(job)
        if scrape is None:
            problems.add(where, f"no scrape job {job}")
        elif port is None:
            targets = [t for sc in scrape.get("static_configs") or [] for t in sc.get("targets") or []]
            if target not in targets:
                problems.add(where, f"job {job} does not scrape {target}")
        else:
            found = [
                d for d in scrape.get("dns_sd_configs") or []
                if target in (d.get("names") or []) and d.get("type") == "A" and d.get("port") == port
            ]
            if not found:
                problems.add(where, f"job {job} must use dns_sd_configs type A on {target} port {port} (every replica)")
    rabbit = jobs.get("rabbitmq")
    if rabbit is not None:
        if rabbit.get("metrics_path") != "/metrics/detailed":
            problems.add(where, "job rabbitmq must scrape /metrics/detailed")
        families = set(get(rabbit, "params", "family", default=[]) or [])
        for family in ("queue_coarse_metrics", "queue_consumer_count"):
            if family not in families:
                problems.add(where, f"job rabbitmq does not ask for family {family}")
    rule_files = config.get("rule_files") or []
    if not any(Path(r).name == "alerts.yml" for r in rule_files):
        problems.add(where, "rule_files does not load alerts.yml")

    where = "prometheus/alerts.yml"
    try:
        rules = yaml.safe_load((deploy / "prometheus" / "alerts.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        problems.add(where, f"does not load: {e}")
        return stats
    groups = rules.get("groups")
    if not isinstance(groups, list) or not groups:
        problems.add(where, "has no groups")
        return stats
    names: set[str] = set()
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            rw = f"{where} {name}"
            stats["rules"] += 1
            if not name or not isinstance(rule.get("expr"), str):
                problems.add(rw, "a rule needs alert (or record) and expr")
                continue
            if name in names:
                problems.add(rw, "defined twice")
            names.add(name)
            if rule.get("alert") and not get(rule, "labels", "severity"):
                problems.add(rw, "has no severity label")
            stats["metrics"] |= check_metric_names(rule["expr"], rw, problems)
    return stats


# ---------------------------------------------------------------- all checks


OPERATOR_PORTS = {"rabbitmq": "15672", "prometheus": "9090", "grafana": "3000"}
# Variables that carry a credential: each must come from .env, required.
CREDENTIALS = ("JWT_SECRET", "MESSAGE_SIGNING_KEY", "WEBHOOK_SECRET_KEY", "BOOTSTRAP_ADMIN_PASSWORD", "AMQP_URL",
               "DATABASE_URL", "RABBITMQ_MANAGEMENT_URL", "POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD",
               "SMTP_URL", "RABBITMQ_ERLANG_COOKIE", "POSTGRES_REPLICATION_PASSWORD", "PGPASSWORD")


def check_compose(path: Path, problems: Problems) -> dict:
    where = "docker-compose.yml"
    try:
        compose = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        problems.add(where, f"does not load: {e}")
        return {"services": 0}
    services = compose.get("services") or {}
    for name, service in services.items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment if "=" in e)
        for key, value in environment.items():
            if key == "<<":
                continue
            text = str(value)
            if key in CREDENTIALS and not re.search(r"\$\{[A-Z_]+:\?", text):
                problems.add(f"{where} {name}", f"{key} does not come from .env as a required variable (${{VAR:?...}})")
        ports = [str(p) for p in service.get("ports") or []]
        for port in ports:
            inner = port.rsplit(":", 1)[-1]
            if name in OPERATOR_PORTS and inner == OPERATOR_PORTS[name] and not port.startswith("127.0.0.1:"):
                problems.add(f"{where} {name}", f"publishes {port} on every interface; bind it to 127.0.0.1")
    anchors = compose.get("x-service-env") or {}
    for key in CREDENTIALS:
        value = str(anchors.get(key, ""))
        if value and not re.search(r"\$\{[A-Z_]+:\?", value):
            problems.add(f"{where} x-service-env", f"{key} has a default; it must come from .env")
    if "TRUSTED_PROXIES" not in anchors:
        problems.add(f"{where} x-service-env", "does not set TRUSTED_PROXIES")
    return {"services": len(services)}


def run_checks(deploy: Path, compose: Path) -> tuple[Problems, dict]:
    problems = Problems()
    stats = {
        "k8s": check_k8s(deploy, problems),
        "grafana": check_grafana(deploy, problems),
        "prometheus": check_prometheus(deploy, problems),
        "compose": check_compose(compose, problems),
    }
    return problems, stats


# ---------------------------------------------------------------- self-test
# Each case breaks a copy of deploy/ in one way and names a fragment of the
# failure it must cause. A case the checks let through fails the run.


def edit_yaml(deploy: Path, rel: str, change: Callable[[list[dict]], None]) -> None:
    path = deploy / rel
    docs = load_yaml_documents(path)
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def doc_of(docs: list[dict], kind: str) -> dict:
    return next(d for d in docs if d.get("kind") == kind)


def first_container(docs: list[dict]) -> dict:
    return doc_of(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def edit_json(deploy: Path, rel: str, change: Callable[[dict], None]) -> None:
    path = deploy / rel
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _drop_probes(docs: list[dict]) -> None:
    container = first_container(docs)
    container.pop("readinessProbe")
    container.pop("livenessProbe")


def _add_hpa(docs: list[dict]) -> None:
    docs.append({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "package-workers"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "package-workers"},
                 "minReplicas": 1, "maxReplicas": 2},
    })


def _bad_dashboard_metric(d: dict) -> None:
    d["panels"][1]["targets"][0]["expr"] = "sum(rate(delivertrack_ingest_bogus_total[5m]))"


def _bare_histogram(d: dict) -> None:
    d["panels"][1]["targets"][0]["expr"] = "delivertrack_workers_lag_seconds"


def _bad_alert_metric(deploy: Path) -> None:
    path = deploy / "prometheus" / "alerts.yml"
    rules = yaml.safe_load(path.read_text())
    rules["groups"][0]["rules"][0]["expr"] = "rate(delivertrack_workers_nope_total[5m]) > 0"
    path.write_text(yaml.safe_dump(rules))


def _drop_rabbit_family(deploy: Path) -> None:
    path = deploy / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(path.read_text())
    for job in config["scrape_configs"]:
        if job["job_name"] == "rabbitmq":
            job["params"]["family"] = ["queue_coarse_metrics"]
    path.write_text(yaml.safe_dump(config))


OLD_EXAMPLE_SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: delivertrack-extra
stringData:
  JWT_SECRET: REPLACE-ME-with-at-least-32-random-bytes-0000
"""


def _add_example_secret(deploy: Path) -> None:
    (deploy / "k8s" / "secret.example.yaml").write_text(OLD_EXAMPLE_SECRET)
    edit_yaml(deploy, "k8s/kustomization.yaml", lambda docs: docs[0]["resources"].append("secret.example.yaml"))


def _edit_compose(deploy: Path, change: Callable[[dict], None]) -> None:
    path = deploy.parent / "docker-compose.yml"
    compose = yaml.safe_load(path.read_text())
    change(compose)
    path.write_text(yaml.safe_dump(compose, sort_keys=False))


BROKEN_COPIES: list[tuple[str, Callable[[Path], None], str]] = [
    ("a kustomization that applies an example Secret", _add_example_secret, "placeholder values"),
    ("a secretGenerator whose keys are not listed",
     lambda d: (d / "k8s" / "secrets" / "keda.env.example").unlink(), "keda.env.example is missing"),
    ("no TRUSTED_PROXIES in the ConfigMap",
     lambda d: edit_yaml(d, "k8s/configmap.yaml", lambda docs: docs[0]["data"].pop("TRUSTED_PROXIES")),
     "does not set TRUSTED_PROXIES"),
    ("a Deployment no NetworkPolicy fences",
     lambda d: edit_yaml(d, "k8s/network-policy.yaml", lambda docs: docs.pop(2)),
     "no NetworkPolicy selects its pods"),
    ("a NetworkPolicy on a port the pods do not have",
     lambda d: edit_yaml(d, "k8s/network-policy.yaml",
                         lambda docs: docs[0]["spec"]["ingress"][0]["ports"][0].__setitem__("port", "https")),
     "port 'https' is not a container port"),
    ("RabbitMQ management published on every interface",
     lambda d: _edit_compose(d, lambda c: c["services"]["rabbitmq"].__setitem__("ports", ["15672:15672"])),
     "bind it to 127.0.0.1"),
    ("a compose credential with a default",
     lambda d: _edit_compose(d, lambda c: c["x-service-env"].__setitem__(
         "AMQP_URL", "amqp://delivertrack:delivertrack@rabbitmq:5672/%2f")),
     "AMQP_URL has a default"),
    ("a broker cluster without a majority to survive a node lost",
     lambda d: edit_yaml(d, "k8s/rabbitmq.yaml", lambda docs: doc_of(docs, "RabbitmqCluster")["spec"].__setitem__("replicas", 2)),
     "spec.replicas must be odd and at least 3"),
    ("a Deployment without probes",
     lambda d: edit_yaml(d, "k8s/ingest.yaml", _drop_probes), "has no readinessProbe"),
    ("a ScaledObject without mode",
     lambda d: edit_yaml(d, "k8s/location-workers.yaml",
                         lambda docs: doc_of(docs, "ScaledObject")["spec"]["triggers"][0]["metadata"].pop("mode")),
     "metadata.mode must be QueueLength"),
    ("an unknown field in a Deployment",
     lambda d: edit_yaml(d, "k8s/broadcaster.yaml",
                         lambda docs: first_container(docs).__setitem__("livenessProbes", {})),
     "'livenessProbes' was unexpected"),
    ("a wrongly typed field",
     lambda d: edit_yaml(d, "k8s/ingest.yaml",
                         lambda docs: doc_of(docs, "Deployment")["spec"]["template"]["spec"].__setitem__(
                             "terminationGracePeriodSeconds", "twenty")),
     "is not of type 'integer'"),
    ("a YAML file missing from kustomization.yaml",
     lambda d: (d / "k8s" / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"),
     "is not listed in kustomization.yaml"),
    ("an HPA on a KEDA-scaled Deployment",
     lambda d: edit_yaml(d, "k8s/package-workers.yaml", _add_hpa), "both an HPA and a KEDA ScaledObject"),
    ("a PDB whose selector misses the pods",
     lambda d: edit_yaml(d, "k8s/ingest.yaml",
                         lambda docs: doc_of(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].__setitem__(
                             "app.kubernetes.io/component", "ingestt")),
     "no PodDisruptionBudget selects its pods"),
    ("a probe on a port the container does not declare",
     lambda d: edit_yaml(d, "k8s/location-workers.yaml",
                         lambda docs: first_container(docs)["livenessProbe"]["httpGet"].__setitem__("port", 9999)),
     "livenessProbe.httpGet.port 9999"),
    ("a Deployment without resource limits",
     lambda d: edit_yaml(d, "k8s/broadcaster.yaml",
                         lambda docs: first_container(docs)["resources"].pop("limits")),
     "has no resources.limits.cpu"),
    ("a Service that selects nothing",
     lambda d: edit_yaml(d, "k8s/ingest.yaml",
                         lambda docs: doc_of(docs, "Service")["spec"]["selector"].__setitem__(
                             "app.kubernetes.io/component", "nothing")),
     "its selector matches no Deployment's pods"),
    ("an envFrom secretRef to a missing Secret",
     lambda d: edit_yaml(d, "k8s/ingest.yaml",
                         lambda docs: first_container(docs)["envFrom"][1]["secretRef"].__setitem__("name", "nope")),
     "Secret 'nope', which is not in the set"),
    ("a TriggerAuthentication key absent from its Secret",
     lambda d: edit_yaml(d, "k8s/keda-trigger-authentication.yaml",
                         lambda docs: docs[0]["spec"]["secretTargetRef"][0].__setitem__("key", "missing-key")),
     "key missing-key is not in Secret"),
    ("a ScaledObject with min > max",
     lambda d: edit_yaml(d, "k8s/location-workers.yaml",
                         lambda docs: doc_of(docs, "ScaledObject")["spec"].__setitem__("minReplicaCount", 50)),
     "minReplicaCount 50 > maxReplicaCount"),
    ("a ScaledObject on a missing Deployment",
     lambda d: edit_yaml(d, "k8s/package-workers.yaml",
                         lambda docs: doc_of(docs, "ScaledObject")["spec"]["scaleTargetRef"].__setitem__("name", "ghost")),
     "must name a Deployment in the set"),
    ("a package pool allowed more replicas than shards",
     lambda d: edit_yaml(d, "k8s/package-workers.yaml",
                         lambda docs: doc_of(docs, "ScaledObject")["spec"].__setitem__("maxReplicaCount", 64)),
     "exceeds PACKAGE_SHARDS"),
    ("a container allowing privilege escalation",
     lambda d: edit_yaml(d, "k8s/package-workers.yaml",
                         lambda docs: first_container(docs)["securityContext"].__setitem__("allowPrivilegeEscalation", True)),
     "allowPrivilegeEscalation is not false"),
    ("an unknown metric on the dashboard",
     lambda d: edit_json(d, "grafana/dashboards/delivertrack.json", _bad_dashboard_metric),
     "unknown metric delivertrack_ingest_bogus_total"),
    ("a histogram queried without _bucket/_sum/_count",
     lambda d: edit_json(d, "grafana/dashboards/delivertrack.json", _bare_histogram),
     "is a histogram"),
    ("an unknown metric in an alert",
     _bad_alert_metric, "unknown metric delivertrack_workers_nope_total"),
    ("a RabbitMQ scrape without the consumer family",
     _drop_rabbit_family, "family queue_consumer_count"),
]


def self_test(deploy: Path, compose: Path) -> list[str]:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="validate-deploy-") as tmp:
        def copy(name: str) -> Path:
            # deploy/ and the compose file beside it, as in the repository.
            root = Path(tmp) / name
            shutil.copytree(deploy, root / "deploy")
            shutil.copy(compose, root / "docker-compose.yml")
            return root / "deploy"

        pristine = copy("pristine")
        problems, _ = run_checks(pristine, pristine.parent / "docker-compose.yml")
        if problems:
            failures.append("the unbroken copy itself fails: " + problems.items[0])
            return failures
        for i, (what, breaker, expected) in enumerate(BROKEN_COPIES):
            copy_dir = copy(f"broken-{i}")
            breaker(copy_dir)
            problems, _ = run_checks(copy_dir, copy_dir.parent / "docker-compose.yml")
            hits = [p for p in problems.items if expected in p]
            if hits:
                print(f"  rejected as expected: {what}\n      -> {hits[0]}")
            elif problems:
                failures.append(f"{what}: rejected, but not for the expected reason ({expected!r}); got {problems.items[0]}")
            else:
                failures.append(f"{what}: ACCEPTED, the checks missed it")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deploy-dir", type=Path, default=REPO_ROOT / "deploy")
    parser.add_argument("--compose-file", type=Path, default=REPO_ROOT / "docker-compose.yml")
    parser.add_argument("--no-self-test", action="store_true", help="skip the broken-copy checks")
    args = parser.parse_args()
    deploy = args.deploy_dir.resolve()
    compose = args.compose_file.resolve()

    problems, stats = run_checks(deploy, compose)
    k8s, grafana, prom = stats["k8s"], stats["grafana"], stats["prometheus"]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(k8s["kinds"].items()))
    print(f"k8s: {k8s['documents']} documents in {k8s['files']} files ({kinds}); "
          f"core kinds against Kubernetes {K8S_VERSION}, strict")
    print(f"grafana: {grafana['panels']} panels, {grafana['targets']} queries, "
          f"{len(grafana['metrics'])} metric names")
    print(f"prometheus: {prom['jobs']} scrape jobs, {prom['rules']} alert rules, {len(prom['metrics'])} metric names")
    unused = sorted(n for n in METRICS if not any(m.startswith(n) for m in grafana["metrics"] | prom["metrics"]))
    if unused:
        print(f"note: exported but neither charted nor alerted on: {', '.join(unused)}")
    if problems:
        print(f"\nFAILED: {len(problems.items)} problem(s) in {deploy}:")
        for item in problems.items:
            print(f"  - {item}")
        return 1
    print("deploy/: all checks passed")

    if args.no_self_test:
        return 0
    print(f"self-test: {len(BROKEN_COPIES)} deliberately broken copies")
    failures = self_test(deploy, compose)
    if failures:
        print(f"\nFAILED: the checks did not reject {len(failures)} broken copies as they should:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(f"self-test: all {len(BROKEN_COPIES)} broken copies rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
