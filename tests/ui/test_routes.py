"""The `/ui/` routes on the real server (the real ASGI app on a loopback port; the stand-in speech of
tests/stand_in_speech.py, since what is checked here is access and plumbing, not transcripts): every
route refuses a request without a login (401) and a forged or revoked cookie; login, CSRF-checked
logout; a streaming call appears on the floor's event stream and its own; the finished call's data,
recording (with Range) and report come from its files."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from fastapi.routing import APIRoute

from audiohook_server.auth.api_keys import key_id
from audiohook_server.client import stream_audio
from audiohook_server.settings import ApiKey
from tests.conftest import API_KEY, RunningServer, make_settings
from tests.stand_in_speech import StandInSpeech

UI_ONLY = "ui-only-key"
NOT_UI = "stream-only-key"
PUBLIC = {("GET", "/ui"), ("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/static/{name:path}")}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("ui"),
        api_keys=(ApiKey(API_KEY), ApiKey(UI_ONLY), ApiKey(NOT_UI)),
        ui_keys=f"{key_id(API_KEY)},{key_id(UI_ONLY)}",
        ui_only_keys=key_id(UI_ONLY),
    )
    server = RunningServer(settings, speech=StandInSpeech()).start()
    yield server
    server.stop()


def base(server: RunningServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def log_in(server: RunningServer, key: str = API_KEY) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{base(server)}/ui/login", data={"credential": key}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    return session


def _routes(routes: list[object]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _routes(included.routes)


def ui_routes(server: RunningServer) -> list[tuple[str, str]]:
    """Every method and path the application serves under /ui (read from the app: a new route is checked)."""
    routes = [r for r in _routes(list(server.server.app.routes)) if r.path.startswith("/ui")]
    return sorted((method, route.path) for route in routes for method in route.methods or ())


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-call", path)


def test_every_route_refuses_a_request_without_a_login(running: RunningServer) -> None:
    routes = ui_routes(running)
    assert len(routes) >= 10
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        for cookies in ({}, {"audiohook_ui": "forged.value.here"}):
            answer = requests.request(method, base(running) + concrete(path), cookies=cookies, allow_redirects=False)
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert "some-call" not in answer.text or path == "/ui/calls/{call}"
            assert answer.headers["cache-control"] == "no-store"


def test_a_page_request_without_a_login_gets_the_login_form(running: RunningServer) -> None:
    answer = requests.get(base(running) + "/ui/", headers={"Accept": "text/html"})
    assert answer.status_code == 401 and 'name="credential"' in answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_logins_that_are_refused(running: RunningServer) -> None:
    for key, why in (("wrong", "invalid"), (NOT_UI, "may not log into")):
        answer = requests.post(f"{base(running)}/ui/login", data={"credential": key}, allow_redirects=False)
        assert answer.status_code == 401 and why in answer.text
    cross_site = requests.post(
        f"{base(running)}/ui/login", data={"credential": API_KEY}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    too_big = requests.post(f"{base(running)}/ui/login", data={"credential": "x" * 20000})
    assert too_big.status_code == 413


def test_a_ui_only_key_logs_in_but_cannot_stream(running: RunningServer) -> None:
    assert log_in(running, UI_ONLY).get(base(running) + "/ui/").status_code == 200
    samples = np.zeros((16000, 1), dtype=np.int16)
    with pytest.raises(Exception, match=r"401|supervisor"):
        asyncio.run(stream_audio(running.url, samples, api_key=UI_ONLY))


def test_logout_needs_the_csrf_token_and_then_the_cookie_is_dead(running: RunningServer) -> None:
    session = log_in(running)
    page = session.get(base(running) + "/ui/")
    assert page.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    cookie = session.cookies.get("audiohook_ui", path="/ui")
    assert session.post(base(running) + "/ui/logout", data={"csrf": "wrong"}).status_code == 403
    out = session.post(base(running) + "/ui/logout", data={"csrf": token.group(1)}, allow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    # The old cookie, replayed, is refused: logout revoked the session, not only the browser's copy.
    replayed = requests.get(base(running) + "/ui/", cookies={"audiohook_ui": str(cookie)})
    assert replayed.status_code == 401


def _events(answer: requests.Response) -> Iterator[tuple[str, dict[str, object]]]:
    name = ""
    for raw in answer.iter_lines():
        line = raw.decode("utf-8")
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield name, json.loads(line.split(":", 1)[1])


def test_a_call_on_the_floor_live_and_from_its_files(running: RunningServer) -> None:
    session = log_in(running)
    floor = session.get(base(running) + "/ui/events", stream=True, timeout=30)
    assert floor.headers["content-type"].startswith("text/event-stream")
    events = _events(floor)
    assert next(events)[0] == "snapshot"
    samples = (np.sin(np.arange(16000 * 4) / 8) * 8000).astype(np.int16).reshape(-1, 1)
    samples[16000 * 2 : 16000 * 3] = 0  # a pause: two utterances
    done = threading.Event()

    def stream() -> None:
        asyncio.run(stream_audio(running.url, samples, api_key=API_KEY, session_id="ui-call", speed=4.0))
        done.set()

    threading.Thread(target=stream, daemon=True).start()
    seen: dict[str, list[dict[str, object]]] = {}
    for name, data in events:
        if data.get("session_id") == "ui-call":
            seen.setdefault(name, []).append(data)
        if "ended" in seen:
            break
    floor.close()
    assert seen["call"][0]["door"] == "simple" and seen["call"][0]["live"] is True
    assert any(item["utterances"] for item in seen["call"])
    assert seen["ended"][0]["live"] is False and seen["ended"][0]["end_reason"] == "completed"
    assert done.wait(30)

    data = session.get(base(running) + "/ui/calls/ui-call/data").json()
    assert data["live"] is False and data["utterances"] and data["has_recording"]
    assert data["utterances"][0]["valence"] is not None
    recording = session.get(base(running) + "/ui/calls/ui-call/recording", headers={"Range": "bytes=0-43"})
    assert recording.status_code == 206 and recording.content[:4] == b"RIFF"
    report = session.get(base(running) + "/ui/calls/ui-call/report")
    assert report.status_code == 200 and 'id="call-data"' in report.text
    assert "sandbox" in report.headers["content-security-policy"]
    finished = session.get(base(running) + "/ui/calls/ui-call/events", stream=True, timeout=30)
    assert [name for name, _ in _events(finished)] == ["snapshot"]
    assert session.get(base(running) + "/ui/calls/no-such-call/data").status_code == 404
    assert session.get(base(running) + "/ui/calls/..%2F..%2Fetc%2Fpasswd/data").status_code == 404


def test_without_ui_there_are_no_routes(tmp_path: Path) -> None:
    settings = dataclasses.replace(make_settings(tmp_path), ui=False)
    server = RunningServer(settings, speech=StandInSpeech()).start()
    try:
        assert requests.get(f"http://127.0.0.1:{server.port}/ui/login").status_code == 404
        assert not ui_routes(server)
    finally:
        server.stop()


def test_behind_a_tls_proxy_the_cookie_is_secure(running: RunningServer) -> None:
    answer = requests.post(
        f"{base(running)}/ui/login",
        data={"credential": API_KEY},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]
