"""What tests/test_deploy.py runs the deployment recipes with: a throw-away CA, the server and nginx as processes.

- `make_pki()`: a self-signed CA and a server certificate it signed for `localhost` and 127.0.0.1 (so a
  client that trusts only that CA verifies the server, as Genesys verifies a public certificate).
- `ServerProcess`: `python -m audiohook_server …` as a subprocess, ready once `/healthz` answers
  200 (over https when it serves TLS); `stop()` sends SIGTERM and waits, then kills.
- `render_template()`: fills `${NAME}` placeholders exactly as `envsubst 'NAMES'` (and the nginx Docker
  image) do, leaving nginx's own `$variables` alone.
- `NginxProcess`: Debian's nginx binary in the foreground with a generated `nginx.conf` in a temporary
  directory whose `http {}` block includes the rendered `deploy/nginx/audiohook.conf.template`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX_TEMPLATE = DEPLOY / "nginx" / "audiohook.conf.template"
START_TIMEOUT_S = 90.0


# --------------------------------------------------------------------------------------------------
# A throw-away PKI


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path  # the leaf followed by the CA: a full chain, as a public CA delivers it
    server_key: Path

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts only this CA and checks host names."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _write_pem(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def make_pki(directory: Path, names: Sequence[str] = ("localhost",), ips: Sequence[str] = ("127.0.0.1",)) -> Pki:
    """A CA and a server certificate for `names` and `ips`, signed by it (EC P-256, valid one day)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audiohook-server test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Pki(
        ca_cert=_write_pem(directory / "ca.pem", ca_pem),
        server_cert=_write_pem(directory / "fullchain.pem", cert.public_bytes(pem) + ca_pem),
        server_key=_write_pem(directory / "privkey.pem", key_pem, private=True),
    )


# --------------------------------------------------------------------------------------------------
# Health checks


def http_status(url: str, context: ssl.SSLContext | None = None, timeout: float = 3.0) -> int:
    """The HTTP status of a GET (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ssl.SSLError):
        return 0


# --------------------------------------------------------------------------------------------------
# The server as a subprocess


class ServerProcess:
    """`python -m audiohook_server ARGS` with `ENV`; `wait_ready()` polls `/healthz` until 200."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        port: int,
        log_path: Path,
        tls: Pki | None = None,
    ) -> None:
        self.port = port
        self.tls = tls
        self.log_path = log_path
        self._log = log_path.open("w")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOHOOK_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "audiohook_server", "--host", "127.0.0.1", "--port", str(port), *args],
            env={**base_env, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    @property
    def health_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}/healthz"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> ServerProcess:
        context = self.tls.client_context() if self.tls else None
        deadline = time.monotonic() + timeout
        while http_status(self.health_url, context) != 200:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.2)
        return self

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


# --------------------------------------------------------------------------------------------------
# nginx

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_variables(text: str) -> set[str]:
    """The `${NAME}` placeholders of a template (nginx's own variables are written `$name`)."""
    return set(_PLACEHOLDER.findall(text))


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Replace `${NAME}` for the names given, as `envsubst '${A} ${B}'` does; other text is untouched."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def nginx_binary() -> str | None:
    """Debian's nginx (`apt-get install nginx-light`), or None when it is not installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_main_config(directory: Path, site_config: Path) -> str:
    """A minimal nginx.conf around one site file: foreground, everything under `directory`."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would otherwise be `nobody`
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site_config};\n"
        "}\n"
    )


class NginxProcess:
    """nginx in the foreground on a rendered site config; `stop()` asks it to quit, then kills."""

    def __init__(self, binary: str, directory: Path, site_config_text: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.site_config = directory / "audiohook.conf"
        self.site_config.write_text(site_config_text)
        self.main_config = directory / "nginx.conf"
        self.main_config.write_text(nginx_main_config(directory, self.site_config))
        command = [binary, "-p", str(directory), "-c", str(self.main_config), "-e", str(directory / "error.log")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}\n{site_config_text}")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.directory / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_listening(self, port: int, timeout: float = 20.0) -> NginxProcess:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx not listening on {port}:\n{self.error_log()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish open connections, then exit
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
