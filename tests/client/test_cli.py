"""`audiohook_server.client.cli`: `main` against `FakeServer`, its output and its exit codes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from audiohook_server.audio.wav_files import write_wav
from audiohook_server.client import build_parser, main
from audiohook_server.client.cli import UsageError, credentials
from tests.client.fake_server import API_KEY, audio


@pytest.fixture
def wav_file(tmp_path: Path) -> Path:
    path = tmp_path / "call.wav"
    write_wav(path, audio(2.0), 16000)
    return path


def test_main_prints_finals_analysis_and_summary(
    make_server: Any, wav_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server()
    monkeypatch.setenv("AUDIOHOOK_API_KEY", API_KEY)
    code = main([server.url, str(wav_file), "--speed", "inf", "--session-id", "cli-1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"\[  0\.00 -   1\.00\] ch0 unknown: word1 word2  \(conf 0\.90\)", lines[0])
    assert any(line.startswith("analysis: sentiment=neutral emotion=calm agent_score=4 | ") for line in lines)
    assert any(re.match(r"3 finals, 2\.0 s of audio in \d+\.\d s", line) for line in lines)
    assert "final analysis:" in lines
    assert "  agent_score: 4" in lines
    assert "session cli-1 opened" in err
    assert server.log.texts[0]["id"] == "cli-1"


def test_main_json_lines(make_server: Any, wav_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = make_server()
    code = main([server.url, str(wav_file), "--api-key", API_KEY, "--speed", "0", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    messages = [json.loads(line) for line in out.splitlines()]
    types = [m["type"] for m in messages]
    assert types[0] == "opened" and types[-1] == "closed" and "event" in types
    assert "finals" in err  # the summary goes to stderr, keeping stdout pure JSON lines


def test_main_exit_1_on_server_error(make_server: Any, wav_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = make_server(fail_after=1)
    code = main([server.url, str(wav_file), "--api-key", API_KEY, "--speed", "0", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "server error 413: too much audio for this test" in err


def test_main_exit_2_on_401(make_server: Any, wav_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = make_server()
    code = main([server.url, str(wav_file), "--api-key", "wrong", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "server refused the connection: HTTP 401" in err


def test_main_exit_2_on_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_wav = tmp_path / "notes.wav"
    not_wav.write_text("not audio")
    assert main(["ws://127.0.0.1:1/x", str(not_wav)]) == 2
    assert "it is not audio we can decode (Invalid data found when processing input)" in capsys.readouterr().err
    assert main(["ws://127.0.0.1:1/x", str(tmp_path / "missing.wav")]) == 2
    with pytest.raises(SystemExit) as info:
        main(["ws://127.0.0.1:1/x", str(not_wav), "--speed", "-2"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["ws://127.0.0.1:1/x"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--speed", "fast"], "not a number: 'fast'"),
        (["--speed", "nan"], "must be 0, a positive number or inf"),
        (["--close-timeout", "0"], "must be positive, got '0'"),
        (["--close-timeout", "soon"], "not a number: 'soon'"),
        (["--frame-ms", "1.5"], "not an integer: '1.5'"),
        (["--frame-ms", "60001"], "must be between 1 and 60000 ms"),
    ],
)
def test_bad_flags_are_usage_errors(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["ws://127.0.0.1:1/x", "call.wav", *flags])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_flag_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOHOOK_API_KEY", "from-env")
    args = build_parser().parse_args(["ws://127.0.0.1:1/x", "call.wav", "--speed", "inf"])
    assert (args.speed, args.frame_ms, args.close_timeout) == (math.inf, None, 120.0)  # frame: 500, or 200 for Genesys
    assert (args.session_id, args.language, args.json, args.quiet) == (None, None, False, False)
    assert credentials(args) == ("from-env", None, None)


def test_credentials_from_the_servers_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    secret = base64.b64encode(b"secret bytes").decode()
    monkeypatch.delenv("AUDIOHOOK_API_KEY", raising=False)
    monkeypatch.delenv("AUDIOHOOK_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("AUDIOHOOK_API_KEYS", f"signed:{secret}, plain")
    simple = build_parser().parse_args(["ws://h/x", "call.wav"])
    assert credentials(simple) == ("plain", None, None)  # the simple dialect refuses a key with a secret unsigned
    genesys = build_parser().parse_args(["ws://h/x", "call.wav", "--genesys"])
    assert credentials(genesys) == ("signed", secret, None)
    named = build_parser().parse_args(["ws://h/x", "call.wav", "--genesys", "--api-key", "signed"])
    assert credentials(named) == ("signed", secret, None)  # the secret of the key named
    monkeypatch.setenv("AUDIOHOOK_API_KEYS", "bad:***")
    with pytest.raises(UsageError, match=r"\$AUDIOHOOK_API_KEYS: the secret of API key bad"):
        credentials(simple)


def test_door_flags_are_checked(tmp_path: Path, wav_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ws://h/x", str(wav_file), "--pause-at", "3"])
    assert "--pause-at, --channels and --authority are for --genesys" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ws://h/x", str(wav_file), "--genesys", "--live-http"])
    assert "not allowed with argument" in capsys.readouterr().err
    for bad in ("x", "3+0", "-1", "3+abc"):
        with pytest.raises(SystemExit):
            main(["ws://h/x", str(wav_file), "--genesys", "--pause-at", bad])
        assert "--pause-at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ws://h/x", str(wav_file), "--genesys", "--channels", "left,right"])
    assert "expected external,internal or internal,external" in capsys.readouterr().err
    assert main(["ftp://h/x", str(wav_file), "--live-http", "--api-key", "k"]) == 2
    assert "--live-http needs an http(s):// (or ws://) URL" in capsys.readouterr().err
    assert main(["ws://h/x", str(wav_file), "--genesys", "--api-key", "k", "--client-secret", "***"]) == 2
    assert "(it is not valid base64)" in capsys.readouterr().err
