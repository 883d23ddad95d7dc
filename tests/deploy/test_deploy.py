"""The deployment recipes in deploy/, tried for real (no Docker engine runs here; everything else does).

- TLS: the server started with `--tls-cert/--tls-key` (a throw-away CA made here) serves `/healthz` over
  https and a signed Genesys session over `wss://`, verified against that CA only.
- nginx: Debian's nginx runs `deploy/nginx/audiohook.conf.template` itself (rendered as `envsubst` does)
  in front of a plain server; a Genesys call (real two-voice μ-law speech, signed over the authority the
  client connects to, i.e. nginx's host:port) streams through it and its final transcripts come back.
  The same request signed over any other authority, or not signed, is refused: the signature is really
  checked behind the proxy. `/metrics` through nginx answers 403 to an address the template does not
  allow (a client bound to 127.0.0.2) however the path is spelled, and the metrics to 127.0.0.1, while
  the other routes still reach the server from anywhere.
- Kubernetes manifests: validated against the Kubernetes JSON schemas bundled in the PyPI package
  `kubernetes-validate` (offline, strict: unknown fields fail), and checked to fit together (selectors,
  probes, grace period versus drain time, ConfigMap/Secret/PVC references). The ConfigMap's TOML passes
  the server's own `--check-config`.
- Compose: validated against the compose-spec schema that PyPI `check-jsonschema` vendors, and checked
  against the template and Dockerfile it uses.
- Dockerfile: parsed with PyPI `dockerfile-parse` and checked (multi-stage, non-root, models resolved at
  build time, health check, only copies what the build context lets in).
- The image's health check script, the object-storage shipping script (with Debian's rclone and a local
  directory as the bucket, under dash and under BusyBox as in the rclone image), and the systemd units
  (`systemd-analyze verify`) run for real.
Tests skip only when a Debian tool is absent (nginx, rclone, busybox, systemd-analyze), naming the package.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from audiohook_server.client.genesys import GenesysClient, media_offer
from audiohook_server.server.cli import STOP_GRACE_S
from tests.conftest import free_port
from tests.deploy.deploy_helpers import (
    DEPLOY,
    NGINX_TEMPLATE,
    ROOT,
    NginxProcess,
    Pki,
    ServerProcess,
    http_status,
    make_pki,
    nginx_binary,
    render_template,
    template_variables,
)
from tests.genesys_fixtures import RATE, columns_for, turns_within, wer

SIGNED_KEY = "deploy-genesys-key"
SECRET_B64 = base64.b64encode(b"deploy-test-client-secret-0123456").decode()
PLAIN_KEY = "deploy-plain-key"
API_KEYS = f"{SIGNED_KEY}:{SECRET_B64},{PLAIN_KEY}"
STEREO = ["external", "internal"]
SPEED = 3.0
CALL_S = 12.6  # the first two turns of the fixture call: the agent's greeting, the customer's problem
WER_BOUND = 0.35  # tiny.en on this 8 kHz call measures about 0.20 (tests/server/test_genesys_door.py)
K8S_DIR = DEPLOY / "k8s"
K8S_FILES = sorted(K8S_DIR.glob("*.yaml")) + sorted((K8S_DIR / "optional").glob("*.yaml"))
K8S_VERSIONS = ("1.29.0", "1.37.0")  # the oldest Kubernetes the guide supports, the newest schema bundled
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
APT = {"nginx": "nginx-light", "rclone": "rclone", "busybox": "busybox", "systemd-analyze": "systemd"}


def _run(
    args: list[str], env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=ROOT)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without AUDIOHOOK_* settings, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUDIOHOOK_")}, **extra}


def _needs(tool: str) -> str:
    path = shutil.which(tool) if tool != "nginx" else nginx_binary()
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install -y {APT[tool]})")
    return path


# --------------------------------------------------------------------------------------------------
# The servers and the proxy


@dataclass
class Servers:
    tls: ServerProcess  # serves wss:// itself
    plain: ServerProcess  # behind nginx
    plain_recordings: Path


@dataclass
class Proxy:
    nginx: NginxProcess
    port: int

    @property
    def authority(self) -> str:
        return f"localhost:{self.port}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def servers(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Both servers start at once (model loading overlaps); both are stopped with SIGTERM at the end."""
    base = tmp_path_factory.mktemp("servers")
    env = {"AUDIOHOOK_API_KEYS": API_KEYS}
    tls_args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    with contextlib.ExitStack() as stack:
        tls = ServerProcess(
            ["--recordings-dir", str(base / "tls-recordings"), *tls_args], env, free_port(), base / "tls.log", pki
        )
        stack.callback(tls.stop)
        plain = ServerProcess(["--recordings-dir", str(base / "recordings")], env, free_port(), base / "plain.log")
        stack.callback(plain.stop)
        tls.wait_ready()
        plain.wait_ready()
        yield Servers(tls, plain, base / "recordings")


@pytest.fixture(scope="module")
def proxy(servers: Servers, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    binary = _needs("nginx")
    port = free_port()
    site = render_template(
        NGINX_TEMPLATE.read_text(),
        {
            "NGINX_SERVER_NAME": "localhost",
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "NGINX_UPSTREAM": f"127.0.0.1:{servers.plain.port}",
            "NGINX_TLS_CERT": str(pki.server_cert),
            "NGINX_TLS_KEY": str(pki.server_key),
        },
    )
    nginx = NginxProcess(binary, tmp_path_factory.mktemp("nginx"), site)
    try:
        yield Proxy(nginx.wait_listening(port), port)
    finally:
        nginx.stop()


async def _call(client: GenesysClient, seconds: float) -> GenesysClient:
    """Open with the stereo offer first (as Genesys), stream `seconds` of the fixture call, close."""
    samples = columns_for(STEREO)[: int(seconds * RATE)]
    offers = [media_offer(STEREO), media_offer(["external"]), media_offer(["internal"])]
    async with await client.connect():
        opened = await client.open(offers)
        assert opened is not None and opened.parameters["media"] == [offers[0]]
        await client.stream(samples, speed=SPEED)
        await client.close(timeout=60)
    return client


def _run_async(coro: Any, timeout: float = 120) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


# --------------------------------------------------------------------------------------------------
# 1. TLS in the server itself


def test_tls_server_serves_healthz_over_https_with_its_certificate(servers: Servers, pki: Pki) -> None:
    assert http_status(servers.tls.health_url, pki.client_context()) == 200
    # The system's CAs do not know the test CA: the certificate really is the one configured.
    assert http_status(servers.tls.health_url, ssl.create_default_context()) == 0
    # Plain HTTP on the TLS port gets no answer.
    assert http_status(f"http://127.0.0.1:{servers.tls.port}/healthz") == 0


def test_signed_genesys_call_over_wss_directly(servers: Servers, pki: Pki) -> None:
    url = f"wss://localhost:{servers.tls.port}/audiohook"
    client = GenesysClient(url, SIGNED_KEY, SECRET_B64, ssl_context=pki.client_context(), ping_interval=2.0)
    _run_async(_call(client, 5.6))  # the agent's greeting
    assert client.violations == []
    assert client.last("closed") is not None
    finals = client.finals()
    assert finals and all(STEREO[f.channel_id] == "internal" for f in finals), [f.transcript for f in finals]
    assert wer(finals, turns_within(5.6)) <= WER_BOUND, [f.transcript for f in finals]


# --------------------------------------------------------------------------------------------------
# 2. nginx in front: TLS terminated, upgrade and Host forwarded, signature verified at the server


def test_nginx_template_has_only_the_documented_placeholders() -> None:
    text = NGINX_TEMPLATE.read_text()
    assert template_variables(text) == {
        "NGINX_SERVER_NAME",
        "NGINX_LISTEN",
        "NGINX_UPSTREAM",
        "NGINX_TLS_CERT",
        "NGINX_TLS_KEY",
    }
    directives = [line.split("#")[0].strip() for line in text.splitlines()]
    assert "proxy_set_header Host $http_host;" in directives  # the client's Host, port included
    assert "proxy_http_version 1.1;" in directives
    assert "proxy_set_header Upgrade $http_upgrade;" in directives
    timeouts = {d.split()[0]: d.split()[1] for d in directives if d.startswith(("proxy_read_timeout", "proxy_send"))}
    assert all(int(v.rstrip("s;")) >= 3600 for v in timeouts.values()) and len(timeouts) == 2


def test_healthz_through_nginx(proxy: Proxy, pki: Pki) -> None:
    assert http_status(f"https://{proxy.authority}/healthz", pki.client_context()) == 200


def test_signed_genesys_call_through_nginx_gets_its_transcripts(proxy: Proxy, servers: Servers, pki: Pki) -> None:
    url = f"wss://{proxy.authority}/audiohook"
    client = GenesysClient(url, SIGNED_KEY, SECRET_B64, ssl_context=pki.client_context(), ping_interval=2.0)
    assert client.authority == proxy.authority  # what Genesys signs: the host and port it connects to
    _run_async(_call(client, CALL_S))

    assert client.violations == []
    assert client.schema_problems() == []
    assert client.rtts, "pings crossed the proxy and were answered"
    finals = client.finals()
    assert {STEREO[f.channel_id] for f in finals} == {"external", "internal"}, [f.transcript for f in finals]
    assert wer(finals, turns_within(CALL_S)) <= WER_BOUND, [f.transcript for f in finals]
    # It went through nginx as a WebSocket upgrade (101), and the server wrote the call's CSV.
    assert re.search(r'"GET /audiohook HTTP/1\.1" 101 ', proxy.nginx.access_log()), proxy.nginx.access_log()
    frame = pd.read_csv(servers.plain_recordings / f"{client.session_id}.csv", keep_default_na=False)
    assert sorted(frame["text"]) == sorted(f.transcript for f in finals)
    assert set(frame["speaker"]) == {"customer", "agent"}


@pytest.mark.parametrize("case", ["signed over another authority", "not signed"])
def test_requests_not_signed_for_the_proxy_authority_are_refused(case: str, proxy: Proxy, pki: Pki) -> None:
    url = f"wss://{proxy.authority}/audiohook"
    if case == "not signed":
        client = GenesysClient(url, SIGNED_KEY, None, ssl_context=pki.client_context())
    else:  # signed for a name other than the one connected to, as when a proxy rewrites Host
        client = GenesysClient(url, SIGNED_KEY, SECRET_B64, ssl_context=pki.client_context(), authority="x.test")
    with pytest.raises(InvalidStatus) as refused:
        _run_async(client.connect(), 30)
    assert refused.value.response.status_code == 401


ALLOWED_CLIENT = "127.0.0.1"  # the template's `allow 127.0.0.1;`
OUTSIDE_CLIENT = "127.0.0.2"  # loopback too (Linux routes 127/8 to lo), but not allowed
# Spellings nginx normalises to /metrics before it matches a location. nginx passes the raw one on, and
# the server itself serves the metrics for some (percent-encoding) and not for others (double slash).
METRICS_SPELLINGS = ["/metrics", "/metrics?name[]=audiohook_sessions", "//metrics", "/%6Detrics", "/healthz/../metrics"]
SERVED_SPELLINGS = {"/metrics", "/metrics?name[]=audiohook_sessions", "/%6Detrics"}


def _request(
    connection: http.client.HTTPConnection, path: str, method: str = "GET"
) -> tuple[int, str, http.client.HTTPMessage]:
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace"), response.headers
    finally:
        connection.close()


def _get_through_nginx(
    proxy: Proxy, pki: Pki, path: str, source: str, method: str = "GET"
) -> tuple[int, str, http.client.HTTPMessage]:
    """One request to nginx from the local address `source` (the certificate covers 127.0.0.1)."""
    context = pki.client_context()
    address = (source, 0)
    connection = http.client.HTTPSConnection(
        "127.0.0.1", proxy.port, context=context, timeout=10, source_address=address
    )
    return _request(connection, path, method)


def _metric_names(body: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(body)}


@pytest.mark.parametrize("path", METRICS_SPELLINGS)
def test_metrics_through_nginx_only_for_allowed_addresses(path: str, proxy: Proxy, servers: Servers, pki: Pki) -> None:
    # What the server itself answers to that spelling, asked directly on its port.
    direct, direct_body, _ = _request(http.client.HTTPConnection("127.0.0.1", servers.plain.port, timeout=10), path)
    assert (direct == 200) == (path in SERVED_SPELLINGS), (direct, direct_body[:200])

    forbidden_before = proxy.nginx.error_log().count(f"access forbidden by rule, client: {OUTSIDE_CLIENT}")
    refused, body, _ = _get_through_nginx(proxy, pki, path, OUTSIDE_CLIENT)
    assert refused == 403 and "audiohook_" not in body, (refused, body[:300])
    # nginx itself refused it (it logs just after the answer is sent).
    deadline = time.monotonic() + 5
    while proxy.nginx.error_log().count(f"access forbidden by rule, client: {OUTSIDE_CLIENT}") == forbidden_before:
        assert time.monotonic() < deadline, proxy.nginx.error_log()[-500:]
        time.sleep(0.05)

    # From an allowed address nginx passes it on, and the server answers as it does directly.
    status, body, headers = _get_through_nginx(proxy, pki, path, ALLOWED_CLIENT)
    assert status == direct, (status, body[:300])
    if status == 200:
        assert headers["Content-Type"].startswith("text/plain")
        assert {"audiohook_live_sessions", "audiohook_sessions"} <= _metric_names(body)


def test_other_routes_still_reach_the_server_from_an_address_not_allowed(proxy: Proxy, pki: Pki) -> None:
    answers = {
        path: _get_through_nginx(proxy, pki, path, OUTSIDE_CLIENT, method)[:2]
        for method, path in [
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/docs"),
            ("GET", "/openapi.json"),
            ("GET", "/metrics/x"),  # not /metrics: the server's own 404
            ("POST", "/analyze/live/start"),  # the live-capture location: the server wants a key
            ("GET", "/audiohook"),  # the WebSocket door, asked without an upgrade
        ]
    }
    assert answers["/healthz"] == (200, "ok\n") and answers["/readyz"] == (200, "ready\n")
    assert answers["/docs"][0] == 200 and "swagger" in answers["/docs"][1].lower()
    assert answers["/openapi.json"][0] == 200 and "/analyze/live/start" in answers["/openapi.json"][1]
    assert answers["/metrics/x"] == (404, "no endpoint at /metrics/x; use /audiohook or /ws/transcribe\n")
    assert answers["/analyze/live/start"][0] == 401, answers["/analyze/live/start"]
    assert answers["/audiohook"][0] == 426, answers["/audiohook"]
    # The signed Genesys call through nginx (above) is the WebSocket route; it does not depend on the address.


# --------------------------------------------------------------------------------------------------
# 3. Kubernetes


def _k8s_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in K8S_FILES:
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def _kubernetes_validate(*files: Path, version: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, *map(str, files)]
    return _run(args)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_against_the_schema(version: str) -> None:
    result = _kubernetes_validate(*K8S_FILES, version=version)
    assert result.returncode == 0, result.stdout + result.stderr
    for doc in _k8s_documents():
        resource = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        assert f"passed for resource {resource} " in result.stdout + result.stderr, resource


def test_the_kubernetes_validator_does_reject_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "deployment.yaml"
    broken.write_text((K8S_DIR / "deployment.yaml").read_text().replace("containerPort:", "containerPorts:"))
    result = _kubernetes_validate(broken, version=K8S_VERSIONS[-1])
    assert result.returncode != 0 and "containerPort" in result.stdout + result.stderr


def _pod_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_kubernetes_manifests_fit_together() -> None:
    docs = _k8s_documents()
    deployment = _one(docs, "Deployment")
    pod = deployment["spec"]["template"]
    labels, spec = pod["metadata"]["labels"], pod["spec"]
    (container,) = spec["containers"]
    assert _pod_matches(deployment["spec"]["selector"]["matchLabels"], labels)

    # The config file is the ConfigMap, mounted where AUDIOHOOK_CONFIG says.
    env = {e["name"]: e for e in container["env"]}
    config_map = _one(docs, "ConfigMap", "audiohook-config")
    (config_key,) = config_map["data"]
    settings = tomllib.loads(config_map["data"][config_key])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    config_volume = next(n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "audiohook-config")
    assert env["AUDIOHOOK_CONFIG"]["value"] == f"{mounts[config_volume]['mountPath']}/{config_key}"

    # The API keys come from the Secret.
    ref = env["AUDIOHOOK_API_KEYS"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] in _one(docs, "Secret", ref["name"])["stringData"]

    # Recordings on the shared volume, at the recordings_dir of the config; /tmp writable, root read-only.
    claim = _one(docs, "PersistentVolumeClaim")
    recordings = next(n for n, v in volumes.items() if "persistentVolumeClaim" in v)
    assert volumes[recordings]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert mounts[recordings]["mountPath"] == settings["recordings_dir"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any(m["mountPath"] == "/tmp" and "emptyDir" in volumes[n] for n, m in mounts.items())
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0

    # Probes at the port the server listens on: liveness and start-up on /healthz, readiness on /readyz
    # (a pod at --max-sessions, or draining, stops receiving new calls but is not restarted).
    (port,) = container["ports"]
    assert port["containerPort"] == settings["port"] and settings["host"] == "0.0.0.0"
    for probe, path in (("startupProbe", "/healthz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}, probe

    # Draining: preStop, then SIGTERM; the grace period covers preStop + drain + the CSV writing.
    sleep_s = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain_s = float(settings["drain_timeout_s"])
    assert spec["terminationGracePeriodSeconds"] >= sleep_s + drain_s + STOP_GRACE_S
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain_s + STOP_GRACE_S
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    # Service, Ingress, HPA and PDB all point at these pods.
    service = _one(docs, "Service")
    assert _pod_matches(service["spec"]["selector"], labels)
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    (rule,) = _one(docs, "Ingress")["spec"]["rules"]
    for ingress_path in rule["http"]["paths"]:
        backend = ingress_path["backend"]["service"]
        assert backend == {"name": service["metadata"]["name"], "port": {"name": service_port["name"]}}
    hpa = _one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "audiohook-server"}
    assert container["resources"]["requests"]["cpu"], "CPU utilization needs a CPU request"
    assert _pod_matches(_one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)
    assert settings["whisper_threads"] * settings["whisper_workers"] == int(container["resources"]["requests"]["cpu"])

    # The shipping CronJob runs deploy/ship-recordings.sh verbatim, as the server's user, on the same volume.
    job = _one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    script = _one(docs, "ConfigMap", "audiohook-ship-recordings")["data"]["ship-recordings.sh"]
    assert script == (DEPLOY / "ship-recordings.sh").read_text()
    assert job["securityContext"]["runAsUser"] == spec["securityContext"]["runAsUser"]
    job_claims = [v["persistentVolumeClaim"]["claimName"] for v in job["volumes"] if "persistentVolumeClaim" in v]
    assert job_claims == [claim["metadata"]["name"]]

    # The image runs as the same user.
    user = [s["value"] for s in DockerfileParser(path=str(DOCKERFILE)).structure if s["instruction"] == "USER"][-1]
    assert user.split(":")[0] == str(spec["securityContext"]["runAsUser"])


def _check_config(config: Path, api_keys: str = API_KEYS, **env: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "audiohook_server", "--config", str(config), "--check-config"]
    return _run(args, _clean_env(AUDIOHOOK_API_KEYS=api_keys, **env))


@pytest.mark.parametrize(
    "source",
    [
        "deploy/audiohook.toml",
        "deploy/compose.audiohook.toml",
        "deploy/image-defaults.toml",
        "deploy/k8s/configmap.yaml",
    ],
)
def test_shipped_settings_pass_the_servers_check_config(source: str, tmp_path: Path) -> None:
    if source.endswith(".toml"):
        config = ROOT / source
    else:
        config = tmp_path / "audiohook.toml"
        config.write_text(_one(_k8s_documents(), "ConfigMap", "audiohook-config")["data"]["audiohook.toml"])
    settings = tomllib.loads(config.read_text())
    # The recordings path is the deployment's (/data/..., /var/lib/...): point it here, by environment.
    result = _check_config(config, AUDIOHOOK_RECORDINGS_DIR=str(tmp_path / "recordings"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration OK" in result.stdout
    assert f"{settings['host']}:{settings['port']}/audiohook" in result.stdout
    assert f"{settings.get('max_sessions', 64)} sessions" in result.stdout
    assert SECRET_B64 not in result.stdout + result.stderr


@pytest.mark.parametrize("source", ["deploy/k8s/secret.yaml", "deploy/audiohook.env.example"])
def test_placeholder_credentials_are_refused_with_a_reason(source: str, tmp_path: Path) -> None:
    path = ROOT / source
    if path.suffix == ".yaml":
        placeholder = _one(_k8s_documents(), "Secret")["stringData"]["AUDIOHOOK_API_KEYS"]
    else:
        (line,) = [ln for ln in path.read_text().splitlines() if ln.startswith("AUDIOHOOK_API_KEYS=")]
        placeholder = line.partition("=")[2]
    result = _check_config(DEPLOY / "audiohook.toml", placeholder, AUDIOHOOK_RECORDINGS_DIR=str(tmp_path))
    assert result.returncode == 2 and "not valid base64" in result.stderr, result.stderr


# --------------------------------------------------------------------------------------------------
# 4. Docker: compose file and Dockerfile (no Docker engine here: schema, parse and cross-checks)


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)])


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = _check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_validator_does_reject_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periods:"))
    result = _check_jsonschema(broken)
    assert result.returncode != 0 and "stop_grace_periods" in result.stdout + result.stderr


def test_compose_file_fits_the_template_image_and_settings() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    server, proxy = compose["services"]["audiohook"], compose["services"]["proxy"]
    context = (COMPOSE.parent / server["build"]["context"]).resolve()
    assert context == ROOT and (context / server["build"]["dockerfile"]).resolve() == DOCKERFILE.resolve()
    assert proxy["depends_on"]["audiohook"]["condition"] == "service_healthy"
    assert server["healthcheck"]["test"][-1] == "/opt/audiohook/healthcheck.py"

    # The proxy mounts this repository's template and sets exactly its placeholders.
    sources = {v.split(":")[1]: v.split(":")[0] for v in proxy["volumes"]}
    template = sources["/etc/nginx/templates/audiohook.conf.template"]
    assert (COMPOSE.parent / template).resolve() == NGINX_TEMPLATE.resolve()
    assert set(proxy["environment"]) == template_variables(NGINX_TEMPLATE.read_text())
    upstream_host, upstream_port = proxy["environment"]["NGINX_UPSTREAM"].split(":")
    assert upstream_host == "audiohook" and server["expose"] == [upstream_port]

    # The server's config file is deploy/audiohook.toml; the stop grace period covers the drain.
    config_source = next(v.split(":")[0] for v in server["volumes"] if server["environment"]["AUDIOHOOK_CONFIG"] in v)
    settings = tomllib.loads((COMPOSE.parent / config_source).read_text())
    assert int(settings["port"]) == int(upstream_port)
    assert int(server["stop_grace_period"].rstrip("s")) >= settings["drain_timeout_s"] + STOP_GRACE_S
    assert (COMPOSE.parent / f"{server['env_file']}.example").is_file()


def _stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(item)
    return stages


KNOWN_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "ONBUILD",
    "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "COMMENT",
}  # fmt: skip


def test_dockerfile_is_multi_stage_non_root_with_models_and_a_health_check() -> None:
    parser = DockerfileParser(path=str(DOCKERFILE))
    assert {i["instruction"] for i in parser.structure} <= KNOWN_INSTRUCTIONS
    build, runtime = _stages(parser)
    assert build[0]["value"].endswith(" AS build") and runtime[0]["value"].endswith(" AS runtime")
    assert build[0]["value"].split()[0] == runtime[0]["value"].split()[0], "the venv needs the same Python"

    runs = [i["value"] for i in build if i["instruction"] == "RUN"]
    torch = next(n for n, r in enumerate(runs) if "torch==2.13.0" in r)
    project = next(n for n, r in enumerate(runs) if re.search(r"pip install \"\.", r))
    models = next(n for n, r in enumerate(runs) if "--check-config" in r)
    assert torch < project < models, "torch (CPU) first, then the project, then its models resolved"

    final = {i["instruction"]: i["value"] for i in runtime}  # the last of each instruction
    uid = final["USER"].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric and not root (Kubernetes runAsNonRoot checks the number)"
    assert "/opt/audiohook/healthcheck.py" in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["audiohook-server"]' and final["STOPSIGNAL"] == "SIGTERM"
    assert any(i["instruction"] == "COPY" and i["value"].startswith("--from=build ") for i in runtime)

    # Settings come from the image's config file, so that a mounted file or single variables can change
    # them; an AUDIOHOOK_* variable baked in would silently win over any mounted file.
    env = DockerfileParser(path=str(DOCKERFILE)).envs
    assert {k for k in env if k.startswith("AUDIOHOOK_")} == {"AUDIOHOOK_CONFIG", "AUDIOHOOK_MODEL_CACHE_DIR"}
    assert env["HF_HUB_OFFLINE"] == "1"
    copies = [i["value"].split() for i in runtime if i["instruction"] == "COPY"]
    assert ["--from=build", "/opt/audiohook/audiohook.toml", env["AUDIOHOOK_CONFIG"]] in copies
    assert any(
        i["value"].split()[-2:] == ["deploy/image-defaults.toml", "/opt/audiohook/audiohook.toml"] for i in build
    )
    defaults = tomllib.loads((DEPLOY / "image-defaults.toml").read_text())
    assert defaults["host"] == "0.0.0.0" and final["EXPOSE"] == str(defaults["port"])
    assert final["VOLUME"] == f'["{defaults["recordings_dir"]}"]'
    assert any("--config /opt/audiohook/audiohook.toml --check-config" in r for r in runs)


def test_dockerfile_copies_only_what_exists_and_the_context_lets_in() -> None:
    parser = DockerfileParser(path=str(DOCKERFILE))
    allowed = [
        line[1:] for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    ignore_lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore_lines, "everything out by default (the .venv alone is over 1 GB)"
    for item in parser.structure:
        if item["instruction"] != "COPY" or item["value"].startswith("--from="):
            continue
        *sources, _ = item["value"].split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source in allowed, f"{source} is excluded from the build context"


# --------------------------------------------------------------------------------------------------
# 5. The image's health check, the shipping script, the systemd units


def _healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, str(DEPLOY / "healthcheck.py")], _clean_env(**env), timeout=30)


def test_container_health_check_script(servers: Servers, pki: Pki, tmp_path: Path) -> None:
    tls = _healthcheck(AUDIOHOOK_PORT=str(servers.tls.port), AUDIOHOOK_TLS_CERT=str(pki.server_cert))
    assert tls.returncode == 0 and "https://127.0.0.1" in tls.stdout, tls.stdout + tls.stderr
    config = tmp_path / "audiohook.toml"
    config.write_text(f'host = "0.0.0.0"\nport = {servers.plain.port}\n')
    plain = _healthcheck(AUDIOHOOK_CONFIG=str(config))  # the port from the config file
    assert plain.returncode == 0 and "http://127.0.0.1" in plain.stdout, plain.stdout + plain.stderr
    nothing = _healthcheck(AUDIOHOOK_PORT=str(free_port()))
    assert nothing.returncode == 1 and nothing.stderr


def _session(directory: Path, stem: str, age_s: float, journal: bool = False, wav: bool = True) -> list[Path]:
    files = [directory / f"{stem}.csv", directory / f"{stem}.session.json", directory / f"{stem}.summary.json"]
    if wav:
        files.append(directory / f"{stem}.wav")
    if journal:
        files.append(directory / f"{stem}.journal.jsonl")
    stamp = time.time() - age_s
    for path in files:
        path.write_text(f"{path.name}\n")
        os.utime(path, (stamp, stamp))
    return files


def _shell_env(shell: str, tmp_path: Path, **extra: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment to run a script with Debian's sh (dash and coreutils), or with
    BusyBox's sh, stat and date only, as in the rclone image the Kubernetes CronJob uses."""
    rclone = _needs("rclone")
    if shell == "sh":
        return ["sh"], _clean_env(**extra)
    busybox = _needs("busybox")
    tools = tmp_path / "busybox-bin"
    tools.mkdir()
    for applet in ("sh", "stat", "date"):
        (tools / applet).symlink_to(busybox)
    (tools / "rclone").symlink_to(rclone)
    return [str(tools / "sh")], {"PATH": str(tools), "HOME": str(tmp_path), **extra}


@pytest.mark.parametrize("shell", ["sh", "busybox"])
def test_ship_recordings_moves_finished_sessions_only(shell: str, tmp_path: Path) -> None:
    recordings, bucket = tmp_path / "recordings", tmp_path / "bucket"
    recordings.mkdir()
    done = _session(recordings, "call-done", age_s=600)
    no_audio = _session(recordings, "call-no-audio", age_s=600, wav=False)
    live = _session(recordings, "call-live", age_s=600, journal=True)
    recent = _session(recordings, "call-recent", age_s=5)
    (recordings / ".call-x.csv.abc.tmp").write_text("a CSV being written")
    script = [str(DEPLOY / "ship-recordings.sh"), str(recordings), str(bucket)]
    sh, env = _shell_env(shell, tmp_path, SHIP_MIN_AGE_S="60", RCLONE_CONFIG="/dev/null")

    result = _run([*sh, *script], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shipped 2 session(s)" in result.stdout and "left 2 live or recent" in result.stdout
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 600))
    for path in done + no_audio:
        assert not path.exists() and (bucket / day / path.name).read_text() == f"{path.name}\n"
    assert all(path.exists() for path in live + recent)
    assert (recordings / ".call-x.csv.abc.tmp").exists()

    again = _run([*sh, *script], env)
    assert again.returncode == 0 and "shipped 0 session(s)" in again.stdout
    unset = _run([*sh, str(DEPLOY / "ship-recordings.sh"), str(recordings)], {**env, "SHIP_MIN_AGE_S": "60"})
    assert unset.returncode == 2 and "SHIP_DESTINATION" in unset.stderr


def test_systemd_units_verify(tmp_path: Path) -> None:
    tool = _needs("systemd-analyze")
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "audiohook-server").exists()
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        text = unit.read_text().replace("/opt/audiohook/venv/bin/", f"{venv_bin}/")
        (tmp_path / unit.name).write_text(text)
    result = _run([tool, "verify", *map(str, sorted(tmp_path.iterdir()))])
    # verify exits 0 even for unknown keys; any line it prints is a problem.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr

    service = (DEPLOY / "systemd" / "audiohook-server.service").read_text()
    values = dict(re.findall(r"^(\w+)=(.*)$", service, re.MULTILINE))
    assert values["KillSignal"] == "SIGTERM" and values["Type"] == "exec"
    settings = tomllib.loads((DEPLOY / "audiohook.toml").read_text())
    assert int(values["TimeoutStopSec"]) >= settings["drain_timeout_s"] + STOP_GRACE_S
    assert values["ExecStart"].endswith("/audiohook-server")
    assert "AUDIOHOOK_CONFIG=/etc/audiohook/audiohook.toml" in service


# --------------------------------------------------------------------------------------------------
# 6. The guide names what is in deploy/


def test_the_guide_and_deploy_readme_cover_every_recipe() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    readme = (DEPLOY / "README.md").read_text()
    recipes = [p.relative_to(ROOT).as_posix() for p in DEPLOY.rglob("*") if p.is_file() and p.name != "README.md"]
    recipes = [r for r in recipes if "__pycache__" not in r and not r.endswith(".gitignore")]
    for recipe in recipes:
        assert recipe in guide or recipe.removeprefix("deploy/") in readme, recipe
    # Paths the guide names exist, except what an operator creates (what deploy/.gitignore keeps out).
    operator_made = {line.rstrip("/") for line in (DEPLOY / ".gitignore").read_text().splitlines() if line[:1] != "#"}
    for mentioned in set(re.findall(r"(?<![\w/])deploy/[\w./-]+\w", guide)):
        if Path(mentioned).name not in operator_made:
            assert (ROOT / mentioned).exists(), f"docs/deployment.md names {mentioned}, which does not exist"
