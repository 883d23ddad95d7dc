"""The call core's own logic, in milliseconds: ordering of finals, partials, gaps, flushing on every kind of
ending, backpressure, failures. Real speech (the LibriVox fixtures) goes through the real VAD pipelines
and the real exports; only the transcription is a stand-in (tests/stand_in_speech.py says why).
"""

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
from audiohook_server.calls.core import CallCore
from audiohook_server.calls.ports import Refusal
from audiohook_server.calls.session_files import SessionFiles
from protocol.audio import MediaFormat
from protocol.events import TranscriptUpdate
from tests.speech_fixtures import librivox_clips
from tests.stand_in_speech import StandInSpeech

RATE = 16000
MONO = MediaFormat("L16", RATE, ("mono",))
STEREO = MediaFormat("L16", RATE, ("external", "internal"))


def _clip(index: int = 1) -> npt.NDArray[np.int16]:
    return librivox_clips()[index][1]


def _silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def _call(*parts: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    return np.concatenate(parts).reshape(-1, 1)


class Harness:
    """One CallCore with a stand-in recognizer, real session files in a temporary directory."""

    def __init__(self, tmp: Path, speech: StandInSpeech, media: MediaFormat = MONO, **options: Any) -> None:
        self.speech = speech
        self.sent: list[tuple[TranscriptUpdate, dict[str, Any] | None]] = []
        self.files = SessionFiles(tmp, "call-1", media.rate, len(media.channels), {"session_id": "call-1"})
        self.core = CallCore(
            session_id="call-1",
            media=media,
            language="en",
            recognizer=speech,
            new_analyzer=CallAnalyzer,
            exports=self.files,
            executor=speech.stream_pool,
            emit=self._emit,
            **options,
        )

    async def _emit(
        self, update: TranscriptUpdate, analysis: CallAnalysis | None, utterance: UtteranceAnalysis | None
    ) -> None:
        assert (utterance is not None) == update.is_final  # a final carries its own analysis
        self.sent.append((update, analysis.to_event() if analysis else None))

    def feed(self, audio: npt.NDArray[np.int16], frame_s: float = 0.5) -> list[Refusal]:
        step = int(frame_s * self.core.media.rate)
        refusals = [self.core.submit(audio[i : i + step]) for i in range(0, len(audio), step)]
        return [r for r in refusals if r is not None]

    async def feed_paced(self, audio: npt.NDArray[np.int16], frame_s: float = 0.5) -> None:
        """Frame by frame, letting the core work between frames (as audio arriving in real time does)."""
        step = int(frame_s * self.core.media.rate)
        for i in range(0, len(audio), step):
            assert self.core.submit(audio[i : i + step]) is None
            await asyncio.sleep(0.02)

    @property
    def finals(self) -> list[TranscriptUpdate]:
        return [update for update, _ in self.sent if update.is_final]

    def csv(self) -> pd.DataFrame:
        assert self.files.csv is not None
        return pd.read_csv(self.files.csv.path, keep_default_na=False)


@pytest.fixture
def speech() -> Iterator[StandInSpeech]:
    stand_in = StandInSpeech()
    yield stand_in
    stand_in.close()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_finals_go_out_in_utterance_order_even_when_later_ones_finish_first(tmp_path: Path) -> None:
    speech = StandInSpeech(delays=(0.3, 0.1, 0.0))  # the first utterance is the slowest to transcribe

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_silence(0.5), _clip(0), _silence(1.5), _clip(1), _silence(1.5), _clip(2), _silence(1.5)))
        await h.core.finish()
        return h

    h = run(scenario())
    speech.close()
    texts = [u.text for u in h.finals]
    assert [t.split()[1] for t in texts] == ["1", "2", "3"], texts
    starts = [u.start for u in h.finals]
    assert starts == sorted(starts)
    assert list(h.csv()["text"]) == texts  # the CSV holds every final, in the same order


def test_a_partial_never_follows_its_final(tmp_path: Path, speech: StandInSpeech) -> None:
    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        await h.feed_paced(_call(_clip(0), _silence(1.5), _clip(3), _silence(1.5)))
        await h.core.finish()
        return h

    h = run(scenario())
    assert speech.partials_asked > 0
    finished: set[str] = set()
    for update, _ in h.sent:
        assert update.utterance_id not in finished, f"partial after the final of {update.utterance_id}"
        if update.is_final:
            finished.add(update.utterance_id)
    assert any(not u.is_final for u, _ in h.sent)


def test_finish_flushes_an_utterance_still_being_spoken(tmp_path: Path, speech: StandInSpeech) -> None:
    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_silence(0.3), _clip(0)[: RATE * 2]))  # the connection drops mid-sentence
        await h.core.finish()
        return h

    h = run(scenario())
    assert len(h.finals) == 1 and h.finals[0].end == pytest.approx(2.3, abs=0.05)
    assert len(h.csv()) == 1
    assert h.files.csv is not None and not h.files.csv.path.with_suffix(".journal.jsonl").exists()


def test_gaps_end_utterances_and_move_later_positions(tmp_path: Path, speech: StandInSpeech) -> None:
    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_clip(1)[: RATE * 2]))
        h.core.submit_gap(5 * RATE)  # 5 s discarded by the client mid-utterance
        h.feed(_call(_silence(0.5), _clip(2), _silence(1.5)))
        await h.core.finish()
        return h

    h = run(scenario())
    first, second = h.finals
    assert first.end == pytest.approx(2.0, abs=0.05)  # the gap ended the open utterance
    assert second.start >= 2.0 + 5.0 + 0.5 - 0.35  # after the gap (VAD pre-roll: 300 ms)
    assert all(second.start <= w.start <= w.end <= second.end + 1e-6 for w in second.words)


def test_words_are_moved_onto_the_stream_timeline(tmp_path: Path, speech: StandInSpeech) -> None:
    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_silence(3.0), _clip(4), _silence(1.5)))
        await h.core.finish()
        return h

    [final] = run(scenario()).finals
    assert final.start > 2.5 and final.words[0].start == pytest.approx(final.start)
    assert final.words[-1].end == pytest.approx(final.end, abs=1e-3)


def test_backpressure_is_a_refusal_not_an_exception(tmp_path: Path, speech: StandInSpeech) -> None:
    async def scenario() -> tuple[Harness, list[Refusal]]:
        h = Harness(tmp_path, speech, max_buffered_audio_s=2.0)  # the models are still loading: nothing drains
        refusals = h.feed(_call(_clip(0)))
        await speech.load()
        await h.core.finish()
        return h, refusals

    h, refusals = run(scenario())
    assert refusals and refusals[0].code == 503 and "more than 2 s of audio" in refusals[0].message
    assert len(h.finals) == 1  # what was admitted before the refusal is still transcribed


def test_a_failed_or_empty_final_does_not_stop_the_others(tmp_path: Path) -> None:
    speech = StandInSpeech(fail=frozenset({1}), empty=frozenset({2}))

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_clip(0), _silence(1.5), _clip(1), _silence(1.5), _clip(2), _silence(1.5)))
        await h.core.finish()
        return h

    h = run(scenario())
    speech.close()
    assert [u.text.split()[1] for u in h.finals] == ["3"]
    assert len(h.csv()) == 1


def test_stereo_channels_are_transcribed_separately_with_their_speakers(tmp_path: Path, speech: StandInSpeech) -> None:
    customer = np.concatenate([_clip(0), _silence(4.0)])
    agent = np.concatenate([_silence(len(_clip(0)) / RATE + 1.0), _clip(4), _silence(0.5)])
    agent = agent[: len(customer)]
    audio = np.stack([customer, agent], axis=1)

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech, media=STEREO)
        h.feed(audio)
        await h.core.finish()
        return h

    h = run(scenario())
    assert [(u.channel, u.speaker) for u in h.finals] == [(0, "customer"), (1, "agent")]
    assert list(h.csv()["channel"]) == ["external", "internal"]


def test_analysis_and_exports_once_five_words_exist(tmp_path: Path, speech: StandInSpeech) -> None:
    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_clip(0), _silence(1.5), _clip(1), _silence(1.5)))
        await h.core.finish()
        return h

    h = run(scenario())
    analyses = [analysis for update, analysis in h.sent if update.is_final]
    assert all(a is not None and set(a) >= {"sentiment", "agent_score", "summary"} for a in analyses)
    assert h.files.csv is not None
    summary = json.loads(h.files.csv.path.with_suffix(".summary.json").read_text())
    assert summary["utterance_count"] == 2
    frame = h.csv()
    assert analyses[-1] is not None and frame["running_agent_score"].iloc[-1] == analyses[-1]["agent_score"]


def test_finish_is_idempotent_and_survives_models_that_never_load(tmp_path: Path) -> None:
    speech = StandInSpeech(load_error=RuntimeError("no model"))

    async def scenario() -> Harness:
        h = Harness(tmp_path, speech)
        h.feed(_call(_clip(0)))
        await speech.load()
        await h.core.finish()
        await h.core.finish()
        return h

    h = run(scenario())
    speech.close()
    assert h.finals == [] and len(h.csv()) == 0  # no transcript, but the CSV is whole (header only)
    assert h.core.submit(_call(_clip(0))) is None  # audio after the end is ignored, not an error


@pytest.mark.parametrize(("partial_text", "finals"), [("The end.", 2), ("and then the", 1)])
def test_what_a_partial_says_decides_whether_a_pause_ends_the_utterance(
    tmp_path: Path, partial_text: str, finals: int
) -> None:
    """Two stretches of speech 0.6 s apart: a partial that ends a sentence lets the 300 ms sentence-end
    silence close the first; one that stops mid-sentence holds it open for 900 ms, over the pause."""
    speech = StandInSpeech(partial_text=partial_text)

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        first, second = _clip(1), _clip(4)
        await h.feed_paced(_call(first, _silence(0.6), second, _silence(1.5)), frame_s=0.1)
        await h.core.finish()
        return h

    h = run(scenario())
    speech.close()
    assert len(h.finals) == finals, [u.text for u in h.finals]


def test_sentences_the_speaker_paused_between_are_separate_finals(tmp_path: Path) -> None:
    """Issue 18: one utterance (the 0.5 s pause is shorter than the silence that ends one without a
    partial) whose final says two sentences is sent, written and analysed as two (speech/sentence_split.py)."""
    speech = StandInSpeech(partials=False, scripted=("Hi. Thanks.",))
    clip = _clip(0)

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech)
        h.feed(_call(_silence(0.5), clip[:RATE], _silence(0.5), clip[RATE : 2 * RATE], _silence(1.5)))
        await h.core.finish()
        return h

    h = run(scenario())
    speech.close()
    assert speech.asked == 1  # one utterance, one transcription
    assert [(u.utterance_id, u.text) for u in h.finals] == [("0-1", "Hi."), ("0-1.2", "Thanks.")]
    first, second = h.finals
    assert first.end + 0.3 <= second.start  # each on its own speech, the pause between them
    assert first.words[-1].end == first.end and second.words[0].start == second.start
    assert list(h.csv()["text"]) == ["Hi.", "Thanks."]
    assert h.core.final_count == 2
