"""`audiohook_server.client` against a small loopback server that runs the real `SimpleSession`.

The server here is the protocol core plus a scripted "recognizer" (one word per frame), so the
client's side of the protocol (open, frames, pacing, seq numbers, close, errors, early closes,
the 401 handshake) is checked against the same state machine the real server uses, without loading
any speech model. The server runs on its own event loop in a thread so that `main()`, which calls
`asyncio.run` itself, can be tested too.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from audiohook_server.audio.wav_files import write_wav
from audiohook_server.client import (
    ClientError,
    ReceivedEvent,
    StreamResult,
    format_analysis,
    format_final,
    main,
    stream_audio,
    stream_wav,
    url_with_api_key,
)
from protocol import (
    AudioReceived,
    CloseConnection,
    ProtocolError,
    SendMessage,
    SessionAction,
    SessionEnding,
    SimpleSession,
)
from tests.conftest import free_port

API_KEY = "s3cret key/+&="  # needs URL-encoding
RATE = 16000


def audio(seconds: float) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(1)
    return rng.integers(-2000, 2000, size=round(seconds * RATE), dtype=np.int16)


@dataclass
class ServerLog:
    """What one connection sent to the server."""

    query: dict[str, list[str]] = field(default_factory=dict)
    texts: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[float, int]] = field(default_factory=list)  # (monotonic arrival, bytes)
    order: list[str] = field(default_factory=list)  # "open", "binary", "close", ...
    audio: bytearray = field(default_factory=bytearray)
    session: SimpleSession | None = None


class FakeServer:
    """A loopback simple-dialect server: the real `SimpleSession`, one scripted word per audio frame.

    Behaviours: `fail_open` (answer `open` with an error), `fail_after` (a 413 error after N frames),
    `close_after` (drop the socket with 1011 after N frames), `disconnect_after` (send `disconnect`
    after N frames), `ignore_close` (never answer `close`).
    """

    def __init__(
        self,
        *,
        fail_open: bool = False,
        fail_after: int | None = None,
        close_after: int | None = None,
        disconnect_after: int | None = None,
        ignore_close: bool = False,
    ) -> None:
        self.fail_open = fail_open
        self.fail_after = fail_after
        self.close_after = close_after
        self.disconnect_after = disconnect_after
        self.ignore_close = ignore_close
        self.logs: list[ServerLog] = []
        self.rejected = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Server | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self) -> Server:
        return await serve(self._handler, "127.0.0.1", 0, process_request=self._check_key, max_size=2**22)

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/audiohook"

    @property
    def log(self) -> ServerLog:
        assert len(self.logs) == 1, f"expected one connection, got {len(self.logs)}"
        return self.logs[0]

    # ---- protocol ----------------------------------------------------------------------------

    def _check_key(self, connection: ServerConnection, request: Request) -> Response | None:
        keys = parse_qs(urlsplit(request.path).query).get("x-api-key", [])
        if keys != [API_KEY]:
            self.rejected += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or missing API key\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        log = ServerLog(query=parse_qs(urlsplit(ws.request.path if ws.request else "").query))
        self.logs.append(log)
        session = log.session = SimpleSession(supported_languages=("en", "de"))
        words: list[str] = []
        try:
            async for data in ws:
                if isinstance(data, str):
                    message = json.loads(data)
                    log.texts.append(message)
                    log.order.append(message.get("type", "?"))
                    if message.get("type") == "open" and self.fail_open:
                        actions = session.fail(ProtocolError(415, "no codec we can decode"))
                    elif message.get("type") == "close" and self.ignore_close:
                        continue
                    else:
                        actions = session.receive_text(data)
                else:
                    log.frames.append((time.monotonic(), len(data)))
                    log.order.append("binary")
                    log.audio += data
                    actions = session.receive_binary(data)
                for action in actions:
                    if await self._perform(ws, log, action, words):
                        return
        except ConnectionClosed:
            pass

    async def _perform(self, ws: ServerConnection, log: ServerLog, action: SessionAction, words: list[str]) -> bool:
        """Carry out one action; True when the connection was closed."""
        session = log.session
        assert session is not None
        if isinstance(action, SendMessage):
            await ws.send(json.dumps(action.message))
        elif isinstance(action, CloseConnection):
            await ws.close(action.code, action.reason)
            return True
        elif isinstance(action, AudioReceived):
            return await self._on_audio(ws, log, action, words)
        elif isinstance(action, SessionEnding):
            words.append("goodbye")
            await ws.send(json.dumps(session.event_message(self._final(words[-1:], session), _analysis(words))))
            for closing in session.closed_message():
                if await self._perform(ws, log, closing, words):
                    return True
        return False

    async def _on_audio(self, ws: ServerConnection, log: ServerLog, action: AudioReceived, words: list[str]) -> bool:
        session = log.session
        assert session is not None
        frames = len(log.frames)
        if self.fail_after is not None and frames >= self.fail_after:
            for failing in session.fail(ProtocolError(413, "too much audio for this test")):
                if await self._perform(ws, log, failing, words):
                    return True
        if self.close_after is not None and frames >= self.close_after:
            await ws.close(1011, "recognizer crashed")
            return True
        if self.disconnect_after is not None and frames == self.disconnect_after:
            disconnect: dict[str, Any] = {
                "version": "2",
                "type": "disconnect",
                "id": session.session_id,
                "parameters": {"reason": "completed", "info": "enough"},
            }
            await ws.send(json.dumps(disconnect))
        words.append(f"word{frames}")
        end = (action.first_sample + action.samples.shape[0]) / RATE
        partial = {"type": "transcript", "value": " ".join(words[-2:]), "is_final": False, "start": 0.0, "end": end}
        await ws.send(json.dumps(session.event_message(partial)))  # partials have no words/confidence
        if frames % 2 == 0:
            await ws.send(json.dumps(session.event_message(self._final(words[-2:], session), _analysis(words))))
        return False

    @staticmethod
    def _final(text_words: list[str], session: SimpleSession) -> dict[str, Any]:
        end = session.seconds_received
        return {
            "type": "transcript",
            "value": " ".join(text_words),
            "is_final": True,
            "start": max(0.0, end - 1.0),
            "end": end,
            "channel": 0,
            "speaker": "unknown",
            "utterance_id": f"u{session.samples_received}",
            "confidence": 0.9,
            "words": [{"word": w, "start": 0.0, "end": 0.1, "confidence": 0.9} for w in text_words],
        }


def _analysis(words: list[str]) -> dict[str, Any] | None:
    if len(words) < 5:
        return None
    return {
        "summary": f"{len(words)} words spoken",
        "sentiment": "neutral",
        "emotion": "calm",
        "agent_score": 4,
        "process_issues": "none",
        "repeated_problems": "none",
        "marketing_mentions": "none",
    }


@pytest.fixture
def make_server() -> Iterator[Any]:
    servers: list[FakeServer] = []

    def factory(**behaviour: Any) -> FakeServer:
        server = FakeServer(**behaviour).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def check_message_order(result: StreamResult) -> None:
    """Arrival times and stream positions never go backwards; server seq numbers increase."""
    times = [m.received_at for m in result.messages]
    positions = [m.audio_sent_s for m in result.messages]
    assert times == sorted(times)
    assert positions == sorted(positions)
    seqs = [m.message["seq"] for m in result.messages if "seq" in m.message]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


# ---- a whole session -------------------------------------------------------------------------


def test_full_session_open_frames_close(make_server: Any) -> None:
    server = make_server()
    samples = audio(2.3)
    seen: list[ReceivedEvent] = []
    result = run(
        stream_audio(
            server.url, samples, api_key=API_KEY, speed=0, session_id="session-1", language="de", on_message=seen.append
        )
    )
    log = server.log

    assert log.texts[0] == {
        "version": "2",
        "type": "open",
        "id": "session-1",
        "seq": 1,
        "parameters": {
            "media": [{"type": "audio", "codec": "audio/pcm", "rate": 16000, "channels": ["mono"]}],
            "language": "de",
        },
    }
    assert log.texts[-1] == {
        "version": "2",
        "type": "close",
        "id": "session-1",
        "seq": 2,
        "parameters": {"reason": "end"},
    }
    assert [t["seq"] for t in log.texts] == [1, 2]
    assert log.order == ["open"] + ["binary"] * 5 + ["close"]
    assert [size for _, size in log.frames] == [16000, 16000, 16000, 16000, 9600]  # 500 ms frames, then the rest
    assert bytes(log.audio) == samples.astype("<i2").tobytes()
    assert log.session is not None and log.session.language == "de"

    assert result.session_id == "session-1"
    assert result.opened is not None and result.opened["type"] == "opened"
    assert result.ok and not result.errors and not result.timed_out
    assert result.closed_received
    assert (result.close_code, result.close_reason) == (1000, "session closed")
    assert result.audio_seconds == pytest.approx(2.3)
    assert [m.message for m in seen] == [m.message for m in result.messages]
    assert result.messages[0].type == "opened"
    assert result.messages[-1].type == "closed"
    check_message_order(result)

    assert len(result.partials) == 5
    assert [f["value"] for f in result.finals] == ["word1 word2", "word3 word4", "goodbye"]
    assert result.final_text == "word1 word2 word3 word4 goodbye"
    assert result.last_analysis is not None and result.last_analysis["summary"] == "6 words spoken"
    assert result.started_at <= result.messages[-1].received_at <= result.finished_at


def test_frame_ms_sets_the_frame_size(make_server: Any) -> None:
    server = make_server()
    run(stream_audio(server.url, audio(1.0), api_key=API_KEY, speed=math.inf, frame_ms=120))
    sizes = [size for _, size in server.log.frames]
    assert sizes == [3840] * 8 + [16000 * 2 - 3840 * 8]
    assert server.log.texts[0]["id"] == server.log.texts[-1]["id"]  # a uuid4 by default
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", server.log.texts[0]["id"])


def test_real_time_pacing_at_speed_4(make_server: Any) -> None:
    server = make_server()
    samples = audio(3.0)  # 6 frames of 500 ms: 125 ms apart at speed 4, and the call lasts 750 ms
    before = time.monotonic()
    result = run(stream_audio(server.url, samples, api_key=API_KEY, speed=4, session_id="paced"))
    arrivals = [t for t, _ in server.log.frames]

    assert len(arrivals) == 6
    first = arrivals[0]
    for i, arrival in enumerate(arrivals):
        assert arrival - first >= i * 0.125 - 0.03, f"frame {i} early: {arrival - first:.3f} s"
    close_time = result.messages[-1].received_at  # `closed` comes after `close`, sent when the audio ended
    assert close_time - result.started_at >= 0.75 - 0.03
    assert time.monotonic() - before < 15  # generous: a noisy machine, but not stuck
    # Events arrive while audio is still being sent, and record how much had been sent.
    mid_stream = [m for m in result.messages if m.type == "event" and m.audio_sent_s < 3.0]
    assert mid_stream
    check_message_order(result)


def test_as_fast_as_possible_is_not_paced(make_server: Any) -> None:
    server = make_server()
    start = time.monotonic()
    result = run(stream_audio(server.url, audio(60.0), api_key=API_KEY, speed=0))
    assert result.ok
    assert len(server.log.frames) == 120
    assert time.monotonic() - start < 30  # 60 s of audio; real time would be 60 s


def test_stream_wav_resamples_to_16k_mono(make_server: Any, tmp_path: Path) -> None:
    server = make_server()
    stereo = np.stack([audio(1.0)[:8000], audio(1.0)[:8000]], axis=1)
    write_wav(tmp_path / "call.wav", stereo, 8000)
    result = run(stream_wav(server.url, tmp_path / "call.wav", api_key=API_KEY, speed=0))
    assert result.ok
    assert abs(len(server.log.audio) - 2 * 16000) <= 4
    assert result.audio_seconds == pytest.approx(1.0, abs=0.001)


def test_api_key_goes_in_the_query_string(make_server: Any) -> None:
    server = make_server()
    result = run(stream_audio(server.url + "?tenant=a%20b&x-api-key=old", audio(0.2), api_key=API_KEY, speed=0))
    assert result.ok
    assert server.log.query == {"tenant": ["a b"], "x-api-key": [API_KEY]}


def test_url_with_api_key() -> None:
    assert url_with_api_key("ws://h/p", None) == "ws://h/p"
    assert url_with_api_key("ws://h/p", "k y&") == "ws://h/p?x-api-key=k%20y%26"
    assert url_with_api_key("ws://h/p?a=1&x-api-key=old&b=%2F", "new") == "ws://h/p?a=1&b=%2F&x-api-key=new"


# ---- the server ends the session -------------------------------------------------------------


def test_error_then_close_mid_stream(make_server: Any) -> None:
    server = make_server(fail_after=2)
    result = run(stream_audio(server.url, audio(3.0), api_key=API_KEY, speed=8))
    assert [e["parameters"]["code"] for e in result.errors] == [413]
    assert result.errors[0]["parameters"]["message"] == "too much audio for this test"
    assert result.close_code == 1008
    assert result.close_reason == "too much audio for this test"
    assert result.opened is not None
    assert not result.ok
    assert result.audio_seconds < 3.0  # the client stopped sending when the server closed
    assert "close" not in server.log.order


def test_error_in_answer_to_open(make_server: Any) -> None:
    server = make_server(fail_open=True)
    result = run(stream_audio(server.url, audio(1.0), api_key=API_KEY, speed=0))
    assert result.opened is None
    assert [e["parameters"]["code"] for e in result.errors] == [415]
    assert result.close_code == 1008
    assert result.audio_seconds == 0
    assert server.log.order == ["open"]  # no audio after a refused open
    assert not result.ok


def test_server_closes_early(make_server: Any) -> None:
    server = make_server(close_after=2)
    result = run(stream_audio(server.url, audio(3.0), api_key=API_KEY, speed=8))
    assert (result.close_code, result.close_reason) == (1011, "recognizer crashed")
    assert not result.ok and not result.errors and not result.closed_received
    assert result.audio_seconds < 3.0


def test_disconnect_from_the_server(make_server: Any) -> None:
    server = make_server(disconnect_after=2)
    result = run(stream_audio(server.url, audio(3.0), api_key=API_KEY, speed=4))
    assert result.disconnect is not None
    assert server.log.texts[-1]["type"] == "close"
    assert server.log.texts[-1]["parameters"] == {"reason": "disconnect"}
    assert server.log.texts[-1]["seq"] == 2
    assert len(server.log.frames) < 6  # stopped streaming
    assert result.closed_received and result.close_code == 1000
    assert result.ok  # reason "completed"


def test_close_timeout(make_server: Any) -> None:
    server = make_server(ignore_close=True)
    start = time.monotonic()
    result = run(stream_audio(server.url, audio(0.5), api_key=API_KEY, speed=0, close_timeout=0.5))
    assert result.timed_out and not result.ok
    assert not result.closed_received
    assert time.monotonic() - start < 10


# ---- the session cannot start ----------------------------------------------------------------


def test_http_401_raises_client_error(make_server: Any) -> None:
    server = make_server()
    with pytest.raises(ClientError, match=r"server refused the connection: HTTP 401 Unauthorized: invalid or missing"):
        run(stream_audio(server.url, audio(0.5), api_key="wrong", speed=0))
    with pytest.raises(ClientError, match="HTTP 401"):
        run(stream_audio(server.url, audio(0.5), api_key=None, speed=0))
    assert server.rejected == 2 and not server.logs


def test_connection_refused_raises_client_error() -> None:
    url = f"ws://127.0.0.1:{free_port()}/audiohook"
    with pytest.raises(ClientError, match=r"cannot connect to ws://127\.0\.0\.1") as info:
        run(stream_audio(url, audio(0.5), api_key=API_KEY))
    assert API_KEY not in str(info.value)


def test_invalid_url_and_arguments() -> None:
    with pytest.raises(ClientError, match="invalid WebSocket URL"):
        run(stream_audio("http://127.0.0.1:1/x", audio(0.5), api_key=None))
    with pytest.raises(ValueError, match="speed"):
        run(stream_audio("ws://127.0.0.1:1/x", audio(0.5), api_key=None, speed=-1))
    with pytest.raises(ValueError, match="1-D"):
        run(stream_audio("ws://127.0.0.1:1/x", np.zeros((10, 2), np.int16), api_key=None))


# ---- results and formatting ------------------------------------------------------------------


def _event(entity: dict[str, Any], analysis: dict[str, Any] | None = None) -> ReceivedEvent:
    params: dict[str, Any] = {"entity": entity}
    if analysis is not None:
        params["analysis"] = analysis
    return ReceivedEvent({"type": "event", "parameters": params}, 0.0, 0.0)


def test_stream_result_tolerates_missing_fields() -> None:
    result = StreamResult(
        session_id="s",
        messages=[
            _event({"type": "transcript", "value": "hel", "is_final": False}),
            _event({"value": "hello there"}),  # no is_final: the documented dialect sends only finals
            _event({"type": "transcript", "value": "  ", "is_final": True}),
            _event({"type": "agentassist", "value": "not a transcript"}),
            _event({"type": "transcript", "value": "bye", "is_final": True}, {"sentiment": "positive"}),
            ReceivedEvent({"type": "event"}, 0.0, 0.0),
            ReceivedEvent({"type": "event", "parameters": {"entity": "oops"}}, 0.0, 0.0),
            ReceivedEvent({"type": "error", "parameters": {"code": 500}}, 0.0, 0.0),
            ReceivedEvent({"parameters": None}, 0.0, 0.0),
        ],
    )
    assert [p["value"] for p in result.partials] == ["hel"]
    assert [f["value"] for f in result.finals] == ["hello there", "  ", "bye"]
    assert result.final_text == "hello there bye"
    assert result.last_analysis == {"sentiment": "positive"}
    assert len(result.errors) == 1
    assert not result.ok


def test_format_final_and_analysis() -> None:
    entity = {"value": " hello  ", "start": 12.34, "end": 15.67, "channel": 0, "speaker": "agent", "confidence": 0.912}
    assert format_final(entity) == "[ 12.34 -  15.67] ch0 agent: hello  (conf 0.91)"
    assert format_final({"value": "hi"}) == "[     ? -      ?] ch0 unknown: hi"
    analysis = {"summary": "A customer\ncalled.", "sentiment": "neutral", "emotion": "calm", "agent_score": 4}
    assert format_analysis(analysis) == "analysis: sentiment=neutral emotion=calm agent_score=4 | A customer called."
    assert format_analysis({}) == "analysis: "


# ---- the console script ----------------------------------------------------------------------


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
