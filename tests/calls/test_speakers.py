"""One call's diarization (calls.speakers) on the real GE2E model and the scripted dialogue's real
audio (eSpeak m3 agent, f3 customer): finals labelled as they come, a final holding both voices cut
between them, the end of the call's corrections and description. The word times are the script's
turns spread evenly (the transcription is not what is tested here)."""

from __future__ import annotations

import functools
import json

import numpy as np
import numpy.typing as npt

from audiohook_server.calls.diarization import DiarizationConfig
from audiohook_server.calls.speakers import CallSpeakers, diarized_channels
from audiohook_server.speech.pipeline import FinalAudio
from audiohook_server.speech.transcriber import Transcription
from audiohook_server.speech.voice_embedding import Ge2eEmbedder
from protocol.events import Word
from tests.speech_fixtures import DIALOGUE, read_pcm16

RATE = 16000


@functools.cache
def _embedder() -> Ge2eEmbedder:
    return Ge2eEmbedder()


@functools.cache
def _call() -> tuple[npt.NDArray[np.int16], list[dict[str, object]]]:
    samples, rate = read_pcm16(DIALOGUE / "call_mono16k.wav")
    assert rate == RATE
    return samples, json.loads((DIALOGUE / "call.json").read_text())["turns"]


def _words(text: str, start: float, end: float) -> tuple[Word, ...]:
    said = text.split()
    step = (end - start) / len(said)
    return tuple(Word(w, start + i * step, start + (i + 0.8) * step, 0.9) for i, w in enumerate(said))


def _final(
    turns: list[int], utterance: int, gap_s: float = 0.0, keep_s: float | None = None
) -> tuple[FinalAudio, Transcription]:
    """The audio of the scripted `turns` as one final, joined with `gap_s` of silence between them
    (only the first `keep_s` of each, with its first words, when given)."""
    samples, script = _call()
    pieces: list[npt.NDArray[np.int16]] = []
    words: list[Word] = []
    texts: list[str] = []
    at = 0.0
    for index in turns:
        turn = script[index]
        a, b = int(float(str(turn["start"])) * RATE), int(float(str(turn["end"])) * RATE)
        text = str(turn["text"])
        if keep_s is not None:
            text = " ".join(text.split()[: max(1, round(len(text.split()) * keep_s * RATE / (b - a)))])
            b = a + int(keep_s * RATE)
        if pieces:
            pieces.append(np.zeros(int(gap_s * RATE), np.int16))
            at += gap_s
        pieces.append(samples[a:b])
        words += _words(text, at, at + (b - a) / RATE)
        texts.append(text)
        at += (b - a) / RATE
    audio = np.concatenate(pieces)
    start = utterance * 60 * RATE  # stream positions: one utterance a minute apart
    out = FinalAudio(0, utterance, audio, start, start + len(audio), False, ((start, start + len(audio)),))
    return out, Transcription(" ".join(texts), tuple(words), 0.9, "en")


def _speakers() -> CallSpeakers:
    return CallSpeakers(["unknown"], "auto", _embedder(), RATE, DiarizationConfig())


def test_which_channels_are_diarized() -> None:
    assert diarized_channels("auto", ["unknown"]) == [True]
    assert diarized_channels("auto", ["unknown", "unknown"]) == [False, False]  # a stereo upload: a party each
    assert diarized_channels("auto", ["customer", "agent"]) == [False, False]
    assert diarized_channels("on", ["customer", "agent"]) == [True, True]
    assert diarized_channels("off", ["unknown"]) == [False]
    assert not CallSpeakers(["customer", "agent"], "auto", _embedder(), RATE).active


def test_each_final_gets_its_voice_and_role() -> None:
    speakers = _speakers()
    seen = []
    for n, turn in enumerate(range(10)):
        ((_piece, said, choice),) = speakers.label(*_final([turn], n))
        speakers.sent(f"0-{n}", choice)
        seen.append((choice.speaker_id, choice.speaker))
        assert said.text and 0.5 <= choice.confidence <= 1 and choice.role_confidence is not None
    agent = [seen[i] for i in range(0, 10, 2)]
    customer = [seen[i] for i in range(1, 10, 2)]
    assert set(agent) == {("speaker_1", "agent")}
    assert set(customer) == {("speaker_2", "customer")}
    assert speakers.finish() == []
    described = speakers.describe()
    assert described["embedder"] == "ge2e" and described["splits"] == 0
    found = described["speakers"]
    assert isinstance(found, dict) and {v["role"] for v in found.values()} == {"agent", "customer"}
    assert speakers.final_choice("0-3") is not None and speakers.final_choice("0-3").speaker == "customer"  # type: ignore[union-attr]


def test_a_final_holding_both_voices_is_cut_between_them() -> None:
    speakers = _speakers()
    for n, turn in enumerate((0, 1, 2)):  # both voices known first
        ((_, _, choice),) = speakers.label(*_final([turn], n))
        speakers.sent(f"0-{n}", choice)
    out, transcription = _final([8, 9], 3, gap_s=0.1)  # the agent's offer, the customer's thanks
    pieces = speakers.label(out, transcription)
    assert len(pieces) == 2 and speakers.splits == 1
    (first, first_said, first_choice), (second, second_said, second_choice) = pieces
    assert first_said.text.startswith("Also, this month") and first_said.text.endswith("same price.")
    assert second_said.text == "That sounds great. Thanks a lot for your help."
    assert (first_choice.speaker, second_choice.speaker) == ("agent", "customer")
    assert first.end_sample == second.start_sample and first.start_sample == out.start_sample
    assert next(w.text for w in second_said.words) == "That" and second_said.words[0].start >= 0


def test_three_turns_joined_are_cut_twice() -> None:
    speakers = _speakers()
    for n, turn in enumerate((0, 1)):
        ((_, _, choice),) = speakers.label(*_final([turn], n))
        speakers.sent(f"0-{n}", choice)
    out, transcription = _final([4, 5, 6], 2, gap_s=0.1)  # agent, customer ("Okay. What happens next?"), agent
    pieces = speakers.label(out, transcription)
    assert [said.text.split()[0] for _, said, _ in pieces] == ["Thanks", "Okay.", "You"]
    assert [choice.speaker for _, _, choice in pieces] == ["agent", "customer", "agent"]
    assert speakers.splits == 2
    assert [p.start_sample for p, _, _ in pieces[1:]] == [p.end_sample for p, _, _ in pieces[:-1]]


def test_one_voice_is_not_cut() -> None:
    speakers = _speakers()
    ((_, _, _choice),) = speakers.label(*_final([0], 0))
    out, transcription = _final([2, 4], 1, gap_s=0.1)  # two agent turns
    assert len(speakers.label(out, transcription)) == 1 and speakers.splits == 0


def test_the_end_of_the_call_corrects_an_early_mistake() -> None:
    """A short first customer turn (0.7 s: too short to start a speaker) is taken for the agent live;
    the whole call puts it right and says so."""
    speakers = _speakers()
    ((_, _, choice),) = speakers.label(*_final([0], 0))
    speakers.sent("0-0", choice)
    ((_, _said, early),) = speakers.label(*_final([1], 1, keep_s=0.7))  # "Hi David. …"
    speakers.sent("0-1", early)
    assert (early.speaker_id, early.speaker) == ("speaker_1", "agent")
    for n, turn in enumerate(range(2, 10), start=2):
        ((_, _, choice),) = speakers.label(*_final([turn], n))
        speakers.sent(f"0-{n}", choice)
    corrections = speakers.finish()
    assert [c.to_json() for c in corrections] == [
        {
            "utterance_id": "0-1",
            "speaker": "customer",
            "speaker_id": "speaker_2",
            "previous_speaker": "agent",
            "previous_speaker_id": "speaker_1",
            "role_confidence": speakers.final_choice("0-1").role_confidence,  # type: ignore[union-attr]
        }
    ]
    assert speakers.final_choice("0-0").speaker == "agent"  # type: ignore[union-attr]
