"""The client against the real server (its doors, sessions, call core and exports) running over the
stand-in speech of tests/stand_in_speech.py: whole sessions, the CSV they leave, and the server's own
refusals, in a second or two and without any model. (What the client puts on the wire, frame by frame,
is checked against the recording `FakeServer` in test_session.py.)"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audiohook_server.client import ClientError, stream_audio
from audiohook_server.settings import ApiKey
from tests.conftest import RunningServer, make_settings
from tests.speech_fixtures import librivox_call
from tests.stand_in_speech import StandInSpeech

KEY = "s3cret key/+&="  # needs URL-encoding


@pytest.fixture
def stand_in_server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = dataclasses.replace(make_settings(tmp_path), api_keys=(ApiKey(KEY),), max_frame_bytes=40_000)
    running = RunningServer(settings, speech=StandInSpeech()).start()
    yield running
    running.stop()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_whole_call_through_the_real_server(stand_in_server: RunningServer) -> None:
    samples, spans = librivox_call(gap_s=1.0)
    result = run(stream_audio(stand_in_server.url, samples, api_key=KEY, speed=0, session_id="client-e2e"))
    assert result.ok and result.closed_received and result.close_code == 1000
    texts = [f["value"] for f in result.finals]
    assert [t.split()[1] for t in texts] == [str(i) for i in range(1, len(spans) + 1)]  # every clip, in order
    for final, (start, end, _) in zip(result.finals, spans, strict=True):
        assert abs(final["start"] - start) < 0.5 and abs(final["end"] - end) < 0.8  # VAD padding and trailing silence
    assert result.last_analysis is not None and result.last_analysis["agent_score"] in range(1, 6)
    frame = pd.read_csv(stand_in_server.recordings / "client-e2e.csv", keep_default_na=False)
    assert list(frame["text"]) == texts


def test_the_servers_refusals_reach_the_client(stand_in_server: RunningServer) -> None:
    with pytest.raises(ClientError, match="HTTP 401"):
        run(stream_audio(stand_in_server.url, np.zeros(16000, np.int16), api_key="wrong", speed=0))
    # 1.5 s frames are 48 000 bytes, over this server's 40 000-byte frame limit.
    result = run(stream_audio(stand_in_server.url, np.zeros(48000, np.int16), api_key=KEY, speed=0, frame_ms=1500))
    assert not result.ok and result.close_code == 1009
    assert result.errors[0]["parameters"]["code"] == 413
