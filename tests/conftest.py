"""Shared fixtures: the real server, started on a loopback port with the real models; and the `slow`
mark, which `pytest -m "not slow"` leaves out (the fast tests, under a minute; CI runs everything)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audiohook_server.calls.ports import SpeechService
from audiohook_server.server.app import AudioHookServer
from audiohook_server.settings import ApiKey, Settings
from audiohook_server.speech.engine import resolve_models

API_KEY = "test-key-1"

# Modules whose tests load real models or start real server processes, nginx or Redis (or, for the
# fuzz run, feed thousands of examples): 5 s or more each in all, measured with `pytest --durations=0`
# on 2 cores. A new module of that kind belongs here.
SLOW_MODULES = frozenset(
    {
        "tests/analysis/test_analyzer.py",
        "tests/analysis/test_backends.py",
        "tests/analysis/test_call_analytics_e2e.py",
        "tests/analysis/test_hf_sentiment.py",
        "tests/analysis/test_turn_classifier.py",
        "tests/calls/test_speakers.py",
        "tests/client/test_doors.py",
        "tests/deploy/test_deploy.py",
        "tests/deploy/test_guide.py",
        "tests/deploy/test_live_capture_routing.py",
        "tests/protocol/test_fuzz.py",
        "tests/server/test_call_log.py",
        "tests/server/test_capture_door.py",
        "tests/server/test_capture_real.py",
        "tests/server/test_cli.py",
        "tests/server/test_diarization.py",
        "tests/server/test_genesys_door.py",
        "tests/server/test_hardening.py",
        "tests/server/test_reliability.py",
        "tests/server/test_simple_door.py",
        "tests/speech/test_openai_backend.py",
        "tests/speech/test_voice_embedding.py",
        "tests/speech/test_transcriber.py",
        "tests/speech/test_vosk_partials.py",
        "tests/ui/test_browser.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::", 1)[0] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health_status(port: int, path: str = "/healthz") -> int:
    """The HTTP status of a plain GET on the server (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


class RunningServer:
    """An AudioHookServer on its own event loop in a background thread, as in production; with
    `speech`, over that stand-in instead of the real models (tests/stand_in_speech.py)."""

    def __init__(self, settings: Settings, speech: SpeechService | None = None) -> None:
        self.settings = settings
        models = resolve_models(settings) if speech is None else None
        self.server = AudioHookServer(settings, models, speech=speech)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="audiohook-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
            await self.server.wait_ready()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            raise
        self._started.set()
        await self._stop.wait()
        await self.server.stop()

    def start(self) -> RunningServer:
        self._thread.start()
        self._started.wait(120)
        if self._error is not None:
            raise RuntimeError("server failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    close = stop  # for contextlib.closing

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (to inspect its state) and wait for the result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/audiohook"

    @property
    def recordings(self) -> Path:
        return self.settings.recordings_dir


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    base = Settings(
        port=0,
        recordings_dir=tmp / "recordings",
        api_keys=(ApiKey(API_KEY), ApiKey("second-key")),
        whisper_threads=2,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The default server: Whisper tiny.en finals and Whisper partials."""
    running = RunningServer(make_settings(tmp_path_factory.mktemp("server"))).start()
    yield running
    running.stop()
