"""What every benchmark prints and needs: the machine it ran on, a free loopback port, a real server."""

from __future__ import annotations

import asyncio
import base64
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiohook_server.client.genesys import GenesysClient, media_offer


def machine() -> str:
    """CPU model, core count, Python and OS: benchmark numbers mean nothing without them."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServedProcess:
    """An `audiohook-server` subprocess that answers /healthz."""

    process: subprocess.Popen[bytes]
    port: int
    ready_s: float


@contextmanager
def serve(
    recordings: Path, api_key: str, secret: bytes | None, extra_args: Sequence[str] = (), timeout_s: float = 120.0
) -> Iterator[ServedProcess]:
    """Start `python -m audiohook_server` on a free loopback port (one key: a Genesys key with its client
    secret, or a plain key when `secret` is None), wait until /healthz answers 200, and terminate it
    (drain) on exit."""
    port = free_port()
    keys = api_key if secret is None else f"{api_key}:" + base64.b64encode(secret).decode()
    env = dict(os.environ, AUDIOHOOK_API_KEYS=keys)
    command = [sys.executable, "-m", "audiohook_server", "--port", str(port), "--recordings-dir", str(recordings)]
    began = time.monotonic()
    server = subprocess.Popen([*command, *extra_args], env=env, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() - began > timeout_s:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        yield ServedProcess(server, port, time.monotonic() - began)
    finally:
        server.terminate()
        server.wait(60)


async def stream_genesys_stereo(
    url: str, key: str, secret: bytes, audio: Any, recordings: Path, speed: float, wait_s: float = 30.0
) -> str:
    """Stream a stereo call (customer = channel 0) as a signed Genesys mu-law session with pings, close it,
    and wait up to ``wait_s`` for its ``<session>.summary.json`` in ``recordings``; the session id."""
    client = GenesysClient(url, key, secret)
    await client.connect()
    await client.open(media=[media_offer(["external", "internal"])])
    client.start_pinging()
    await client.stream(audio, fmt="PCMU", frame_ms=200, speed=speed)
    await client.close(timeout=300)
    await client.aclose()
    session = str(client.session_id)
    summary = recordings / f"{session}.summary.json"
    deadline = time.monotonic() + wait_s
    while not summary.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return session
