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
    assert "not a WAV file" in capsys.readouterr().err
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
    assert (args.api_key, args.speed, args.frame_ms, args.close_timeout) == ("from-env", math.inf, 500, 120.0)
    assert (args.session_id, args.language, args.json, args.quiet) == (None, "en", False, False)
