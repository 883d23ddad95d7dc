"""Container health check for audiohook-server: exit 0 when GET /healthz answers 200, else 1.

The server's port and TLS come from flags, the environment or a config file; a health check sees only
the last two, so it reads them the way the server does: `AUDIOHOOK_<OPTION>` first, then the TOML file
named by `AUDIOHOOK_CONFIG`, then the defaults. With TLS on, it asks over https without verifying the
certificate (it is issued for the public name, and this is loopback). A server started with `--port`
as a flag needs the same port in `AUDIOHOOK_PORT` for this check (or a HEALTHCHECK of its own).

Standard library only: it runs with the image's Python (`python /opt/audiohook/healthcheck.py`).
"""

from __future__ import annotations

import os
import ssl
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

DEFAULT_PORT = 8080


def _setting(name: str, environ: Mapping[str, str], config: Mapping[str, Any]) -> Any:
    value = environ.get("AUDIOHOOK_" + name.upper())
    if value is None:
        value = config.get(name, config.get(name.replace("_", "-")))
    return value


def health_url(environ: Mapping[str, str]) -> str:
    """Where the server's /healthz is, from its environment and config file."""
    config: dict[str, Any] = {}
    path = environ.get("AUDIOHOOK_CONFIG")
    if path:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    port = int(_setting("port", environ, config) or DEFAULT_PORT)
    host = str(_setting("host", environ, config) or "127.0.0.1")
    if host in {"0.0.0.0", "::", ""}:  # listening everywhere: loopback is one of them
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    tls = bool(_setting("tls_cert", environ, config))
    return f"{'https' if tls else 'http'}://{host}:{port}/healthz"


def check(url: str, timeout: float = 4.0) -> tuple[bool, str]:
    """(healthy, what was seen)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"{url}: {error.code} {error.reason}"
    except OSError as error:
        return False, f"{url}: {error}"


def main() -> int:
    try:
        url = health_url(os.environ)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as error:
        print(f"healthcheck: cannot tell where the server listens: {error}", file=sys.stderr)
        return 1
    healthy, seen = check(url)
    print(seen, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
