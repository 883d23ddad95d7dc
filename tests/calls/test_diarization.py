"""The clustering logic of calls.diarization over made-up speaker vectors: voices are points on the
unit sphere, utterances are noisy copies of them. A unit test of the logic above the model (the
real model's vectors are tests/speech/test_voice_embedding.py's and the benchmark's)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from audiohook_server.calls.diarization import (
    DiarizationConfig,
    SpeakerTracker,
    change_point,
    change_points,
    recluster,
    speaker_label,
)

RNG = np.random.default_rng(7)
DIM = 64


def _voice() -> npt.NDArray[np.float32]:
    v = RNG.normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _utterance(voice: npt.NDArray[np.float32], noise: float = 0.3) -> npt.NDArray[np.float32]:
    """A vector about 0.95 cosine from its voice, 0.9 from another of its utterances (two voices are
    about 0 from each other)."""
    v = voice + RNG.normal(size=DIM) * noise / np.sqrt(DIM)
    unit: npt.NDArray[np.float32] = (v / np.linalg.norm(v)).astype(np.float32)
    return unit


def test_labels_count_from_one() -> None:
    assert [speaker_label(i) for i in range(3)] == ["speaker_1", "speaker_2", "speaker_3"]
    assert speaker_label(1, "agent") == "agent_2"


def test_each_voice_gets_its_own_label_online() -> None:
    a, b, c = _voice(), _voice(), _voice()
    tracker = SpeakerTracker()
    order = [a, b, a, b, c, a, c, b]
    labels = [tracker.assign(_utterance(v), 2.0).label for v in order]
    assert labels == [
        "speaker_1",
        "speaker_2",
        "speaker_1",
        "speaker_2",
        "speaker_3",
        "speaker_1",
        "speaker_3",
        "speaker_2",
    ]
    assert tracker.speakers == ["speaker_1", "speaker_2", "speaker_3"]


def test_a_short_utterance_does_not_start_a_speaker() -> None:
    """ "Yes" says too little about a voice: it joins the nearest known speaker instead."""
    a, b = _voice(), _voice()
    tracker = SpeakerTracker()
    tracker.assign(_utterance(a), 3.0)
    short = tracker.assign(_utterance(b), 0.4)
    assert short.label == "speaker_1" and not short.new
    assert tracker.assign(_utterance(b), 2.0).new


def test_max_speakers_bounds_the_labels() -> None:
    tracker = SpeakerTracker(DiarizationConfig(max_speakers=2))
    labels = {tracker.assign(_utterance(_voice()), 2.0).label for _ in range(5)}
    assert labels == {"speaker_1", "speaker_2"}


def test_confidence_grows_with_the_margin() -> None:
    a, b = _voice(), _voice()
    tracker = SpeakerTracker()
    tracker.assign(_utterance(a), 3.0)
    far = tracker.assign(_utterance(b), 3.0)
    aside = RNG.normal(size=DIM)
    aside -= (aside @ a) * a
    near = 0.74 * a + np.sqrt(1 - 0.74**2) * aside / np.linalg.norm(aside)  # just unlike a: a new voice?
    close = tracker.assign(near.astype(np.float32), 2.0)
    assert far.new and close.new
    assert 0.5 <= close.confidence < far.confidence <= 1.0


def test_a_change_of_speaker_inside_an_utterance_is_found() -> None:
    a, b = _voice(), _voice()
    tracker = SpeakerTracker()
    tracker.assign(_utterance(a), 3.0)
    tracker.assign(_utterance(b), 3.0)
    config = DiarizationConfig()
    windows = [_utterance(a) for _ in range(3)] + [_utterance(b) for _ in range(2)]
    assert change_point(windows, tracker, config) == 3
    assert change_point([_utterance(a) for _ in range(5)], tracker, config) is None
    # Nobody known yet: two halves as different as two voices still split.
    assert change_point([_utterance(a), _utterance(a), _utterance(b)], SpeakerTracker(), config) == 2
    assert change_point([_utterance(a)], tracker, config) is None


def test_every_change_in_several_joined_turns_is_found() -> None:
    """Turns the VAD joined (a, b, a): both changes, in order."""
    a, b = _voice(), _voice()
    tracker = SpeakerTracker()
    tracker.assign(_utterance(a), 3.0)
    tracker.assign(_utterance(b), 3.0)
    windows = [_utterance(v) for v in (a, a, b, b, b, a, a)]
    assert change_points(windows, tracker, DiarizationConfig()) == [2, 5]
    assert change_points(windows, tracker, DiarizationConfig(), most=1) in ([2], [5])
    assert change_points([_utterance(a) for _ in range(6)], tracker, DiarizationConfig()) == []


def test_reclustering_corrects_what_the_online_labels_got_wrong() -> None:
    a, b = _voice(), _voice()
    voices = [a, b] * 6
    vectors = [_utterance(v) for v in voices]
    online = ["speaker_1", "speaker_2"] * 6
    online[4] = "speaker_2"  # an early mistake (an a on b)
    online[7] = "speaker_1"  # and a b on a
    final = recluster(vectors, [2.0] * 12, online, DiarizationConfig())
    assert final == ["speaker_1", "speaker_2"] * 6, "named after the labels most of each cluster had"


def test_short_utterances_join_the_nearest_cluster_after_it() -> None:
    a, b = _voice(), _voice()
    vectors = [_utterance(a), _utterance(b), _utterance(a), _utterance(b), _utterance(b, noise=0.6)]
    final = recluster(
        vectors,
        [2.0, 2.0, 2.0, 2.0, 0.3],
        ["speaker_1", "speaker_2", "speaker_1", "speaker_2", "speaker_1"],
        DiarizationConfig(),
    )
    assert final == ["speaker_1", "speaker_2", "speaker_1", "speaker_2", "speaker_2"]


def test_a_voice_the_live_labels_merged_gets_a_new_label() -> None:
    a, b, c = _voice(), _voice(), _voice()
    vectors = [_utterance(v) for v in (a, b, c, a, b, c, a, b, c)]
    online = ["speaker_1", "speaker_2", "speaker_2"] * 3  # c was taken for b all along
    seconds = [2.0, 3.0, 2.0] * 3  # b spoke longer: it keeps speaker_2
    final = recluster(vectors, seconds, online, DiarizationConfig())
    assert final == ["speaker_1", "speaker_2", "speaker_3"] * 3


def test_labels_the_clusters_dropped_are_reused_lowest_first() -> None:
    a, b = _voice(), _voice()
    vectors = [_utterance(v) for v in (a, b, a, b)]
    final = recluster(vectors, [2.0, 3.0, 2.0, 3.0], ["speaker_3"] * 4, DiarizationConfig())
    assert final == ["speaker_1", "speaker_3", "speaker_1", "speaker_3"]


def test_reclustering_never_exceeds_max_speakers() -> None:
    vectors = [_utterance(_voice()) for _ in range(6)]
    final = recluster(vectors, [2.0] * 6, [f"speaker_{i + 1}" for i in range(6)], DiarizationConfig(max_speakers=3))
    assert len(set(final)) <= 3


def test_standardized_vectors_compare_their_spread_not_their_offset() -> None:
    """Classical features share a large offset (the channel); standardising over the call removes it."""
    offset = np.full(DIM, 5.0, dtype=np.float32)
    a, b = _voice(), _voice()
    vectors = [offset + _utterance(v, noise=0.1) for v in (a, b) * 10]
    truth = ["a", "b"] * 10
    plain = recluster(vectors, [2.0] * 20, ["speaker_1"] * 20, DiarizationConfig())
    assert set(plain) == {"speaker_1"}, "without standardising, every vector is the offset"
    final = recluster(vectors, [2.0] * 20, ["speaker_1"] * 20, DiarizationConfig(), standardize=True)
    agree = sum(1 for x, y in zip(final, truth, strict=True) if x == final[truth.index(y)])
    assert agree >= 18 and final[0] != final[1]
