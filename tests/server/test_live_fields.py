"""The WebSocket doors' opt-in live analytics (`--live-analysis-fields`): off, the analysis block is the
protocol's seven keys; on, it also carries `live` (this final's 7-way emotion, PAD, moments and
transitions, the call's customer state, dynamics and alert count). On the stand-in speech (scripted
finals): the door logic above the models."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from analysis.types import EVENT_KEYS
from audiohook_server.client import stream_audio
from audiohook_server.client.dialect import parameters_of
from audiohook_server.settings import ApiKey
from tests.conftest import RunningServer, make_settings
from tests.speech_fixtures import librivox_call
from tests.stand_in_speech import StandInSpeech

KEY = "live-fields-key"
SCRIPT = (
    "Hello, thanks for calling, how can I help you today?",
    "I want to speak to your manager, this is ridiculous and I'm leaving.",
    "I understand, I can offer you a month free. Shall I put that through?",
)


def _analyses(tmp: Path, enabled: bool) -> list[tuple[bool, dict[str, Any]]]:
    """(is the event a final's, its analysis block) for each event that carries one."""
    settings = dataclasses.replace(
        make_settings(tmp, api_keys=(ApiKey(KEY),)), live_analysis_fields=enabled, diarization="off"
    )
    samples, spans = librivox_call(gap_s=1.0)
    audio = samples[: int(spans[2][1] * 16000) + 16000]
    with contextlib.closing(RunningServer(settings, speech=StandInSpeech(scripted=SCRIPT)).start()) as running:
        result = asyncio.run(stream_audio(running.url, audio, api_key=KEY, speed=0, session_id="fields"))
    assert result.ok, result.close_reason
    found = []
    for received in result.messages:
        parameters = parameters_of(received.message)
        if received.type == "event" and "analysis" in parameters:
            found.append((parameters["entity"].get("is_final", True) is not False, parameters["analysis"]))
    return found


def test_the_analysis_block_is_the_protocols_by_default(tmp_path: Path) -> None:
    analyses = _analyses(tmp_path, enabled=False)
    assert analyses and all(set(analysis) == set(EVENT_KEYS) for _, analysis in analyses)


def test_the_live_field_when_asked_for(tmp_path: Path) -> None:
    analyses = _analyses(tmp_path, enabled=True)
    assert any(final for final, _ in analyses)
    for final, analysis in analyses:  # the live field goes with finals; a partial's block is the protocol's
        assert set(analysis) == ({*EVENT_KEYS, "live"} if final else set(EVENT_KEYS))
    live = [analysis["live"] for final, analysis in analyses if final]
    assert all(
        set(field["emotion"]) == {"neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust"} for field in live
    )
    assert all(set(field["scores"]) == {"valence", "arousal", "dominance"} for field in live)
    moments = [moment["category"] for field in live for moment in field["moments"]]
    assert "escalation_request" in moments and "cancellation_threat" in moments
    assert live[-1]["alerts"] >= 2 and "overtalk_s" in live[-1]["dynamics"]
