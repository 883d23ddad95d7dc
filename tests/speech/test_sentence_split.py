"""A final is cut after each sentence its speaker then paused for (speech/sentence_split.py): pure
logic over the transcript's words and the VAD's voiced runs. The real greeting ("Hi." / "Thanks for
contacting the store." / "How can I help you?", 0.4 s apart) is streamed through both dialects in
tests/server/test_genesys_door.py and test_simple_door.py."""

from __future__ import annotations

import numpy as np
import pytest

from audiohook_server.speech.pipeline import FinalAudio
from audiohook_server.speech.sentence_split import sentence_parts
from audiohook_server.speech.transcriber import Transcription
from protocol.events import Word

RATE = 8000
PAUSE_S = 0.3


def utterance(start_s: float, length_s: float, voiced_s: list[tuple[float, float]]) -> FinalAudio:
    """Audio from start_s on (stream seconds), each sample its own index, voiced where `voiced_s` says
    (seconds into the audio)."""
    samples = np.arange(int(length_s * RATE), dtype=np.int16)
    first = int(start_s * RATE)
    runs = tuple((first + int(a * RATE), first + int(b * RATE)) for a, b in voiced_s)
    return FinalAudio(1, 4, samples, first, first + len(samples), False, runs)


def said(*words: tuple[str, float, float, float]) -> Transcription:
    return Transcription(" ".join(w[0] for w in words), tuple(Word(*w) for w in words), 0.8, "en")


GREETING = said(
    ("Hi.", 0.0, 0.5, 0.9),
    ("Thanks", 0.6, 0.9, 0.7),
    ("for", 0.9, 1.0, 0.7),
    ("calling.", 1.0, 1.8, 0.7),
    ("How", 2.3, 2.5, 0.5),
    ("can", 2.5, 2.6, 0.5),
    ("I", 2.6, 2.7, 0.5),
    ("help?", 2.7, 3.2, 0.5),
)


def test_each_sentence_followed_by_a_pause_is_its_own_part() -> None:
    out = utterance(10.0, 3.5, [(0.1, 0.45), (0.85, 1.7), (2.2, 3.1)])
    parts = sentence_parts(out, GREETING, RATE, PAUSE_S)
    assert [t.text for _, t in parts] == ["Hi.", "Thanks for calling.", "How can I help?"]
    assert [(a.part, a.last_part) for a, _ in parts] == [(0, False), (1, False), (2, True)]
    cuts = [int(10.0 * RATE + c * RATE) for c in ((0.45 + 0.85) / 2, (1.7 + 2.2) / 2)]
    assert [(a.start_sample, a.end_sample) for a, _ in parts] == [
        (out.start_sample, cuts[0]),
        (cuts[0], cuts[1]),
        (cuts[1], out.end_sample),
    ]
    for audio, text in parts:  # each part's audio is the utterance's at its positions
        assert audio.channel == 1 and audio.utterance == 4
        first = audio.start_sample - out.start_sample
        assert np.array_equal(audio.samples, out.samples[first : first + len(audio.samples)])
        assert all(audio.start_sample <= a < b <= audio.end_sample for a, b in audio.voiced)
        # word times are from the start of the part's own audio again
        assert text.words[0].start == pytest.approx(
            GREETING.words[[w.text for w in GREETING.words].index(text.words[0].text)].start - first / RATE
        )
    assert [t.confidence for _, t in parts] == pytest.approx([0.9, 0.7, 0.5])
    assert sum(len(a.samples) for a, _ in parts) == len(out.samples)


def test_a_sentence_end_with_a_short_pause_is_not_a_cut() -> None:
    out = utterance(0.0, 3.5, [(0.1, 0.45), (0.65, 1.7), (1.9, 3.1)])  # 0.2 s pauses
    assert sentence_parts(out, GREETING, RATE, PAUSE_S) == [(out, GREETING)]


def test_a_pause_without_a_sentence_end_is_not_a_cut() -> None:
    text = said(("Hi,", 0.0, 0.5, 0.9), ("David", 0.6, 1.2, 0.9), ("here.", 1.3, 1.8, 0.9))
    out = utterance(0.0, 2.0, [(0.1, 0.45), (0.9, 1.7)])
    assert sentence_parts(out, text, RATE, PAUSE_S) == [(out, text)]


@pytest.mark.parametrize("title", ["Mr.", "Dr.", "B."])
def test_an_abbreviation_is_not_a_sentence_end(title: str) -> None:
    text = said(("Ask", 0.0, 0.4, 0.9), ("for", 0.4, 0.6, 0.9), (title, 0.6, 1.0, 0.9), ("Jones.", 1.6, 2.2, 0.9))
    out = utterance(0.0, 2.5, [(0.1, 1.0), (1.5, 2.2)])
    assert sentence_parts(out, text, RATE, PAUSE_S) == [(out, text)]


def test_a_one_word_answer_is_a_sentence() -> None:
    text = said(("No.", 0.0, 0.5, 0.9), ("Not", 1.0, 1.3, 0.9), ("today.", 1.3, 1.9, 0.9))
    out = utterance(0.0, 2.2, [(0.1, 0.4), (0.95, 1.9)])
    assert [t.text for _, t in sentence_parts(out, text, RATE, PAUSE_S)] == ["No.", "Not today."]


def test_the_pause_must_lie_between_the_two_words() -> None:
    # the only long pause is inside the second sentence, not after the first
    text = said(("Yes.", 0.0, 0.4, 0.9), ("I", 0.5, 0.6, 0.9), ("think", 0.6, 0.9, 0.9), ("so.", 1.5, 1.9, 0.9))
    out = utterance(0.0, 2.2, [(0.05, 0.42), (0.5, 0.9), (1.5, 1.9)])
    assert sentence_parts(out, text, RATE, PAUSE_S) == [(out, text)]


def test_words_not_found_in_the_text_are_never_cut_around() -> None:
    text = Transcription("Hi there. Thanks.", (Word("Hi.", 0.0, 0.5, 0.9), Word("Thanks.", 1.0, 1.5, 0.9)), 0.9, "en")
    out = utterance(0.0, 2.0, [(0.1, 0.45), (1.0, 1.5)])
    assert sentence_parts(out, text, RATE, PAUSE_S) == [(out, text)]


def test_a_final_without_words_is_left_whole() -> None:
    text = Transcription("Hi. Thanks.", (), 0.9, "en")
    out = utterance(0.0, 2.0, [(0.1, 0.45), (1.0, 1.5)])
    assert sentence_parts(out, text, RATE, PAUSE_S) == [(out, text)]
