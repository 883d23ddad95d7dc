"""Two server processes behind the real nginx of deploy/nginx/audiohook.conf.template: every request of an
HTTP live-capture session reaches the process that holds it.

The template is rendered as an operator would (both servers in both upstreams), nginx terminates TLS
with a test CA, and twelve sessions run at once through it: each one's chunks, control and event
stream must all land on one process, the one that created it, and both processes must hold some. The
servers are real processes over stand-in speech (tests/stand_in_server.py): routing is what is tested.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy.deploy_helpers import NGINX_TEMPLATE, NginxProcess, Pki, make_pki, nginx_binary, render_template
from tests.speech_fixtures import librivox_call
from tests.sse_events import sse_events
from tests.stand_in_server import StandInServerProcess

KEY = "routing-key"
SESSIONS = 12


def _wav() -> bytes:
    samples, _ = librivox_call(gap_s=1.0)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples[: 16000 * 12].astype("<i2").tobytes())
    return buffer.getvalue()


class Replica(StandInServerProcess):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "recordings", directory / "server.log", keys=KEY, flags=["--trust-route-header"])

    def sessions(self) -> set[str]:
        live = self.recordings / "live"
        return {p.name for p in live.iterdir()} if live.exists() else set()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Pki, list[Replica]]]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (scripts/setup.sh installs Debian's nginx-light)")
    base = tmp_path_factory.mktemp("routing")
    pki = make_pki(base / "pki")
    replicas = [Replica(base / f"replica{i}") for i in (1, 2)]
    port = free_port()
    first = f"127.0.0.1:{replicas[0].port}"
    site = render_template(
        NGINX_TEMPLATE.read_text(),
        {
            "NGINX_SERVER_NAME": "localhost",
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "NGINX_UPSTREAM": first,
            "NGINX_TLS_CERT": str(pki.server_cert),
            "NGINX_TLS_KEY": str(pki.server_key),
        },
    )
    # What the template's comments say to do for a second server: one more line in each upstream.
    site = site.replace(f"server {first};", f"server {first};\n    server 127.0.0.1:{replicas[1].port};")
    assert site.count(f"127.0.0.1:{replicas[1].port}") == 2
    nginx = NginxProcess(binary, base / "nginx", site)
    try:
        nginx.wait_listening(port)  # the first request must not race nginx's start
        yield port, pki, replicas
    finally:
        nginx.stop()
        for replica in replicas:
            replica.stop()


async def _session(client: httpx.AsyncClient, data: bytes) -> tuple[str, list[dict[str, Any]]]:
    headers = {"X-API-Key": KEY}
    started = await client.post("/analyze/live/start", headers=headers, json={"filename": "call.wav"})
    assert started.status_code == 200, started.text
    session = started.json()
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async with client.stream("GET", session["events_endpoint"], headers=headers, timeout=None) as response:
            assert response.status_code == 200
            async for event in sse_events(response):
                events.append(event)
                if event["event"] == "done":
                    return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    for seq, offset in enumerate(range(0, len(data), 65536)):
        files = {"chunk": (f"chunk-{seq}.bin", data[offset : offset + 65536], "application/octet-stream")}
        ack = await client.post(session["chunk_endpoint"], headers=headers, data={"chunk_seq": str(seq)}, files=files)
        assert ack.status_code == 200, ack.text
    control = await client.post(session["control_endpoint"], headers=headers, json={"action": "finalize"})
    assert control.status_code == 200, control.text
    await asyncio.wait_for(reader, 60)
    return str(session["session_id"]), events


def test_every_request_of_a_session_reaches_the_process_that_holds_it(front: tuple[int, Pki, list[Replica]]) -> None:
    port, pki, replicas = front
    data = _wav()

    async def scenario() -> list[tuple[str, list[dict[str, Any]]]]:
        async with httpx.AsyncClient(
            base_url=f"https://localhost:{port}", verify=pki.client_context(), timeout=60
        ) as c:
            return list(await asyncio.gather(*(_session(c, data) for _ in range(SESSIONS))))

    results = asyncio.run(asyncio.wait_for(scenario(), 180))
    held = [replica.sessions() for replica in replicas]
    for session_id, events in results:
        owners = [i for i, sessions in enumerate(held) if session_id in sessions]
        assert len(owners) == 1, f"{session_id} is held by {owners}"
        upload = replicas[owners[0]].recordings / "live" / session_id / "upload.wav"
        assert upload.stat().st_size == len(data)  # every chunk reached it
        assert events[-1]["event"] == "done" and any(e["event"] == "final_transcript" for e in events)
    assert all(held), f"both processes hold sessions: {[len(h) for h in held]}"
