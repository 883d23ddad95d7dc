"""Conversation dynamics of one call: who talked how much, over whom, and where nobody talked.

Why: sentiment and categories say what was said; a supervisor also needs to know how the call
*flowed*: an agent who talks over the customer, a customer left in dead air, a long unannounced
hold, slow answers. Those come from the timing of the final utterances alone, so they are computed
here, incrementally, as the utterances arrive, without audio, models or I/O. One ``DynamicsTracker``
serves one call (no threads). Its ``snapshot()`` is the JSON block the analysis reports; ``add()``
returns the events a live view may want to flag at once (``DynamicsNotice``).

Input: ``SpokenSpan`` per final utterance (speaker, start, end in seconds from the call start, word
count). The two channels of a stereo call are transcribed independently, so spans may arrive out of
order; every quantity below is a function of the *set* of spans, never of their arrival order
(notices aside, which are reported when first found). Times are cleaned before use: a non-finite
start becomes 0, a non-finite end becomes the start, negative times become 0 and an end before its
start becomes the start (a zero-length span: its words and turn count, it adds no time). A span of
zero words (music or noise on hold) is ignored entirely: it is not talk, it does not end a silence.
Below, "span" means a span of at least one word, and a speaker's *union* is the union of the time
intervals of that speaker's spans (touching intervals merged).

Definitions (seconds rounded to 3 decimals, shares to 4, in ``snapshot()``):

* ``talk_s`` (per speaker): total length of the speaker's union (a pause inside a span is talk).
  ``talk_share`` = talk_s / the sum of every speaker's talk_s (0 when nobody talked).
* ``words``: the speaker's words; ``speech_rate_wpm`` = 60 * words / talk_s (0 without talk);
  ``turns``: the number of the speaker's spans.
* overtalk: the time where at least two speakers' unions overlap. ``overtalk_s`` is its total
  length; ``overtalk_count`` the number of maximal overlapping stretches at least
  ``OVERTALK_MIN_STRETCH_S`` (0.1 s) long. ``overtalk_measured`` is true for basis "channels"; for
  "speakers" (one mono channel, diarized) it is false: diarization gives each moment to one speaker,
  so the figure (still computed from the spans) is usually 0 and says nothing about real overtalk.
* interruption: a span of speaker B, of more than ``BACK_CHANNEL_MAX_WORDS`` (2) words and longer than
  ``BACK_CHANNEL_MAX_S`` (0.8 s) (shorter ones, "yeah", "okay", "mm-hmm", are back-channels), that
  starts strictly inside an interval of another speaker A's union, with ``overlap_s`` = min(end of
  that A interval, B.end) - B.start at least ``INTERRUPTION_MIN_OVERLAP_S`` (0.3 s). Recorded as
  {at: B.start, by: B, of: A, overlap_s}; a speaker's ``interruptions`` counts the times they
  interrupted.
* gap: an interval between two consecutive intervals of the union of all speakers' spans, i.e. a
  time nobody talked, between the call's first and last speech. ``non_talk_s`` = total of all gaps.
  A *silence* is a gap of at least ``SILENCE_MIN_S`` (3 s); ``silences`` lists them
  {start, end, duration_s, hold}.
* hold: a gap of at least ``HOLD_MIN_S`` (5 s) that starts no more than ``HOLD_ANNOUNCE_WINDOW_S``
  (10 s) after the end of a span with ``hold_announced`` by the agent (basis "channels": speaker
  "agent"; basis "speakers": any speaker, since whoever announces a hold is the agent). It ends at
  the next span (a zero-word span, hold music, does not end it). ``holds`` lists them
  {start, end, duration_s}; ``hold_s`` is their total.
* ``dead_air_s``: total of the silences that are not holds. ``longest_silence_s`` /
  ``longest_silence_start``: the longest gap, holds included (the earliest of equals; 0.0 and null
  when there is no gap).
* response latency: take all spans in time order (start, end, speaker). For each consecutive pair
  (P, N) where P is the customer's and N the agent's (basis "channels", or "speakers" with role
  labels, i.e. some speaker is labelled "customer" or "agent"), or where P and N are of different
  speakers (basis "speakers" with generic labels such as "speaker_1"), the latency is
  N.start - P.end when 0 <= it <= ``RESPONSE_MAX_S`` (10 s; a longer gap is a silence, not a
  response; a negative one an overlapping start, not counted), unless that gap overlaps a hold.
  ``response_latency_s`` = {mean, max, count} (mean and max null when count is 0).

Threshold comparisons allow ``_EPS`` (1e-9 s), so that 2.3 - 2.0 counts as 0.3 s.

Notices (``add``): an interruption newly found with this span (as the interrupter, or as the speech
a previously arrived span cut into); a gap this span closes (this span starts the speech right after
it) that is a hold (kind "hold", speakers: who ended it) or a non-hold silence of at least
``DEAD_AIR_NOTICE_S`` (10 s, kind "dead_air"). Each event is reported once for the call: an
interruption is keyed by its interrupting span and the interrupted speaker, and a gap that overlaps
one already reported (a later span split or shortened it) is not reported again.

Cost: spans, per-speaker unions and the call's union are kept sorted with ``bisect``, so ``add`` is
a few list insertions plus a look at the spans its speaker's merged interval covers; ``snapshot``
recomputes the order-dependent figures in a few linear passes (cached until the next ``add``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

__all__ = [
    "BACK_CHANNEL_MAX_S",
    "BACK_CHANNEL_MAX_WORDS",
    "BASES",
    "DEAD_AIR_NOTICE_S",
    "HOLD_ANNOUNCE_WINDOW_S",
    "HOLD_MIN_S",
    "INTERRUPTION_MIN_OVERLAP_S",
    "OVERTALK_MIN_STRETCH_S",
    "RESPONSE_MAX_S",
    "ROLE_LABELS",
    "SILENCE_MIN_S",
    "DynamicsNotice",
    "DynamicsTracker",
    "SpokenSpan",
]

BASES: Final = ("channels", "speakers")
"""Stereo (one speaker per channel) or mono with diarized speakers."""
ROLE_LABELS: Final = frozenset({"customer", "agent"})
"""Speaker labels that name a role; with any of them, latency is the customer-to-agent one."""
BACK_CHANNEL_MAX_WORDS: Final = 2
# a span this short is a back-channel whatever its word count (Whisper writes one "right" as "Right.
# Right. Right." at times; nobody takes the floor in 0.8 s)
BACK_CHANNEL_MAX_S: Final = 0.8
"""A span of at most this many words ("yeah", "mm-hmm") is listening, not an interruption."""
INTERRUPTION_MIN_OVERLAP_S: Final = 0.3
"""Less overlap than this is ordinary turn-taking, not cutting in."""
OVERTALK_MIN_STRETCH_S: Final = 0.1
"""Shorter overlaps are timestamp jitter: they add to overtalk_s but are not counted as a stretch."""
SILENCE_MIN_S: Final = 3.0
"""A gap this long is a silence a listener notices."""
HOLD_MIN_S: Final = 5.0
"""The shortest announced silence counted as a hold."""
HOLD_ANNOUNCE_WINDOW_S: Final = 10.0
"""A hold starts no later than this after the end of the announcing span."""
HOLD_RETURN_WINDOW_S: Final = 0.5
"""A silence ends this close before a span back from a hold ("thanks for holding") is that hold."""
RESPONSE_MAX_S: Final = 10.0
"""A longer wait before the answer is a silence, not a response latency."""
DEAD_AIR_NOTICE_S: Final = 10.0
"""Dead air this long is worth a live notice."""

_EPS: Final = 1e-9
_SEC: Final = 3
_SHARE: Final = 4


@dataclass(frozen=True, slots=True)
class SpokenSpan:
    """One final utterance, as the dynamics see it: who, when, and how many words."""

    speaker: str
    """"customer" | "agent", or a diarization label such as "speaker_1" on mono calls."""
    start: float
    """Seconds from the call start when the speech starts."""
    end: float
    """Seconds from the call start when the speech ends."""
    words: int
    """Words in the final transcript; 0 (music, noise) is not talk."""
    text: str = ""
    hold_announced: bool = False
    """This (agent) utterance announces a hold ("let me put you on hold")."""
    hold_returned: bool = False
    """This (agent) utterance comes back from a hold ("thanks for holding"): the silence it ends was one,
    announced or not."""


@dataclass(frozen=True, slots=True)
class DynamicsNotice:
    """Something ``DynamicsTracker.add`` found that a live view may flag at once."""

    kind: str
    """"interruption" | "dead_air" | "hold"."""
    start: float
    end: float
    speakers: tuple[str, ...]
    """Interruption: (by, of); dead air and hold: (the speaker who ended it,)."""
    detail: str
    """A short human sentence, e.g. "customer interrupted agent (0.8 s overlap)"."""


@dataclass(frozen=True, slots=True)
class _Interruption:
    at: float
    by: str
    of: str
    overlap_s: float


class _Union:
    """Disjoint, sorted intervals (touching ones merged): a union of spans kept with bisect."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def insert(self, start: float, end: float) -> int:
        """Add [start, end]; return the index of the (possibly merged) interval holding it."""
        i = bisect_left(self.ends, start)  # the first interval ending at or after start
        j = bisect_right(self.starts, end)  # intervals before j start at or before end
        if i < j:
            start = min(start, self.starts[i])
            end = max(end, self.ends[j - 1])
        self.starts[i:j] = [start]
        self.ends[i:j] = [end]
        return i

    def containing(self, t: float) -> int:
        """The index of the interval with start < t < end, or -1."""
        k = bisect_right(self.starts, t) - 1
        if k >= 0 and self.starts[k] < t < self.ends[k]:
            return k
        return -1

    def total(self) -> float:
        return math.fsum(e - s for s, e in zip(self.starts, self.ends, strict=True))


@dataclass(slots=True)
class _Speaker:
    union: _Union = field(default_factory=_Union)
    spans: list[tuple[float, float, int, int]] = field(default_factory=list)
    """(start, end, seq, words), sorted."""
    words: int = 0


@dataclass(frozen=True, slots=True)
class _Derived:
    """The order-dependent figures, computed once per change of the spans."""

    talk: dict[str, float]
    overtalk_s: float
    overtalk_count: int
    non_talk_s: float
    dead_air_s: float
    longest_s: float
    longest_start: float | None
    silences: list[tuple[float, float, bool]]
    holds: list[tuple[float, float]]
    latencies: list[float]


def _back_channel(words: int, start: float, end: float) -> bool:
    return words <= BACK_CHANNEL_MAX_WORDS or end - start <= BACK_CHANNEL_MAX_S + _EPS


def _clean_time(value: float, fallback: float) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        return fallback
    if not math.isfinite(t):
        return fallback
    return max(t, 0.0)


def _clean_words(value: int) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def _r(value: float, digits: int = _SEC) -> float:
    return round(value, digits) + 0.0  # + 0.0: no "-0.0" in the JSON


class DynamicsTracker:
    """The conversation dynamics of one call, updated as each final utterance arrives."""

    def __init__(self, basis: str = "channels") -> None:
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, not {basis!r}")
        self._basis = basis
        self._by_speaker: dict[str, _Speaker] = {}
        self._all = _Union()
        self._order: list[tuple[float, float, str, int]] = []  # (start, end, speaker, seq), every span
        self._announcements: list[float] = []  # ends of the agent's hold-announcing spans, sorted
        self._returns: list[float] = []  # starts of the agent's spans back from a hold, sorted
        self._interruptions: dict[tuple[int, str], _Interruption] = {}  # (interrupting seq, of)
        self._reported: set[tuple[int, str]] = set()
        self._reported_gaps: list[tuple[float, float]] = []
        self._seq = 0
        self._derived: _Derived | None = None

    @property
    def basis(self) -> str:
        return self._basis

    @property
    def speakers(self) -> tuple[str, ...]:
        """The speakers who have talked (spans of at least one word), sorted."""
        return tuple(sorted(self._by_speaker))

    def add(self, span: SpokenSpan) -> list[DynamicsNotice]:
        """Take one final utterance; return the interruptions, dead air and holds it revealed."""
        words = _clean_words(span.words)
        if words == 0:
            return []
        start = _clean_time(span.start, 0.0)
        end = max(_clean_time(span.end, start), start)
        speaker = str(span.speaker)
        seq = self._seq
        self._seq += 1
        self._derived = None

        state = self._by_speaker.get(speaker)
        if state is None:
            state = self._by_speaker[speaker] = _Speaker()
        state.words += words
        insort(state.spans, (start, end, seq, words))
        insort(self._order, (start, end, speaker, seq))
        if span.hold_announced and (self._basis == "speakers" or speaker == "agent"):
            insort(self._announcements, end)
        if span.hold_returned and (self._basis == "speakers" or speaker == "agent"):
            insort(self._returns, start)
        if end <= start:
            return []  # no time: words and a turn, nothing to overlap or to end a silence

        k = state.union.insert(start, end)
        notices = self._find_interruptions(speaker, seq, start, end, words, state.union.starts[k], state.union.ends[k])
        g = self._all.insert(start, end)
        if g > 0 and self._all.starts[g] == start:
            notice = self._gap_notice(self._all.ends[g - 1], start, speaker)
            if notice is not None:
                notices.append(notice)
        return notices

    def talk_share(self, speaker: str) -> float:
        """The speaker's share (0..1) of all talk time; 0 for a speaker who has not talked."""
        talk = self._derive().talk
        total = math.fsum(talk.values())
        return talk.get(speaker, 0.0) / total if total > 0 else 0.0

    def latency(self) -> tuple[float | None, int]:
        """The mean response latency in seconds (3 decimals; None without one) and their count."""
        latencies = self._derive().latencies
        if not latencies:
            return None, 0
        return _r(math.fsum(latencies) / len(latencies)), len(latencies)

    def snapshot(self) -> dict[str, object]:
        """The call's dynamics so far, JSON-serialisable (see the module docstring)."""
        d = self._derive()
        total_talk = math.fsum(d.talk.values())
        by_count: dict[str, int] = {}
        for record in self._interruptions.values():
            by_count[record.by] = by_count.get(record.by, 0) + 1
        speakers: dict[str, object] = {}
        for name in sorted(self._by_speaker):
            talk = d.talk[name]
            words = self._by_speaker[name].words
            speakers[name] = {
                "talk_s": _r(talk),
                "talk_share": _r(talk / total_talk, _SHARE) if total_talk > 0 else 0.0,
                "words": words,
                "speech_rate_wpm": _r(60.0 * words / talk) if talk > 0 else 0.0,
                "turns": len(self._by_speaker[name].spans),
                "interruptions": by_count.get(name, 0),
            }
        interruptions = sorted(self._interruptions.values(), key=lambda x: (x.at, x.by, x.of, x.overlap_s))
        lat = d.latencies
        return {
            "basis": self._basis,
            "speakers": speakers,
            "overtalk_s": _r(d.overtalk_s),
            "overtalk_count": d.overtalk_count,
            "overtalk_measured": self._basis == "channels",
            "interruptions": [
                {"at": _r(x.at), "by": x.by, "of": x.of, "overlap_s": _r(x.overlap_s)} for x in interruptions
            ],
            "non_talk_s": _r(d.non_talk_s),
            "dead_air_s": _r(d.dead_air_s),
            "longest_silence_s": _r(d.longest_s),
            "longest_silence_start": None if d.longest_start is None else _r(d.longest_start),
            "silences": [
                {"start": _r(s), "end": _r(e), "duration_s": _r(e - s), "hold": hold} for s, e, hold in d.silences
            ],
            "holds": [{"start": _r(s), "end": _r(e), "duration_s": _r(e - s)} for s, e in d.holds],
            "hold_s": _r(math.fsum(e - s for s, e in d.holds)),
            "response_latency_s": {
                "mean": _r(math.fsum(lat) / len(lat)) if lat else None,
                "max": _r(max(lat)) if lat else None,
                "count": len(lat),
            },
        }

    # --- internals -------------------------------------------------------------------------------

    def _find_interruptions(
        self, speaker: str, seq: int, start: float, end: float, words: int, u0: float, u1: float
    ) -> list[DynamicsNotice]:
        """Record the interruptions the new span (speaker's union interval now [u0, u1]) makes or suffers.

        Unions only grow, so an interruption, once found, stays; only its overlap can grow. The
        new span can interrupt whoever is talking at its start; and the speaker's grown interval
        can now be interrupted by other speakers' spans that start inside it.
        """
        notices: list[DynamicsNotice] = []
        for other, state in self._by_speaker.items():
            if other == speaker:
                continue
            if not _back_channel(words, start, end):
                k = state.union.containing(start)
                if k >= 0:
                    self._record(seq, start, end, speaker, other, state.union.ends[k], notices)
            spans = state.spans
            i = bisect_right(spans, (u0, math.inf))
            while i < len(spans) and spans[i][0] < u1:
                b_start, b_end, b_seq, b_words = spans[i]
                if not _back_channel(b_words, b_start, b_end):
                    self._record(b_seq, b_start, b_end, other, speaker, u1, notices)
                i += 1
        return notices

    def _record(
        self, seq: int, start: float, end: float, by: str, of: str, of_end: float, notices: list[DynamicsNotice]
    ) -> None:
        overlap = min(of_end, end) - start
        if overlap < INTERRUPTION_MIN_OVERLAP_S - _EPS:
            return
        key = (seq, of)
        self._interruptions[key] = _Interruption(start, by, of, overlap)
        if key not in self._reported:
            self._reported.add(key)
            notices.append(
                DynamicsNotice(
                    "interruption", start, start + overlap, (by, of), f"{by} interrupted {of} ({overlap:.1f} s overlap)"
                )
            )

    def _is_hold(self, start: float, end: float) -> bool:
        if end - start < HOLD_MIN_S - _EPS:
            return False
        i = bisect_left(self._announcements, start - HOLD_ANNOUNCE_WINDOW_S - _EPS)
        if i < len(self._announcements) and self._announcements[i] <= start + _EPS:
            return True
        j = bisect_left(self._returns, end - _EPS)  # ended by "thanks for holding"
        return j < len(self._returns) and self._returns[j] <= end + HOLD_RETURN_WINDOW_S + _EPS

    def _gap_notice(self, start: float, end: float, speaker: str) -> DynamicsNotice | None:
        hold = self._is_hold(start, end)
        if not hold and end - start < DEAD_AIR_NOTICE_S - _EPS:
            return None
        if any(s < end and start < e for s, e in self._reported_gaps):
            return None
        self._reported_gaps.append((start, end))
        if hold:
            return DynamicsNotice("hold", start, end, (speaker,), f"{end - start:.1f} s on hold")
        return DynamicsNotice("dead_air", start, end, (speaker,), f"{end - start:.1f} s of dead air")

    def _derive(self) -> _Derived:
        if self._derived is None:
            self._derived = self._compute()
        return self._derived

    def _compute(self) -> _Derived:
        talk = {name: state.union.total() for name, state in self._by_speaker.items()}
        overtalk_s, overtalk_count = self._overtalk()

        starts, ends = self._all.starts, self._all.ends
        gaps: list[float] = []
        silences: list[tuple[float, float, bool]] = []
        holds: list[tuple[float, float]] = []
        dead_air: list[float] = []
        longest_s, longest_start = 0.0, None
        for g0, g1 in zip(ends, starts[1:], strict=False):
            duration = g1 - g0
            gaps.append(duration)
            if duration > longest_s:
                longest_s, longest_start = duration, g0
            if duration < SILENCE_MIN_S - _EPS:
                continue
            hold = self._is_hold(g0, g1)
            silences.append((g0, g1, hold))
            if hold:
                holds.append((g0, g1))
            else:
                dead_air.append(duration)

        return _Derived(
            talk=talk,
            overtalk_s=overtalk_s,
            overtalk_count=overtalk_count,
            non_talk_s=math.fsum(gaps),
            dead_air_s=math.fsum(dead_air),
            longest_s=longest_s,
            longest_start=longest_start,
            silences=silences,
            holds=holds,
            latencies=self._latencies(holds),
        )

    def _overtalk(self) -> tuple[float, int]:
        """Total time at least two unions overlap, and the stretches of it ≥ OVERTALK_MIN_STRETCH_S."""
        if len(self._by_speaker) < 2:
            return 0.0, 0
        events: list[tuple[float, int]] = []
        for state in self._by_speaker.values():
            events.extend((s, 1) for s in state.union.starts)
            events.extend((e, -1) for e in state.union.ends)
        events.sort()
        pieces: list[float] = []
        count = 0
        stretch = 0.0
        active = 0
        prev = 0.0
        i, n = 0, len(events)
        while i < n:
            t = events[i][0]
            if active >= 2:
                pieces.append(t - prev)
                stretch += t - prev
            while i < n and events[i][0] == t:
                active += events[i][1]
                i += 1
            if active < 2:
                if stretch >= OVERTALK_MIN_STRETCH_S - _EPS:
                    count += 1
                stretch = 0.0
            prev = t
        return math.fsum(pieces), count

    def _latencies(self, holds: list[tuple[float, float]]) -> list[float]:
        roles = self._basis == "channels" or not ROLE_LABELS.isdisjoint(self._by_speaker)
        hold_ends = [e for _, e in holds]
        out: list[float] = []
        order = self._order
        for (_, p_end, p_speaker, _), (n_start, _, n_speaker, _) in pairwise(order):
            if roles:
                if p_speaker != "customer" or n_speaker != "agent":
                    continue
            elif p_speaker == n_speaker:
                continue
            gap = n_start - p_end
            if gap < -_EPS or gap > RESPONSE_MAX_S + _EPS:
                continue
            h = bisect_right(hold_ends, p_end)  # the first hold ending after P
            if h < len(holds) and holds[h][0] < n_start:
                continue  # the wait was a hold
            out.append(max(gap, 0.0))
        return out
