"""Metrics stay off the internet and the shipped scrape examples find them: deploy/prometheus/ and the Ingress.

- The Ingress (deploy/k8s/ingress.yaml), read with Kubernetes' own path matching (`Exact`, and `Prefix`
  element by element), routes every public path the real server app serves and not `/metrics` or
  `/readyz`; a path the server gains fails here until it is routed or declared in-cluster only.
- deploy/prometheus/prometheus.yml passes `promtool check config` (Debian's `prometheus` package; its
  build leaves out Kubernetes discovery, so there the Kubernetes job is checked by the relabelling below
  only), and its jobs are followed as Prometheus would: the VM job's target is the host and port of
  deploy/audiohook.toml; the pod job's relabelling, applied to the pod discovery labels of the
  Deployment's pods (and of decoys), keeps exactly one target per server pod, at the annotated port and
  path. The path is then scraped from a real server (over stand-in speech) and parsed as Prometheus does.
- deploy/prometheus/servicemonitor.yaml selects the Service and names its port and the metrics path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import BaseRoute, Route, WebSocketRoute

from audiohook_server.server.routes import AUDIOHOOK_PATHS, HEALTH_PATH, LIVE_PATH, METRICS_PATH, READY_PATH
from tests.conftest import RunningServer, make_settings
from tests.deploy.deploy_helpers import DEPLOY
from tests.stand_in_speech import StandInSpeech

K8S = DEPLOY / "k8s"
PROMETHEUS = DEPLOY / "prometheus"
NAMESPACE = "audiohook"  # docs/deployment.md: `kubectl create namespace audiohook`
# Served by the app but for the cluster only (probes, metrics) or not needed from outside.
IN_CLUSTER_ONLY = {METRICS_PATH, READY_PATH, "/docs/oauth2-redirect"}
CATCH_ALL = "/{path:path}"  # the 404 for every other WebSocket path


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _one(path: Path, kind: str) -> dict[str, Any]:
    (found,) = [d for d in _documents(path) if d["kind"] == kind]
    return found


# --------------------------------------------------------------------------------------------------
# The Ingress


def _ingress_matches(rule_path: str, path_type: str, request_path: str) -> bool:
    """Kubernetes Ingress path matching: Exact is equality; Prefix matches whole `/` elements."""
    if path_type == "Exact":
        return request_path == rule_path
    assert path_type == "Prefix", f"{path_type}: ImplementationSpecific matching depends on the controller"
    prefix = [p for p in rule_path.split("/") if p]
    parts = [p for p in request_path.split("/") if p]
    return parts[: len(prefix)] == prefix


def _routed(request_path: str) -> bool:
    (rule,) = _one(K8S / "ingress.yaml", "Ingress")["spec"]["rules"]
    return any(_ingress_matches(p["path"], p["pathType"], request_path) for p in rule["http"]["paths"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = RunningServer(make_settings(tmp_path_factory.mktemp("metrics")), speech=StandInSpeech()).start()
    yield running
    running.stop()


def _route_paths(routes: list[BaseRoute]) -> set[str]:
    return {route.path for route in routes if isinstance(route, (Route, WebSocketRoute))}


def test_ingress_routes_the_public_paths_and_not_metrics(server: RunningServer) -> None:
    assert not _routed(METRICS_PATH) and not _routed(READY_PATH)
    for path in (f"{METRICS_PATH}/", f"{METRICS_PATH}/x", "/analyzemetrics", "/audiohook/metrics"):
        assert not _routed(path), path
    for path in (*AUDIOHOOK_PATHS, LIVE_PATH, HEALTH_PATH, "/analyze/live/start", "/analyze/stream"):
        assert _routed(path), path

    # Every route of the real app is either public (routed) or declared in-cluster only.
    served = _route_paths(server.server.app.routes) - {CATCH_ALL}
    assert served >= IN_CLUSTER_ONLY, "a declared path the server no longer serves"
    for path in sorted(served - IN_CLUSTER_ONLY):
        concrete = re.sub(r"\{[^}]+\}", "live_0123abcd", path)
        assert _routed(concrete), f"{path} is served but the Ingress does not route it (or list it in-cluster only)"


# --------------------------------------------------------------------------------------------------
# Prometheus: promtool, the VM job, the pod job's relabelling


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install -y --no-install-recommends prometheus)")
    config = PROMETHEUS / "prometheus.yml"
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0 and "field kubernetes_sd_configs not found" in output:
        # Debian builds Prometheus without Kubernetes discovery: check the rest of the file with it.
        data = yaml.safe_load(config.read_text())
        data["scrape_configs"] = [j for j in data["scrape_configs"] if "kubernetes_sd_configs" not in j]
        assert data["scrape_configs"], "nothing left to check"
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(data))
        result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, check=False)
        output = result.stdout + result.stderr
    assert result.returncode == 0 and "SUCCESS" in output, output


def _jobs() -> dict[str, dict[str, Any]]:
    jobs = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    return {job["job_name"]: job for job in jobs}


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _relabel(labels: dict[str, str], configs: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus's relabelling (keep, drop, replace, keepequal, dropequal), regexes anchored as in RE2."""
    labels = dict(labels)
    for config in configs:
        action = config.get("action", "replace")
        value = config.get("separator", ";").join(labels.get(name, "") for name in config.get("source_labels", []))
        regex = re.compile(f"^(?:{config.get('regex', '(.*)')})$")
        target = config.get("target_label", "")
        if action == "keep" and not regex.match(value):
            return None
        if action == "drop" and regex.match(value):
            return None
        if action in ("keepequal", "dropequal") and (value == labels.get(target, "")) != (action == "keepequal"):
            return None
        if action == "replace":
            match = regex.match(value)
            if match:
                # Prometheus writes groups $1 or ${1}; Python's template says \g<1>.
                template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", config.get("replacement", "$1"))
                labels[target] = match.expand(template)
        elif action not in ("keep", "drop", "keepequal", "dropequal"):
            raise AssertionError(f"relabel action {action!r} is not modelled here")
    return labels


def _pod_targets(job: dict[str, Any], name: str, pod: Mapping[str, Any], pod_ip: str) -> list[dict[str, str]]:
    """What Prometheus's pod discovery (role: pod) makes of a pod: one target per declared container port."""
    metadata = pod["metadata"]
    base = {
        "job": job["job_name"],
        "__scheme__": job.get("scheme", "http"),
        "__metrics_path__": job.get("metrics_path", "/metrics"),
        "__meta_kubernetes_namespace": NAMESPACE,
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_ip": pod_ip,
    }
    base |= {f"__meta_kubernetes_pod_label_{_sanitize(k)}": v for k, v in metadata.get("labels", {}).items()}
    base |= {f"__meta_kubernetes_pod_annotation_{_sanitize(k)}": v for k, v in metadata.get("annotations", {}).items()}
    targets = []
    for container in pod["spec"]["containers"]:
        for port in container.get("ports", []):
            labels = base | {
                "__address__": f"{pod_ip}:{port['containerPort']}",
                "__meta_kubernetes_pod_container_name": container["name"],
                "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP"),
            }
            kept = _relabel(labels, job.get("relabel_configs", []))
            if kept is not None:
                targets.append(kept)
    return targets


def _scrape(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        return {family.name for family in text_string_to_metric_families(response.read().decode())}


def test_vm_job_scrapes_the_servers_own_port() -> None:
    job = _jobs()["audiohook-server"]
    settings = tomllib.loads((DEPLOY / "audiohook.toml").read_text())
    (static,) = job["static_configs"]
    assert static["targets"] == [f"{settings['host']}:{settings['port']}"]
    assert job.get("metrics_path", "/metrics") == METRICS_PATH and job.get("scheme", "http") == "http"


def test_pod_job_keeps_one_target_per_server_pod_at_the_metrics_port(server: RunningServer) -> None:
    job = _jobs()["audiohook-server-pods"]
    (discovery,) = job["kubernetes_sd_configs"]
    assert discovery["role"] == "pod" and NAMESPACE in discovery["namespaces"]["names"]
    pod = _one(K8S / "deployment.yaml", "Deployment")["spec"]["template"]
    settings = tomllib.loads(_one(K8S / "configmap.yaml", "ConfigMap")["data"]["audiohook.toml"])
    annotations = pod["metadata"]["annotations"]
    (port,) = pod["spec"]["containers"][0]["ports"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"]) == str(settings["port"])
    assert annotations["prometheus.io/path"] == METRICS_PATH

    (target,) = _pod_targets(job, "audiohook-server-abc", pod, "10.1.2.3")
    assert target["__address__"] == f"10.1.2.3:{settings['port']}" and target["__metrics_path__"] == METRICS_PATH
    assert target["__scheme__"] == "http" and target["pod"] == "audiohook-server-abc"

    # Decoys: a sidecar port on the same pod is not scraped; a pod without the annotation is not either.
    with_sidecar = {**pod, "spec": {**pod["spec"], "containers": [*pod["spec"]["containers"], _sidecar()]}}
    sidecar_targets = _pod_targets(job, "p", with_sidecar, "10.1.2.4")
    assert [t["__address__"] for t in sidecar_targets] == [f"10.1.2.4:{port['containerPort']}"]
    unannotated = {**pod, "metadata": {"labels": pod["metadata"]["labels"]}}
    assert _pod_targets(job, "q", unannotated, "10.1.2.5") == []

    # That path, scraped from a real server, is the metrics.
    names = _scrape(f"http://127.0.0.1:{server.port}{target['__metrics_path__']}")
    assert {"audiohook_live_sessions", "audiohook_sessions", "audiohook_final_latency_seconds"} <= names


def _sidecar() -> dict[str, Any]:
    return {"name": "sidecar", "image": "example/sidecar", "ports": [{"name": "admin", "containerPort": 9000}]}


def test_service_monitor_selects_the_service_port_and_path() -> None:
    monitor = _one(PROMETHEUS / "servicemonitor.yaml", "ServiceMonitor")
    service = _one(K8S / "service.yaml", "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector and all(service["metadata"]["labels"].get(k) == v for k, v in selector.items())
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (endpoint,) = monitor["spec"]["endpoints"]
    (service_port,) = service["spec"]["ports"]
    assert endpoint["port"] == service_port["name"] and endpoint["path"] == METRICS_PATH
    assert endpoint.get("scheme", "http") == "http"
    pod_spec = _one(K8S / "deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    (container_port,) = pod_spec["containers"][0]["ports"]
    assert service_port["targetPort"] == container_port["name"]
