"""The call core with diarization: labels on finals, CSV columns, the end-of-call corrections into the
CSV and the summary and to the door. Real speech through the real VAD, a stand-in transcription
(tests/stand_in_speech.py) and a scripted speaker embedder: which voice each final is, is this
test's to say (the logic above the model; the real model is tests/calls/test_speakers.py's and
tests/server/test_diarization.py's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from audiohook_server.calls.diarization import DiarizationConfig
from audiohook_server.calls.speakers import CallSpeakers
from audiohook_server.speech.voice_embedding import VoiceEmbedding
from protocol.events import SpeakerUpdate
from tests.calls.test_core import RATE, Harness, _call, _clip, _silence
from tests.stand_in_speech import StandInSpeech

VOICE_A = np.eye(8, dtype=np.float32)[0]
VOICE_B = np.eye(8, dtype=np.float32)[1]


class ScriptedEmbedder:
    """The n-th final is the n-th (voice, seconds) of the script (a fake: see the module docstring)."""

    name = "scripted"
    standardize = False

    def __init__(self, script: list[tuple[npt.NDArray[np.float32], float]]) -> None:
        self.script = script
        self.calls = 0

    def embed(self, audio: npt.NDArray[np.float32], runs: Sequence[int] = ()) -> VoiceEmbedding:
        vector, seconds = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return VoiceEmbedding(vector, seconds, (vector,), (seconds,))


def _diarized_call(
    tmp_path: Path, script: list[tuple[npt.NDArray[np.float32], float]], costs: list[float] | None = None
) -> tuple[Harness, list[Any]]:
    updates: list[SpeakerUpdate] = []

    async def emit_speakers(update: SpeakerUpdate) -> None:
        updates.append(update)

    speech = StandInSpeech()

    async def scenario() -> Harness:
        await speech.load()
        embedder = ScriptedEmbedder(script)
        observe = costs.append if costs is not None else None
        speakers = CallSpeakers(["unknown"], "auto", embedder, RATE, DiarizationConfig(), observe=observe)
        h = Harness(tmp_path, speech, speakers=speakers, emit_speakers=emit_speakers)
        gaps = [part for i in range(len(script)) for part in (_clip(i % 3), _silence(1.5))]
        h.feed(_call(_silence(0.5), *gaps))
        await h.core.finish()
        return h

    h = asyncio.run(asyncio.wait_for(scenario(), 30))
    speech.close()
    return h, updates


def test_finals_carry_the_voice_and_its_role(tmp_path: Path) -> None:
    costs: list[float] = []
    h, updates = _diarized_call(tmp_path, [(VOICE_A, 2.0), (VOICE_B, 2.0), (VOICE_A, 2.0), (VOICE_B, 2.0)], costs)
    assert [u.speaker_id for u in h.finals] == ["speaker_1", "speaker_2", "speaker_1", "speaker_2"]
    assert [u.speaker for u in h.finals] == ["agent", "customer", "agent", "customer"]  # the first voice's prior
    assert all(u.role_confidence is not None and 0.5 <= u.role_confidence <= 1 for u in h.finals)
    frame = h.csv()
    assert list(frame["speaker_id"]) == ["speaker_1", "speaker_2", "speaker_1", "speaker_2"]
    assert list(frame["speaker"]) == ["agent", "customer", "agent", "customer"]
    assert updates == [], "nothing to correct"
    assert h.files.csv is not None
    summary = json.loads(h.files.csv.path.with_suffix(".summary.json").read_text())
    assert summary["diarization"]["embedder"] == "scripted"
    assert set(summary["diarization"]["speakers"]) == {"speaker_1", "speaker_2"}
    assert len(costs) == 4 and all(c >= 0 for c in costs)  # its CPU time, once per final


def test_the_end_of_the_call_corrects_the_csv_and_tells_the_door(tmp_path: Path) -> None:
    """The second final is B but too short to start a voice: live it is speaker_1 (the agent); the whole
    call puts it on speaker_2 (the customer) in the CSV and in one speaker_update."""
    script = [(VOICE_A, 2.0), (VOICE_B, 0.6), (VOICE_A, 2.0), (VOICE_B, 2.0), (VOICE_B, 2.0)]
    h, updates = _diarized_call(tmp_path, script)
    sent = [(u.speaker_id, u.speaker) for u in h.finals]
    assert sent[1] == ("speaker_1", "agent")
    assert len(updates) == 1
    (correction,) = updates[0].corrections
    assert correction.utterance_id == h.finals[1].utterance_id
    assert (correction.previous_speaker_id, correction.previous_speaker) == ("speaker_1", "agent")
    assert (correction.speaker_id, correction.speaker) == ("speaker_2", "customer")
    frame = h.csv()
    assert list(frame["speaker_id"]) == ["speaker_1", "speaker_2", "speaker_1", "speaker_2", "speaker_2"]
    assert list(frame["speaker"]) == ["agent", "customer", "agent", "customer", "customer"]
    assert h.core.metrics.registry.get_sample_value("audiohook_diarization_corrections_total") == 1


def test_a_failing_embedder_leaves_the_channel_speaker(tmp_path: Path) -> None:
    class Broken(ScriptedEmbedder):
        def embed(self, audio: npt.NDArray[np.float32], runs: Sequence[int] = ()) -> VoiceEmbedding:
            raise RuntimeError("no voice today")

    speech = StandInSpeech()

    async def scenario() -> Harness:
        await speech.load()
        speakers = CallSpeakers(["unknown"], "auto", Broken([]), RATE, DiarizationConfig())
        h = Harness(tmp_path, speech, speakers=speakers)
        h.feed(_call(_silence(0.5), _clip(0), _silence(1.5), _clip(1), _silence(1.5)))
        await h.core.finish()
        return h

    h = asyncio.run(asyncio.wait_for(scenario(), 30))
    speech.close()
    assert len(h.finals) == 2 and {u.speaker for u in h.finals} == {"unknown"}
    assert all(u.speaker_id is None for u in h.finals)
    assert list(h.csv()["speaker_id"]) == ["", ""]
