"""Redaction in the call core: what the files, the events and the held recording get, secure pauses
in the CSV, and failing closed. Real VAD and real session files; the transcription is the stand-in
(tests/stand_in_speech.py), scripted to say a card number, with evenly spread word times. The
redactor is the real one (rules; names off: the payment policy does not load spaCy)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from analysis import CallAnalysis, CallAnalyzer, UtteranceAnalysis
from analysis.pii import CallRedactor
from audiohook_server.audio.wav_files import read_wav
from audiohook_server.calls.core import PAUSE_TEXT, REDACTION_FAILED, CallCore
from audiohook_server.calls.redaction import RedactionPolicy
from audiohook_server.calls.session_files import SessionFiles
from protocol.audio import MediaFormat
from protocol.events import TranscriptUpdate
from tests.speech_fixtures import librivox_clips
from tests.stand_in_speech import StandInSpeech

RATE = 16000
MONO = MediaFormat("L16", RATE, ("mono",))
CARD = "my card number is 4539 1488 0343 6467 thanks"
PAYMENT = RedactionPolicy.parse("payment", "csv,summary,journal,recording", "tag")


def _speech(seconds: float = 1.5) -> npt.NDArray[np.int16]:
    clip = librivox_clips()[1][1]
    return clip[: int(seconds * RATE)]


def _silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def _call(*parts: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    return np.concatenate(parts).reshape(-1, 1)


class Harness:
    def __init__(self, tmp: Path, speech: StandInSpeech, policy: RedactionPolicy) -> None:
        self.sent: list[TranscriptUpdate] = []
        self.files = SessionFiles(
            tmp, "call-1", RATE, 1, {"session_id": "call-1"}, hold_recording=bool(policy.recording)
        )
        self.core = CallCore(
            session_id="call-1",
            media=MONO,
            language="en",
            recognizer=speech,
            new_analyzer=CallAnalyzer,
            exports=self.files,
            executor=speech.stream_pool,
            emit=self._emit,
            redaction=policy,
        )

    async def _emit(self, update: TranscriptUpdate, _a: CallAnalysis | None, _u: UtteranceAnalysis | None) -> None:
        self.sent.append(update)

    def feed(self, audio: npt.NDArray[np.int16]) -> None:
        for i in range(0, len(audio), RATE // 2):
            assert self.core.submit(audio[i : i + RATE // 2]) is None

    def csv(self) -> pd.DataFrame:
        assert self.files.csv is not None
        return pd.read_csv(self.files.csv.path, keep_default_na=False)

    @property
    def finals(self) -> list[TranscriptUpdate]:
        return [u for u in self.sent if u.is_final]


@pytest.fixture
def speech() -> Iterator[StandInSpeech]:
    stand_in = StandInSpeech(scripted=(CARD,), partials=False)
    yield stand_in
    stand_in.close()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def streamed(tmp: Path, speech: StandInSpeech, policy: RedactionPolicy, audio: npt.NDArray[np.int16]) -> Harness:
    """The whole call fed at once, then finished."""

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp, speech, policy)
        h.feed(audio)
        await h.core.finish()
        return h

    h: Harness = run(scenario())
    return h


def _two_utterances() -> npt.NDArray[np.int16]:
    return _call(_silence(0.5), _speech(), _silence(1.5), _speech(), _silence(1.5))


def test_files_get_the_redacted_text_and_the_live_event_the_words_said(
    tmp_path: Path, speech: StandInSpeech, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = streamed(tmp_path, speech, PAYMENT, _two_utterances())
    texts = list(h.csv()["text"])
    assert texts[0] == "my card number is [CARD_NUMBER] thanks"
    assert "4539" not in h.csv().to_csv()
    assert h.finals[0].text == CARD  # events are not in this policy: the agent sees what was said
    summary = (tmp_path / "call-1.summary.json").read_text(encoding="utf-8")
    assert "4539" not in summary
    assert "4539" not in caplog.text and "card number" not in caplog.text  # no transcript in a log line
    metrics = h.core.metrics.registry
    assert metrics.get_sample_value("audiohook_redacted_spans_total", {"entity": "CARD_NUMBER"}) == 1
    assert metrics.get_sample_value("audiohook_redaction_seconds_count") == 2


def test_events_policy_redacts_text_and_words(tmp_path: Path, speech: StandInSpeech) -> None:
    policy = RedactionPolicy.parse("payment", "all", "tag")
    final = streamed(tmp_path, speech, policy, _call(_silence(0.5), _speech(), _silence(1.5))).finals[0]
    assert final.text == "my card number is [CARD_NUMBER] thanks"
    assert [w.text for w in final.words] == ["my", "card", "number", "is", "[CARD_NUMBER]", "thanks"]
    tag = final.words[4]
    word = final.words[1]  # the first word starts where the speech does (calls/speech_span.py), not evenly
    assert tag.end - tag.start == pytest.approx(4 * (word.end - word.start), rel=0.05)


def test_the_recording_is_silenced_under_the_card_and_held_until_its_final(tmp_path: Path) -> None:
    speech = StandInSpeech(scripted=(CARD,), partials=False, delays=(1.0,))

    async def scenario() -> tuple[Harness, int, npt.NDArray[np.int16]]:
        await speech.load()
        h = Harness(tmp_path, speech, PAYMENT)
        audio = _call(_silence(0.5), _speech(), _silence(1.5), _silence(3.0))
        h.feed(audio)
        await asyncio.sleep(0.6)  # the utterance has ended; its final is still being made
        assert h.files.held is not None
        written_while_waiting = h.files.held.written
        await h.core.finish()
        return h, written_while_waiting, audio

    try:
        h, written, audio = run(scenario())
    finally:
        speech.close()
    final = h.finals[0]
    assert written <= int(final.start * RATE)  # nothing of the utterance was written before its final
    recorded, rate = read_wav(tmp_path / "call-1.wav")
    assert rate == RATE and recorded.shape == audio.shape  # the whole call, at the end
    card = [w for w in final.words if w.text.isdigit()]
    a, b = int(card[0].start * RATE), int(card[-1].end * RATE)
    assert not recorded[a:b].any()  # silenced (with a margin either side)
    np.testing.assert_array_equal(recorded[: int(final.start * RATE) - 8000], audio[: int(final.start * RATE) - 8000])
    first_word_end = int(final.words[0].end * RATE)
    np.testing.assert_array_equal(recorded[: first_word_end - 4000], audio[: first_word_end - 4000])


def test_a_secure_pause_is_a_row_of_the_csv(tmp_path: Path) -> None:
    speech = StandInSpeech(partials=False)

    async def scenario() -> Harness:
        await speech.load()
        h = Harness(tmp_path, speech, PAYMENT)
        h.feed(_call(_silence(0.5), _speech(), _silence(1.5)))
        h.core.submit_gap(0, "paused")
        h.core.submit_gap(3 * RATE, "resumed")  # 3 s of the call had no audio
        h.feed(_call(_speech(), _silence(1.5)))
        await h.core.finish()
        return h

    try:
        frame = run(scenario()).csv()
    finally:
        speech.close()
    pause = frame[frame["text"] == PAUSE_TEXT]
    assert len(pause) == 1
    row = pause.iloc[0]
    assert row["speaker"] == "" and row["end"] - row["start"] == pytest.approx(3.0)
    spoken = frame[frame["text"] != PAUSE_TEXT]
    assert list(frame["text"]).index(PAUSE_TEXT) == 1 and len(spoken) == 2  # between the two utterances


def test_a_redactor_that_fails_withholds_the_text_and_silences_the_audio(
    tmp_path: Path, speech: StandInSpeech, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("redactor bug")

    monkeypatch.setattr(CallRedactor, "redact", broken)

    async def scenario() -> tuple[Harness, npt.NDArray[np.int16]]:
        await speech.load()
        h = Harness(tmp_path, speech, PAYMENT)
        audio = _call(_silence(0.5), _speech(), _silence(1.5))
        h.feed(audio)
        await h.core.finish()
        return h, audio

    h, audio = run(scenario())
    assert list(h.csv()["text"]) == [REDACTION_FAILED]
    recorded, _ = read_wav(tmp_path / "call-1.wav")
    final = h.finals[0]
    assert not recorded[int(final.start * RATE) : int(final.end * RATE)].any()
    assert recorded.shape == audio.shape


def test_a_card_read_across_a_pause_is_held_and_redacted_in_both_utterances(tmp_path: Path) -> None:
    # No cue anywhere: only the whole number, Luhn-valid, says the first half was a card.
    speech = StandInSpeech(scripted=("it's 4539 1488", "then 0343 6467 ok"), partials=False)
    try:
        h = streamed(tmp_path, speech, PAYMENT, _two_utterances())
    finally:
        speech.close()
    assert list(h.csv()["text"])[:2] == ["it's [CARD_NUMBER]", "then [CARD_NUMBER] ok"]
    assert "4539" not in h.csv().to_csv()
    assert [u.text for u in h.finals[:2]] == ["it's 4539 1488", "then 0343 6467 ok"]  # events: not in this policy
    recorded, _ = read_wav(tmp_path / "call-1.wav")
    for final in h.finals[:2]:
        digits = [w for w in final.words if w.text.isdigit()]
        assert not recorded[int(digits[0].start * RATE) : int(digits[-1].end * RATE)].any()


def test_a_held_utterance_goes_out_when_its_speaker_says_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audiohook_server.calls.core.HOLD_WALL_S", 0.3)
    speech = StandInSpeech(scripted=("it's 4539 1488",), partials=False)

    async def scenario() -> tuple[Harness, int]:
        await speech.load()
        h = Harness(tmp_path, speech, PAYMENT)
        h.feed(_call(_silence(0.5), _speech(), _silence(1.5)))
        for _ in range(50):  # the call stays open; nothing else is said
            await asyncio.sleep(0.1)
            if h.finals:
                break
        sent_while_open = len(h.finals)
        await h.core.finish()
        return h, sent_while_open

    try:
        h, sent_while_open = run(scenario())
    finally:
        speech.close()
    assert sent_while_open == 1
    # Eight digits nothing names stay as said: only a whole number that checks out, or a cue, makes a card.
    assert list(h.csv()["text"]) == ["it's 4539 1488"]
