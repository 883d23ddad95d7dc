"""The server contract other tools rely on: the console scripts as subprocesses, health, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from audiohook_server.client import stream_audio
from tests.conftest import RunningServer, free_port, health_status, make_settings
from tests.speech_fixtures import DIALOGUE, librivox_call

KEY = "cli-key"


def _server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "audiohook_server", *args]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_help_documents_the_contract() -> None:
    result = _run(_server_command("--help"))
    assert result.returncode == 0
    for text in ("--host", "--port", "--recordings-dir", "--api-keys", "AUDIOHOOK_PORT", "--vosk-model"):
        assert text in result.stdout


def test_configuration_errors_exit_2_with_a_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOHOOK_")}
    result = _run(_server_command("--port", "0"), env)
    assert result.returncode == 2 and "AUDIOHOOK_API_KEYS" in result.stderr
    result = _run(_server_command("--whisper-model", str(tmp_path)), {**env, "AUDIOHOOK_API_KEYS": KEY})
    assert result.returncode == 2 and "has no model.bin" in result.stderr
    assert "Traceback" not in result.stderr


def _clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUDIOHOOK_")}, **extra}


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed start printed: exit status 2, one line on stderr, no traceback, nothing else."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("audiohook-server: error: "), result.stderr
    assert "configuration OK" not in result.stdout
    return lines[0].removeprefix("audiohook-server: error: ")


@pytest.mark.parametrize("check", [False, True], ids=["start", "check-config"])
def test_a_port_in_use_is_one_line(tmp_path: Path, check: bool) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        args = ["--port", str(port), "--recordings-dir", str(tmp_path / "r"), *(["--check-config"] if check else [])]
        error = _one_line_error(_run(_server_command(*args), _clean_env(AUDIOHOOK_API_KEYS=KEY)))
    assert error == (
        f"--port {port} (AUDIOHOOK_PORT / port in the TOML file) is in use by another process; "
        "stop it or choose another port"
    )
    assert not (tmp_path / "r").exists()  # the port is checked before anything is written


@pytest.mark.parametrize("check", [False, True], ids=["start", "check-config"])
@pytest.mark.parametrize("where", ["a file", "under a file", "under /proc", "/proc itself"])
def test_a_recordings_dir_that_cannot_be_used_is_one_line(tmp_path: Path, where: str, check: bool) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    if "proc" in where and not Path("/proc/self").is_dir():
        pytest.skip("needs procfs")
    recordings = {
        "a file": afile,
        "under a file": afile / "recordings",
        "under /proc": Path("/proc/audiohook-recordings"),
        "/proc itself": Path("/proc"),
    }[where]
    args = ["--port", "0", "--recordings-dir", str(recordings), *(["--check-config"] if check else [])]
    error = _one_line_error(_run(_server_command(*args), _clean_env(AUDIOHOOK_API_KEYS=KEY)))
    assert error.startswith(f"--recordings-dir {recordings} (AUDIOHOOK_RECORDINGS_DIR / recordings_dir in the TOML")
    expected = {
        "a file": "is a file, not a directory",
        "under a file": f"cannot be created: {afile} is a file",
        "under /proc": "cannot be created in /proc",
        "/proc itself": "is not writable",
    }[where]
    assert expected in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('max_sessions = "ten"\n', 'audiohook.toml: max_sessions: must be a positive integer, got "ten"'),
        ("prot = 8080\n", 'audiohook.toml: unknown setting "prot"; did you mean port?'),
        ("port = 8080\nhost = \n", "audiohook.toml, line 2: not valid TOML: Invalid value (column 8); fix that line"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "audiohook.toml"
    config.write_text(text)
    for extra in ([], ["--check-config"]):
        error = _one_line_error(
            _run(_server_command("--config", str(config), *extra), _clean_env(AUDIOHOOK_API_KEYS=KEY))
        )
        assert error == message.replace("audiohook.toml", str(config))


def test_check_config_creates_and_writes_the_directories_and_names_a_bad_cache(tmp_path: Path) -> None:
    recordings, cache = tmp_path / "new" / "recordings", tmp_path / "cache"
    # nothing to train or assemble into the new cache
    rules = ["--sentiment-backend", "vader", "--emotion-backend", "lexicon", "--multilingual-model", "none"]
    args = ["--check-config", "--port", "0", "--recordings-dir", str(recordings), "--model-cache-dir", str(cache)]
    result = _run(_server_command(*args, *rules), _clean_env(AUDIOHOOK_API_KEYS=KEY))
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert f"  model caches:  {cache}, {cache / 'analysis'}" in result.stdout
    assert recordings.is_dir() and (cache / "analysis").is_dir()
    assert list(recordings.iterdir()) == [] and list(cache.iterdir()) == [cache / "analysis"]  # probes deleted

    afile = tmp_path / "afile"
    afile.write_text("x")
    args = ["--check-config", "--port", "0", "--recordings-dir", str(recordings), "--model-cache-dir", str(afile)]
    error = _one_line_error(_run(_server_command(*args, *rules), _clean_env(AUDIOHOOK_API_KEYS=KEY)))
    assert error == (
        f"the model cache {afile} (--model-cache-dir {afile} (AUDIOHOOK_MODEL_CACHE_DIR / model_cache_dir in the TOML "
        "file)) is a file, not a directory; point it at a directory (it is created when missing)"
    )
    # The default cache (no --model-cache-dir) under an XDG_CACHE_HOME that is a file: named as the default.
    args = ["--check-config", "--port", "0", "--recordings-dir", str(recordings)]
    error = _one_line_error(
        _run(_server_command(*args, *rules), _clean_env(AUDIOHOOK_API_KEYS=KEY, XDG_CACHE_HOME=str(afile)))
    )
    assert error.startswith(
        f"the model cache {afile / 'audiohook-server' / 'models'} (the default under $XDG_CACHE_HOME"
    )
    assert "--model-cache-dir (AUDIOHOOK_MODEL_CACHE_DIR / model_cache_dir in the TOML file) chooses another" in error


def test_start_up_and_shut_down_logs_repeat_no_prefix(tmp_path: Path) -> None:
    port = free_port()
    command = _server_command("--port", str(port), "--recordings-dir", str(tmp_path / "r"))
    server = subprocess.Popen(
        command, env=_clean_env(AUDIOHOOK_API_KEYS=KEY), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while health_status(port) != 200:
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    records = [
        re.match(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<message>.*)$", line)
        for line in output.splitlines()
    ]
    assert all(records), output  # every line is one record of the text format
    messages = [(r["logger"], r["message"]) for r in records if r is not None]
    assert any("analysis" in m and "sentiment" in m for _, m in messages) and any("listening" in m for _, m in messages)
    for logger, message in messages:
        assert not re.search(r"\b([\w.-]+): \1:", message), (logger, message)  # "analysis: analysis: …"
        assert not message.startswith((f"{logger}:", f"{logger.rsplit('.', 1)[-1]}:")), (logger, message)


def test_healthz_is_503_until_the_models_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiohook_server.speech.engine import SpeechEngine

    gate = threading.Event()
    real_load = SpeechEngine._load_blocking

    def gated_load(self: SpeechEngine) -> None:
        gate.wait(60)  # hold the real loading back until the test has looked at /healthz
        real_load(self)

    monkeypatch.setattr(SpeechEngine, "_load_blocking", gated_load)
    running = RunningServer(make_settings(tmp_path))
    thread = threading.Thread(target=running.start)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _health_or_none(running) is None:
            time.sleep(0.05)
        assert health_status(running.port) == 503
        gate.set()
        thread.join(60)
        assert health_status(running.port) == 200
    finally:
        gate.set()
        thread.join(60)
        running.stop()


def _health_or_none(running: RunningServer) -> int | None:
    try:
        return health_status(running.port) or None
    except (AssertionError, AttributeError, StopIteration, TypeError):
        return None  # not listening yet


def test_client_script_and_sigterm_mid_call(tmp_path: Path) -> None:
    port = free_port()
    recordings = tmp_path / "recordings"
    env = {**os.environ, "AUDIOHOOK_API_KEYS": KEY}
    server = subprocess.Popen(
        _server_command("--port", str(port), "--recordings-dir", str(recordings)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while health_status(port) != 200:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "server not ready in 60 s"
            time.sleep(0.1)

        url = f"ws://127.0.0.1:{port}/audiohook"
        client = _run(
            [sys.executable, "-m", "audiohook_server.client", url, str(DIALOGUE / "call_mono16k.wav"),
             "--api-key", KEY, "--speed", "0", "--quiet", "--session-id", "cli-call"],
        )  # fmt: skip
        assert client.returncode == 0, client.stderr
        assert "upgrade" in client.stdout.lower()
        frame = pd.read_csv(recordings / "cli-call.csv", keep_default_na=False)
        assert len(frame) >= 8

        # A live call, then SIGTERM after its second final: the CSV must hold every final sent.
        samples, _ = librivox_call()
        finals_seen: list[str] = []

        async def call() -> None:
            def on_message(received: object) -> None:
                entity = getattr(received, "message", {}).get("parameters", {}).get("entity", {})
                if entity.get("is_final"):
                    finals_seen.append(entity["value"])
                    if len(finals_seen) == 2:
                        server.send_signal(signal.SIGTERM)

            await stream_audio(url, samples, api_key=KEY, speed=3.0, session_id="sigterm-call", on_message=on_message)

        asyncio.run(call())
        began = time.monotonic()
        server.wait(30)
        assert time.monotonic() - began < 30
        assert server.returncode == 0
        frame = pd.read_csv(recordings / "sigterm-call.csv", keep_default_na=False)
        assert len(finals_seen) >= 2
        assert finals_seen == list(frame["text"])[: len(finals_seen)]
        assert (recordings / "sigterm-call.wav").stat().st_size > 44
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def test_a_model_that_fails_to_load_stops_the_server(tmp_path: Path) -> None:
    model = tmp_path / "broken-model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"not a CTranslate2 model")
    env = {**os.environ, "AUDIOHOOK_API_KEYS": KEY}
    result = subprocess.run(
        _server_command("--port", "0", "--whisper-model", str(model), "--recordings-dir", str(tmp_path / "r")),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "speech models failed to load" in result.stderr


def test_check_config_prints_the_effective_settings_without_secrets(tmp_path: Path) -> None:
    config = tmp_path / "audiohook.toml"
    config.write_text('api_keys = "plainkey,signedkey:c2VjcmV0LXNlY3JldA=="\nport = 9443\n')
    result = _run(_server_command("--config", str(config), "--check-config"), {**os.environ, "AUDIOHOOK_PORT": "9444"})
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout and ":9444/audiohook" in result.stdout
    assert "2 (1 with a Genesys client secret)" in result.stdout
    assert "plainkey" not in result.stdout and "c2VjcmV0" not in result.stdout
    assert "trained:       turn classifier " in result.stdout  # prepared by the set-up script, found here


def test_check_config_names_a_missing_analysis_model(tmp_path: Path) -> None:
    command = _server_command("--check-config", "--embedding-model", str(tmp_path / "no-encoder"))
    result = _run(command, {**os.environ, "AUDIOHOOK_API_KEYS": KEY})
    assert result.returncode == 2
    assert f"analysis models: embedding model directory {tmp_path / 'no-encoder'} does not exist" in result.stderr


def test_json_logs_carry_the_session(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "AUDIOHOOK_API_KEYS": KEY}
    command = _server_command("--port", str(port), "--recordings-dir", str(tmp_path), "--log-format", "json")
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while health_status(port) != 200:
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        samples, _ = librivox_call()
        url = f"ws://127.0.0.1:{port}/audiohook"
        asyncio.run(stream_audio(url, samples[: 16000 * 4], api_key=KEY, speed=0, session_id="logged-call"))
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    session_lines = [line for line in lines if line.get("session_id") == "logged-call"]
    assert any("opened" in line["message"] for line in session_lines)
    assert all(line.get("dialect") == "simple" for line in session_lines)
