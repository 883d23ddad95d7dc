"""Conversation dynamics of one call (analysis.dynamics): hand-built spans with known answers."""

from __future__ import annotations

import json
import math
import random

import pytest

from analysis.dynamics import DynamicsNotice, DynamicsTracker, SpokenSpan


def span(speaker: str, start: float, end: float, words: int = 5, *, hold: bool = False) -> SpokenSpan:
    return SpokenSpan(speaker, start, end, words, text="", hold_announced=hold)


def track(spans: list[SpokenSpan], basis: str = "channels") -> DynamicsTracker:
    tracker = DynamicsTracker(basis)
    for s in spans:
        tracker.add(s)
    return tracker


def speaker_stats(tracker: DynamicsTracker, name: str) -> dict[str, object]:
    speakers = tracker.snapshot()["speakers"]
    assert isinstance(speakers, dict)
    stats = speakers[name]
    assert isinstance(stats, dict)
    return stats


# A call with a bit of everything, for the order and JSON tests.
CALL: list[SpokenSpan] = [
    span("agent", 0.0, 3.0, 8),
    span("customer", 3.5, 9.0, 14),
    span("agent", 8.0, 12.0, 10),  # cuts in 1.0 s before the customer stops
    span("customer", 10.0, 10.4, 1),  # "okay": back-channel
    span("customer", 13.0, 15.0, 6),
    span("agent", 15.5, 18.0, 9, hold=True),
    span("customer", 18.2, 18.6, 1),
    span("agent", 48.6, 52.0, 10),  # back from a 30 s hold
    span("agent", 50.0, 50.0, 0),  # noise
    span("customer", 52.5, 55.0, 7),
    span("agent", 70.0, 72.0, 6),  # 15 s of dead air
    span("customer", 71.95, 74.0, 5),  # 0.05 s overlap
    span("agent", 75.0, 79.0, 12),
]


def test_talk_share_rate_and_turns() -> None:
    tracker = track(
        [
            span("customer", 0.0, 4.0, 10),
            span("customer", 3.0, 6.0, 5),  # overlaps the customer's own span: the union counts once
            span("agent", 7.0, 10.0, 9),
        ]
    )
    assert tracker.speakers == ("agent", "customer")
    assert speaker_stats(tracker, "customer") == {
        "talk_s": 6.0,
        "talk_share": 0.6667,
        "words": 15,
        "speech_rate_wpm": 150.0,
        "turns": 2,
        "interruptions": 0,
    }
    assert speaker_stats(tracker, "agent") == {
        "talk_s": 3.0,
        "talk_share": 0.3333,
        "words": 9,
        "speech_rate_wpm": 180.0,
        "turns": 1,
        "interruptions": 0,
    }
    assert tracker.talk_share("customer") == pytest.approx(2 / 3)
    assert tracker.talk_share("nobody") == 0.0
    assert DynamicsTracker().talk_share("agent") == 0.0


def test_zero_word_spans_are_not_talk() -> None:
    tracker = track([span("agent", 0.0, 2.0, 4), span("customer", 2.0, 30.0, 0), span("agent", 40.0, 41.0, 2)])
    assert tracker.speakers == ("agent",)
    snap = tracker.snapshot()
    assert snap["non_talk_s"] == 38.0
    assert snap["longest_silence_s"] == 38.0


def test_overtalk_seconds_and_stretches() -> None:
    tracker = track(
        [
            span("agent", 0.0, 5.0),
            span("customer", 4.0, 6.0),  # 1.0 s overlap
            span("agent", 7.0, 10.0),
            span("customer", 9.95, 12.0),  # 0.05 s: time, but not a stretch
        ]
    )
    snap = tracker.snapshot()
    assert snap["overtalk_s"] == 1.05
    assert snap["overtalk_count"] == 1
    assert snap["overtalk_measured"] is True


def test_overtalk_of_three_speakers_is_one_stretch() -> None:
    tracker = track(
        [span("speaker_1", 0.0, 4.0), span("speaker_2", 1.0, 2.5), span("speaker_3", 2.0, 3.0)],
        basis="speakers",
    )
    snap = tracker.snapshot()
    assert snap["overtalk_s"] == 2.0  # [1, 3]: two or more talking
    assert snap["overtalk_count"] == 1
    assert snap["overtalk_measured"] is False


def test_interruption_versus_back_channel_and_short_overlap() -> None:
    tracker = DynamicsTracker()
    tracker.add(span("agent", 0.0, 10.0, 20))
    assert tracker.add(span("customer", 2.0, 2.5, 1)) == []  # "yeah": back-channel
    assert tracker.add(span("customer", 4.0, 4.6, 2)) == []  # "okay sure": still a back-channel
    notices = tracker.add(span("customer", 5.0, 8.0, 4))
    assert notices == [
        DynamicsNotice("interruption", 5.0, 8.0, ("customer", "agent"), "customer interrupted agent (3.0 s overlap)")
    ]
    assert tracker.add(span("customer", 9.8, 12.0, 5)) == []  # 0.2 s overlap: turn-taking
    snap = tracker.snapshot()
    assert snap["interruptions"] == [{"at": 5.0, "by": "customer", "of": "agent", "overlap_s": 3.0}]
    assert speaker_stats(tracker, "customer")["interruptions"] == 1
    assert speaker_stats(tracker, "agent")["interruptions"] == 0


def test_interruption_overlap_is_up_to_the_earlier_end() -> None:
    # The interrupter stops first: the overlap is its own length.
    tracker = track([span("agent", 0.0, 6.0, 12), span("customer", 2.0, 3.0, 3)])
    assert tracker.snapshot()["interruptions"] == [{"at": 2.0, "by": "customer", "of": "agent", "overlap_s": 1.0}]
    # The interrupted speaker stops first: up to their end. 2.3 - 2.0 counts as 0.3 s.
    tracker = track([span("agent", 0.0, 2.3, 5), span("customer", 2.0, 4.0, 6)])
    assert tracker.snapshot()["interruptions"] == [{"at": 2.0, "by": "customer", "of": "agent", "overlap_s": 0.3}]


def test_a_span_of_under_a_second_is_a_back_channel_whatever_its_words() -> None:
    # Whisper writes one "right" as "Right. Right. Right." at times: 0.7 s cannot take the floor
    tracker = track([span("agent", 0.0, 6.0, 12), span("customer", 2.0, 2.7, 3)])
    assert tracker.snapshot()["interruptions"] == []
    assert tracker.snapshot()["overtalk_s"] == 0.7  # still both talking at once


def test_same_start_is_not_an_interruption() -> None:
    tracker = track([span("agent", 1.0, 5.0, 9), span("customer", 1.0, 4.0, 9)])
    assert tracker.snapshot()["interruptions"] == []
    assert tracker.snapshot()["overtalk_s"] == 3.0


def test_silences_dead_air_and_hold() -> None:
    tracker = track(
        [
            span("customer", 0.0, 5.0, 10),
            span("agent", 6.0, 9.0, 8, hold=True),  # "let me put you on hold"
            span("customer", 20.0, 20.0, 0),  # hold music: not talk
            span("agent", 39.0, 42.0, 8),  # back after 30 s
            span("customer", 46.0, 48.0, 5),  # after 4 s of dead air
        ]
    )
    snap = tracker.snapshot()
    assert snap["silences"] == [
        {"start": 9.0, "end": 39.0, "duration_s": 30.0, "hold": True},
        {"start": 42.0, "end": 46.0, "duration_s": 4.0, "hold": False},
    ]
    assert snap["holds"] == [{"start": 9.0, "end": 39.0, "duration_s": 30.0}]
    assert snap["hold_s"] == 30.0
    assert snap["dead_air_s"] == 4.0
    assert snap["non_talk_s"] == 35.0  # 1 + 30 + 4
    assert snap["longest_silence_s"] == 30.0
    assert snap["longest_silence_start"] == 9.0


def test_hold_needs_announcement_within_window_and_five_seconds() -> None:
    short = track([span("agent", 0.0, 2.0, 6, hold=True), span("agent", 6.0, 8.0, 6)])
    assert short.snapshot()["holds"] == []  # 4 s: a silence, not a hold
    assert short.snapshot()["dead_air_s"] == 4.0

    late = track(
        [
            span("agent", 0.0, 2.0, 6, hold=True),
            span("customer", 2.5, 14.0, 30),  # the customer talks on: the hold window passes
            span("agent", 30.0, 32.0, 6),
        ]
    )
    assert late.snapshot()["holds"] == []
    assert late.snapshot()["dead_air_s"] == 16.0

    via_ok = track(
        [
            span("agent", 0.0, 2.0, 6, hold=True),
            span("customer", 2.5, 3.0, 1),  # "okay", then the hold
            span("agent", 20.0, 22.0, 6),
        ]
    )
    assert via_ok.snapshot()["holds"] == [{"start": 3.0, "end": 20.0, "duration_s": 17.0}]

    customer_says_hold = track([span("customer", 0.0, 2.0, 6, hold=True), span("agent", 20.0, 22.0, 6)])
    assert customer_says_hold.snapshot()["holds"] == []  # stereo: only the agent puts on hold
    mono = track([span("speaker_2", 0.0, 2.0, 6, hold=True), span("speaker_1", 20.0, 22.0, 6)], "speakers")
    assert mono.snapshot()["holds"] == [{"start": 2.0, "end": 20.0, "duration_s": 18.0}]


def test_no_speech_gives_empty_figures() -> None:
    snap = DynamicsTracker().snapshot()
    assert snap["speakers"] == {}
    assert snap["longest_silence_s"] == 0.0
    assert snap["longest_silence_start"] is None
    assert snap["response_latency_s"] == {"mean": None, "max": None, "count": 0}
    assert DynamicsTracker().latency() == (None, 0)


def test_response_latency() -> None:
    tracker = track(
        [
            span("customer", 0.0, 2.0),
            span("agent", 2.5, 4.0),  # 0.5
            span("customer", 5.0, 7.0),
            span("agent", 6.5, 8.0),  # overlapping start: not counted
            span("customer", 9.0, 10.0),
            span("agent", 21.0, 22.0),  # 11 s: a silence, not a response
            span("customer", 23.0, 24.0),
            span("customer", 24.5, 25.0),  # customer to customer: not a response
            span("agent", 26.5, 27.0),  # 1.5
        ]
    )
    assert tracker.snapshot()["response_latency_s"] == {"mean": 1.0, "max": 1.5, "count": 2}
    assert tracker.latency() == (1.0, 2)


def test_latency_across_a_hold_is_not_a_response() -> None:
    tracker = track(
        [
            span("customer", 0.0, 2.0),
            span("agent", 2.4, 4.0, 8, hold=True),  # 0.4
            span("customer", 4.5, 5.0, 1),
            span("agent", 13.0, 15.0),  # after an 8 s hold
        ]
    )
    snap = tracker.snapshot()
    assert snap["holds"] == [{"start": 5.0, "end": 13.0, "duration_s": 8.0}]
    assert snap["response_latency_s"] == {"mean": 0.4, "max": 0.4, "count": 1}


def test_latency_on_mono_calls() -> None:
    generic = track([span("speaker_1", 0.0, 2.0), span("speaker_2", 3.0, 4.0), span("speaker_1", 4.5, 6.0)], "speakers")
    assert generic.snapshot()["response_latency_s"] == {"mean": 0.75, "max": 1.0, "count": 2}
    roles = track([span("customer", 0.0, 2.0), span("agent", 3.0, 4.0), span("customer", 4.5, 6.0)], "speakers")
    assert roles.snapshot()["response_latency_s"] == {"mean": 1.0, "max": 1.0, "count": 1}


def test_full_call_snapshot() -> None:
    snap = track(CALL).snapshot()
    assert snap["interruptions"] == [{"at": 8.0, "by": "agent", "of": "customer", "overlap_s": 1.0}]
    assert snap["overtalk_s"] == 1.45  # [8, 9], the "okay" under the agent (0.4) and 0.05 s
    assert snap["overtalk_count"] == 2  # the 0.05 s does not count
    assert snap["holds"] == [{"start": 18.6, "end": 48.6, "duration_s": 30.0}]
    assert snap["dead_air_s"] == 15.0
    assert snap["non_talk_s"] == 48.7  # 0.5 + 1 + 0.5 + 0.2 + 30 + 0.5 + 15 + 1
    assert snap["response_latency_s"] == {"mean": 0.75, "max": 1.0, "count": 2}  # 13-15 to 15.5, 71.95-74 to 75


def test_out_of_order_arrival_gives_the_same_snapshot() -> None:
    expected = track(CALL).snapshot()
    rng = random.Random(7)
    for _ in range(20):
        shuffled = list(CALL)
        rng.shuffle(shuffled)
        assert track(shuffled).snapshot() == expected
    assert track(list(reversed(CALL))).snapshot() == expected


def test_garbage_times_are_clamped() -> None:
    tracker = DynamicsTracker()
    tracker.add(span("customer", -3.0, 2.0, 4))  # -> [0, 2]
    tracker.add(span("agent", 5.0, 4.0, 3))  # inverted -> zero length at 5
    tracker.add(span("agent", math.nan, math.nan, 2))  # -> zero length at 0
    tracker.add(span("agent", 6.0, math.inf, 3))  # -> zero length at 6
    tracker.add(span("customer", math.nan, 1.0, 2))  # -> [0, 1]
    tracker.add(span("agent", 8.0, 10.0, -4))  # negative words: nothing
    snap = tracker.snapshot()
    assert speaker_stats(tracker, "customer")["talk_s"] == 2.0
    assert speaker_stats(tracker, "agent") == {
        "talk_s": 0.0,
        "talk_share": 0.0,
        "words": 8,
        "speech_rate_wpm": 0.0,
        "turns": 3,
        "interruptions": 0,
    }
    assert snap["non_talk_s"] == 0.0
    json.dumps(snap, allow_nan=False)


def test_unknown_basis_is_refused() -> None:
    with pytest.raises(ValueError, match="basis"):
        DynamicsTracker("stereo")


def test_snapshot_is_json_serialisable() -> None:
    snap = track(CALL).snapshot()
    text = json.dumps(snap, allow_nan=False)
    assert json.loads(text) == snap
    assert list(snap) == [
        "basis",
        "speakers",
        "overtalk_s",
        "overtalk_count",
        "overtalk_measured",
        "interruptions",
        "non_talk_s",
        "dead_air_s",
        "longest_silence_s",
        "longest_silence_start",
        "silences",
        "holds",
        "hold_s",
        "response_latency_s",
    ]


def test_notices_are_reported_once() -> None:
    tracker = DynamicsTracker()
    assert tracker.add(span("customer", 0.0, 2.0)) == []
    # dead air closed by the agent
    assert tracker.add(span("agent", 14.0, 16.0)) == [
        DynamicsNotice("dead_air", 2.0, 14.0, ("agent",), "12.0 s of dead air")
    ]
    # a late customer span shortens that silence to 11 s; a span closing it again is not news
    assert tracker.add(span("customer", 1.0, 3.0)) == []
    assert tracker.add(span("agent", 14.0, 15.0)) == []
    # shorter dead air: a silence, no notice
    assert tracker.add(span("customer", 20.0, 22.0)) == []
    # a hold, announced and closed
    assert tracker.add(span("agent", 22.5, 25.0, 8, hold=True)) == []
    assert tracker.add(span("agent", 31.0, 36.0)) == [DynamicsNotice("hold", 25.0, 31.0, ("agent",), "6.0 s on hold")]
    # the interrupted speech arrives after the interruption: found then, and only then
    assert tracker.add(span("customer", 41.0, 44.0, 6)) == []
    assert tracker.add(span("agent", 40.0, 42.0, 9)) == [
        DynamicsNotice("interruption", 41.0, 42.0, ("customer", "agent"), "customer interrupted agent (1.0 s overlap)")
    ]
    assert tracker.add(span("agent", 41.5, 43.0, 2)) == []  # the overlap grows to 2.0 s: not a new event
    snap = tracker.snapshot()
    assert snap["interruptions"] == [{"at": 41.0, "by": "customer", "of": "agent", "overlap_s": 2.0}]
    assert snap["silences"] == [
        {"start": 3.0, "end": 14.0, "duration_s": 11.0, "hold": False},
        {"start": 16.0, "end": 20.0, "duration_s": 4.0, "hold": False},
        {"start": 25.0, "end": 31.0, "duration_s": 6.0, "hold": True},
        {"start": 36.0, "end": 40.0, "duration_s": 4.0, "hold": False},
    ]


def test_a_silence_ended_by_thanks_for_holding_is_a_hold_announced_or_not() -> None:
    back = SpokenSpan("agent", 23.0, 26.0, 10, text="Thanks for holding.", hold_returned=True)
    tracker = track([span("agent", 0.0, 2.0, 6), span("customer", 2.5, 3.0, 1), back])
    assert tracker.snapshot()["holds"] == [{"start": 3.0, "end": 23.0, "duration_s": 20.0}]
    assert tracker.snapshot()["dead_air_s"] == 0.0
    # the customer breaking the silence first: that silence was not ended by the agent's return
    early = track([span("agent", 0.0, 2.0, 6), span("customer", 12.0, 13.0, 2), back])
    assert early.snapshot()["holds"] == [{"start": 13.0, "end": 23.0, "duration_s": 10.0}]


def test_live_talk_spans_read_a_return_from_hold() -> None:
    from analysis.live import talk_spans

    (only,) = talk_spans("agent", 20.0, 23.0, 8, (), "Thanks for holding.", hold_returned=True)
    assert only.hold_returned and not only.hold_announced
