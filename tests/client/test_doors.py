"""`audiohook-client` on every door of the real server (its doors, sessions, call core and exports, over the
stand-in speech of tests/stand_in_speech.py): Genesys with a signed request and stereo kept, the JWT door,
the HTTP live-capture API, and `wss://` behind a test CA. Each test runs the command's `main` as a user
would and reads what it printed and what the server wrote."""

from __future__ import annotations

import base64
import dataclasses
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pandas as pd
import pytest

from audiohook_server.calls.core import PAUSE_TEXT
from audiohook_server.client import main
from audiohook_server.settings import ApiKey
from tests.conftest import RunningServer, make_settings
from tests.deploy.deploy_helpers import make_pki
from tests.stand_in_speech import StandInSpeech

ROOT = Path(__file__).resolve().parents[2]
STEREO_ULAW = ROOT / "tests" / "fixtures" / "dialogue" / "call_stereo8k_ulaw.wav"  # customer left, agent right
MONO = ROOT / "tests" / "fixtures" / "dialogue" / "call_mono16k.wav"
KEY = "genesys-key"
SECRET = base64.b64encode(b"a client secret of 32 bytes......").decode()
PLAIN_KEY = "plain-key"
JWT_SECRET = "a-jwt-secret-that-is-at-least-32-bytes-long"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path,
        api_keys=(ApiKey(KEY, base64.b64decode(SECRET)), ApiKey(PLAIN_KEY)),
        jwt_secret=JWT_SECRET,
    )
    running = RunningServer(settings, speech=StandInSpeech()).start()
    yield running
    running.stop()


def _finals(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.match(r"\[ *[\d.]+ - +[\d.]+\] ch\d ", line)]


def test_genesys_call_keeps_the_channels_and_signs(
    server: RunningServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDIOHOOK_API_KEY", raising=False)
    session = str(uuid.uuid4())
    argv = [server.url, str(STEREO_ULAW), "--genesys", "--api-key", KEY, "--client-secret", SECRET]
    code = main([*argv, "--speed", "0", "--session-id", session])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    finals = _finals(out)
    assert any(" ch0 customer: " in line for line in finals) and any(" ch1 agent: " in line for line in finals)
    assert "pongs: median" in out or "closed normally" in out
    assert "protocol problem" not in out
    frame = pd.read_csv(server.recordings / f"{session}.csv", keep_default_na=False)
    assert set(frame["speaker"]) == {"customer", "agent"}
    speaker_at = {round(start, 1): speaker for start, speaker in zip(frame["start"], frame["speaker"], strict=True)}

    # The other channel order: the file's left channel is now the agent.
    swapped = str(uuid.uuid4())
    code = main([*argv, "--speed", "0", "--session-id", swapped, "--channels", "internal,external", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    frame = pd.read_csv(server.recordings / f"{swapped}.csv", keep_default_na=False)
    flip = {"customer": "agent", "agent": "customer"}
    swapped_at = {round(start, 1): speaker for start, speaker in zip(frame["start"], frame["speaker"], strict=True)}
    same = speaker_at.keys() & swapped_at.keys()  # the utterances that start at the same time in both calls
    assert len(same) >= len(speaker_at) // 2
    assert all(swapped_at[start] == flip[speaker_at[start]] for start in same)


def test_genesys_secure_pause_keeps_the_timeline(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    session = str(uuid.uuid4())
    argv = [server.url, str(STEREO_ULAW), "--genesys", "--api-key", KEY, "--client-secret", SECRET, "--quiet"]
    code = main([*argv, "--speed", "0", "--session-id", session, "--pause-at", "0+4"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    frame = pd.read_csv(server.recordings / f"{session}.csv", keep_default_na=False)
    paused = frame[frame["text"] == PAUSE_TEXT]
    said = frame[frame["text"] != PAUSE_TEXT]
    # The pause is a row of its own, so a QA reader sees the gap; the first 4 s were never sent, and offsets count them.
    assert list(zip(paused["start"], paused["end"], strict=True)) == [(0.0, 4.0)]
    assert len(said) and said["start"].min() >= 4.0


def test_genesys_refusals_say_what_to_check(
    server: RunningServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wrong = base64.b64encode(b"not the secret").decode()
    code = main([server.url, str(STEREO_ULAW), "--genesys", "--api-key", KEY, "--client-secret", wrong, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "HTTP 401" in err and "--client-secret" in err and "--authority" in err
    assert main([server.url, str(STEREO_ULAW), "--genesys", "--api-key", KEY, "--session-id", "call-7"]) == 2
    assert "--session-id 'call-7' is not a UUID" in capsys.readouterr().err
    assert main([server.url, str(MONO), "--genesys", "--api-key", KEY, "--channels", "external,internal"]) == 2
    assert "needs 2 channels; the file has 1" in capsys.readouterr().err


def test_server_keys_variable_gives_the_key_and_its_secret(
    server: RunningServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDIOHOOK_API_KEY", raising=False)
    monkeypatch.setenv("AUDIOHOOK_API_KEYS", f"{KEY}:{SECRET},{PLAIN_KEY}")  # what the server was started with
    code = main([server.url, str(STEREO_ULAW), "--genesys", "--speed", "0", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err


def test_jwt_door(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    token = jwt.encode({"sub": "agent-7", "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    url = f"ws://127.0.0.1:{server.port}/ws/transcribe"
    code = main([url, str(MONO), "--jwt", token, "--speed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert _finals(out) and "closed normally (1000" in out
    assert re.search(r"session \S+ opened", err)
    assert main([url, str(MONO), "--speed", "0"]) == 2
    assert "is the JWT door: give --jwt TOKEN" in capsys.readouterr().err
    expired = jwt.encode({"sub": "agent-7", "exp": int(time.time()) - 600}, JWT_SECRET, algorithm="HS256")
    assert main([url, str(MONO), "--jwt", expired, "--speed", "0"]) == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_live_http(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    base = f"http://127.0.0.1:{server.port}"
    code = main([base, str(STEREO_ULAW), "--live-http", "--api-key", PLAIN_KEY, "--speed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert _finals(out)
    assert "done (completed)" in out
    csv_url = re.search(r"csv: (http://\S+)", out)
    assert csv_url is not None and "/artifacts/csv" in csv_url.group(1)
    assert main([base, str(STEREO_ULAW), "--live-http", "--api-key", "wrong", "--speed", "0"]) == 2
    assert "the session refused: HTTP 401" in capsys.readouterr().err


def test_json_lines_on_every_door(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    base = f"http://127.0.0.1:{server.port}"
    assert main([base, str(MONO), "--live-http", "--api-key", PLAIN_KEY, "--speed", "0", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["event"] == "done" and any(e["event"] == "final_transcript" for e in events)
    argv = [server.url, str(STEREO_ULAW), "--genesys", "--api-key", KEY, "--client-secret", SECRET]
    assert main([*argv, "--speed", "0", "--json"]) == 0
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert messages[0]["type"] == "opened" and messages[-1]["type"] == "closed"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    pki = make_pki(tmp_path / "pki")
    settings = dataclasses.replace(
        make_settings(tmp_path, api_keys=(ApiKey(PLAIN_KEY),)), tls_cert=pki.server_cert, tls_key=pki.server_key
    )
    running = RunningServer(settings, speech=StandInSpeech()).start()
    yield running, pki.ca_cert
    running.stop()


def test_tls_test_certificate(tls_server: tuple[RunningServer, Path], capsys: pytest.CaptureFixture[str]) -> None:
    server, ca = tls_server
    url = f"wss://localhost:{server.port}/audiohook"
    argv = [url, str(MONO), "--api-key", PLAIN_KEY, "--speed", "0", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "TLS handshake with wss://localhost" in err and "certificate was refused" in err and "--cafile" in err
    assert main([*argv, "--cafile", str(ca)]) == 0
    assert main([*argv, "--insecure"]) == 0
    assert main([f"https://localhost:{server.port}", str(MONO), "--live-http", *argv[2:], "--cafile", str(ca)]) == 0
    capsys.readouterr()
    assert main([f"wss://127.0.0.1:{server.port}/nope", str(MONO), "--cafile", str(MONO)]) == 2
    assert f"--cafile {MONO}: not a PEM file of CA certificates" in capsys.readouterr().err
    plain = f"ws://localhost:{server.port}/audiohook"  # a ws:// client on the TLS port: no readable answer
    assert main([plain, str(MONO), "--api-key", PLAIN_KEY, "--speed", "0", "--quiet"]) == 2
