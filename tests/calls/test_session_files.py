"""A call's files when it ends: session.json gains its end, calls.csv its row (counts of utterances, talk
shares, the files' names), whatever the end reason; real speech through the call core, stand-in text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from analysis import CallAnalysis, CallAnalyzer, UtteranceAnalysis
from analysis.categories import CategoryMatcher
from audiohook_server.calls.atomic_files import reserve_session_files
from audiohook_server.calls.core import CallCore
from audiohook_server.calls.session_files import SessionFiles
from audiohook_server.calls.transcript_csv import CSV_HEADER
from protocol.audio import MediaFormat
from protocol.events import TranscriptUpdate
from tests.speech_fixtures import librivox_clips
from tests.stand_in_speech import StandInSpeech

RATE = 16000
STEREO = MediaFormat("L16", RATE, ("external", "internal"))
# The stand-in says "utterance N lasted S seconds": two phrases of one label in every utterance.
MATCHER = CategoryMatcher({"process_issues": {"lasting": ["lasted", "seconds"]}, "custom": {"count": ["utterance"]}})


@pytest.fixture
def speech() -> Iterator[StandInSpeech]:
    stand_in = StandInSpeech()
    yield stand_in
    stand_in.close()


def _stereo_call() -> npt.NDArray[np.int16]:
    """The customer speaks (clip 0), then the agent (clip 1), on their own channels."""
    first, second = librivox_clips()[0][1], librivox_clips()[1][1]
    pause = np.zeros(int(1.5 * RATE), dtype=np.int16)
    customer = np.concatenate([first, pause, np.zeros(len(second), np.int16), pause])
    agent = np.concatenate([np.zeros(len(first), np.int16), pause, second, pause])
    return np.stack([customer, agent], axis=1)


async def _call(directory: Path, speech: StandInSpeech, reason: str | None, **metadata: Any) -> SessionFiles:
    await speech.load()
    record = {"session_id": "call-1", "dialect": "genesys", "started_at": "2024-05-01T10:00:00.000+00:00", **metadata}
    files = SessionFiles(directory, "call-1", RATE, 2, record)

    async def emit(update: TranscriptUpdate, analysis: CallAnalysis | None, result: UtteranceAnalysis | None) -> None:
        pass

    core = CallCore(
        session_id="call-1",
        media=STEREO,
        language="en",
        recognizer=speech,
        new_analyzer=lambda: CallAnalyzer(categories=MATCHER),
        exports=files,
        executor=speech.stream_pool,
        emit=emit,
    )
    audio = _stereo_call()
    for i in range(0, len(audio), RATE // 2):
        assert core.submit(audio[i : i + RATE // 2]) is None
    await (core.finish() if reason is None else core.finish(reason))
    await core.finish("drained")  # a later finish changes nothing
    return files


def test_the_end_of_a_call_writes_its_row_and_its_end(tmp_path: Path, speech: StandInSpeech) -> None:
    files = asyncio.run(_call(tmp_path, speech, None, authenticated_by="api-key:abc", conversation_id="c-1"))
    transcript = pd.read_csv(tmp_path / "call-1.csv", keep_default_na=False)
    assert list(transcript["speaker"]) == ["customer", "agent"]
    calls = pd.read_csv(tmp_path / "calls.csv", keep_default_na=False)
    assert len(calls) == 1
    row = calls.iloc[0]
    assert (row["session_id"], row["conversation_id"], row["door"]) == ("call-1", "c-1", "genesys")
    assert (row["end_reason"], row["utterances"], row["authenticated_by"]) == ("completed", 2, "api-key:abc")
    assert row["process_issues"] == "lasting:2"  # two utterances, four phrases matched
    assert row["other_categories"] == "custom/count:2"
    assert row["summary"] == transcript["running_summary"].iloc[-1] and row["summary"]
    assert row["agent_score"] == transcript["running_agent_score"].iloc[-1]
    spoken = transcript["end"] - transcript["start"]
    assert row["talk_share_customer"] == pytest.approx(spoken[0] / spoken.sum(), abs=0.001)
    assert row["talk_share_customer"] + row["talk_share_agent"] == pytest.approx(1.0, abs=0.002)
    summary = json.loads((tmp_path / "call-1.summary.json").read_text())
    assert row["words"] == summary["word_count"] > 0  # words as the analysis counts them
    names = ("transcript_csv", "summary_json", "session_json", "recording_wav")
    assert [row[n] for n in names] == ["call-1.csv", "call-1.summary.json", "call-1.session.json", "call-1.wav"]
    assert summary["analysis"]["process_issues"].startswith('lasting (2): "lasted"')  # the running value agrees
    session = json.loads((tmp_path / "call-1.session.json").read_text())
    assert session["end_reason"] == "completed" and session["ended_at"] == row["ended_at"]
    assert session["duration_s"] == row["duration_s"] > 0
    assert session["audio_s"] == row["audio_s"] == pytest.approx(len(_stereo_call()) / RATE, abs=0.001)
    assert files.journal is None and not (tmp_path / "call-1.journal.jsonl").exists()


def test_the_first_end_reason_is_the_calls(tmp_path: Path, speech: StandInSpeech) -> None:
    asyncio.run(_call(tmp_path, speech, "disconnected"))
    assert pd.read_csv(tmp_path / "calls.csv")["end_reason"].tolist() == ["disconnected"]
    assert json.loads((tmp_path / "call-1.session.json").read_text())["end_reason"] == "disconnected"


def test_a_resumed_session_is_logged_once(tmp_path: Path, speech: StandInSpeech) -> None:
    for _ in range(2):  # ended, then ended again after a restart (an HTTP session resumed)
        files = SessionFiles(tmp_path, "live_x", RATE, 1, {"session_id": "live_x"}, exact_stem=True, once_per_csv=True)
        files.open()
        files.close(None, "completed")
    assert pd.read_csv(tmp_path / "calls.csv")["session_id"].tolist() == ["live_x"]


def test_a_session_named_calls_never_takes_the_call_logs_name(tmp_path: Path) -> None:
    for session in ("calls", "calls.v1", "calls.v1-2"):
        csv, wav = reserve_session_files(session, tmp_path, CSV_HEADER)
        assert csv.name.startswith("calls_") and wav.stem == csv.stem
