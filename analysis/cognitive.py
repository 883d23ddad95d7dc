"""Per-speaker cognitive signals for a supervisor watching a call live: engagement, cognitive load and
focus, each a score in [0, 1] with machine-readable tags and a rationale that quotes the speaker.

A supervisor cannot listen to every call; what helps is a hint that a customer has checked out
(monosyllables, slow answers), is struggling (hedging, restarting, pausing, slowing down) or that the
conversation has drifted from the problem the customer called about. These are cues, not diagnoses,
so every score is a small, monotone rule over counts a person can check against the transcript, and
the rationale names the strongest drivers with a quote.

Cost: ``CognitiveTracker.add`` runs a few regular expressions over that one utterance and stores its
counts (plus running totals per speaker); ``signals`` reads the stored counts of the speaker's last
few turns and the totals, so it costs the same early and late in a call. Pure: no I/O, no threads,
no models (sentence embeddings come in on the turns, already computed, or not at all).

The rules (``RECENT_TURNS`` = 6; a "blended" value is ``RECENT_WEIGHT`` (0.7) x its value over the
speaker's last 6 turns + 0.3 x its value over the whole call, so recent turns weigh more):

* **engagement** = weighted mean of four parts (weights 0.3 / 0.3 / 0.2 / 0.2; a part that is not
  known drops out and the others are re-weighted):

  - talk share, relative to an even share among the call's speakers (at least two): an even share
    scores ``EVEN_SHARE_SCORE`` (0.8), linear below it, reaching 1 at 1.5x the even share. The
    caller's ``talk_share`` (from the call's dynamics) when given, else the speaker's share of the
    words so far;
  - mean words per turn (blended): 0 at 2 words or fewer ("yes", "ok"), 1 at 12 or more;
  - questions per turn (blended): 1 at one question every other turn. A question is a sentence that
    ends in "?", or (Whisper sometimes drops the mark) starts with a wh-word followed by an auxiliary
    ("when will ...", "how much ...") or with an auxiliary followed by a subject ("can you ...");
  - response latency (the caller's ``latency_s``): 1 at 1 s or faster, 0 at 4 s or slower.

* **cognitive_load** = sum of five capped parts, capped at 1. Rates are per 100 words, counting at
  least ``MIN_RATE_WORDS`` (20) words so one "maybe" in a two-word answer is not a storm, and blended:

  - fillers (um, uh, er, erm, hmm, "you know", "I mean", "sort of", "kind of", "like," used as a
    filler): weight 0.2, full at 6 per 100 words (weak: Whisper usually drops fillers);
  - hedges ("I think", "maybe", "I'm not sure", "I don't know", "probably", "I guess" ...): weight
    0.35, full at 4 per 100 words;
  - restarts (a repeated word "I I", "the the"; a cut word "wh- what", "I- I"; a repair "sorry, I
    mean"): weight 0.35, full at 3 per 100 words;
  - long pauses (gaps of ``LONG_PAUSE_S`` (1 s) or more between words): weight 0.3, full at 3 per
    100 words;
  - slowing: words per second of the last 3 timed turns against the speaker's earlier timed turns
    (words / (end - start), pooled). Below ``SLOWING_MIN`` (20 %) it adds nothing; above it adds
    0.25 x slowing / 0.5 (full at 50 % slower).

  A fluent speaker scores 0. Fillers, hedges and restarts are counted once each where they overlap
  (a restart wins over a hedge, a hedge over a filler).

* **focus** = the word-weighted mean, over the speaker's last 6 turns of ``TOPIC_MIN_WORDS`` (4) words
  or more (shorter turns carry no topic), of each turn's closeness to the call's issue. The issue is
  the customer's first two turns of ``ISSUE_MIN_WORDS`` (5) words or more (the first speaker's when no
  speaker is labelled "customer"); those turns count as focused (1). A turn with an embedding, when
  the issue turns have embeddings, scores its cosine similarity to their mean, mapped from
  [0.15, 0.6] to [0, 1]; otherwise it scores the share of content words (lower-cased words of four
  letters or more, not stopwords, crudely stemmed) shared with the issue turns, divided by the
  smaller set's size, mapped from [0, 0.3] to [0, 1]. Before the issue is known, or with no scorable
  turn, focus is ``FOCUS_UNKNOWN`` (0.5) and the rationale says so.

Tags: ``asks_questions``, ``quiet``, ``slow_to_answer`` (latency over 3 s), ``disfluent`` (fillers),
``hedging``, ``restarts``, ``long_pauses`` (each when its blended rate passes a threshold),
``slowing`` (over 20 %) and ``off_topic`` (focus under 0.35 with scorable turns). Scores of 0.65 or
more read "high", under 0.35 "low", "moderate" in between.

Garbage in is tolerated: empty text, end before start, NaN times, gaps or embeddings just leave out
what they would have measured; an utterance id seen before is ignored (a repeated final).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from analysis.text import compile_phrases, count_words, split_sentences, truncate, words

__all__ = [
    "FOCUS_UNKNOWN",
    "RECENT_TURNS",
    "CognitiveSignals",
    "CognitiveTracker",
    "CognitiveTurn",
]

RECENT_TURNS: Final = 6
RECENT_WEIGHT: Final = 0.7  # weight of the recent turns in a blended value; the whole call has the rest
MIN_RATE_WORDS: Final = 20  # rates per 100 words count at least this many words

# engagement
TALK_WEIGHT: Final = 0.3
LENGTH_WEIGHT: Final = 0.3
QUESTION_WEIGHT: Final = 0.2
LATENCY_WEIGHT: Final = 0.2
EVEN_SHARE_SCORE: Final = 0.8  # talking an even share is neutral-high, not the top
FULL_SHARE_RATIO: Final = 1.5  # talk share (relative to even) scoring 1
SHORT_TURN_WORDS: Final = 2.0  # mean words per turn scoring 0
LONG_TURN_WORDS: Final = 12.0  # mean words per turn scoring 1
QUESTIONS_FULL: Final = 0.5  # questions per turn scoring 1
LATENCY_FAST_S: Final = 1.0
LATENCY_SLOW_S: Final = 4.0
SLOW_TO_ANSWER_S: Final = 3.0
QUIET_SHARE_RATIO: Final = 0.5
QUIET_WORDS: Final = 4.0
ASKS_QUESTIONS_PER_TURN: Final = 0.25

# cognitive load: cue -> (weight, rate per 100 words at which it is full, rate at which it is tagged)
_CUES: Final = ("fillers", "hedges", "restarts", "pauses")
_FILLERS, _HEDGES, _RESTARTS, _PAUSES = range(4)
_CUE_WEIGHT: Final = (0.2, 0.35, 0.35, 0.3)
_CUE_FULL_RATE: Final = (6.0, 4.0, 3.0, 3.0)
_CUE_TAG_RATE: Final = (3.0, 2.0, 1.5, 1.5)
_CUE_TAG: Final = ("disfluent", "hedging", "restarts", "long_pauses")
_CUE_NOUN: Final = ("filler", "hedge", "restart", "long pause")
LONG_PAUSE_S: Final = 1.0
SLOWING_MIN: Final = 0.2
SLOWING_FULL: Final = 0.5
SLOWING_WEIGHT: Final = 0.25
SLOW_RECENT_TURNS: Final = 3  # turns whose speaking rate is compared with the earlier ones
MIN_EARLIER_TIMED: Final = 2
MIN_TIMED_S: Final = 0.3  # a shorter utterance gives no usable speaking rate
MAX_WORDS_PER_S: Final = 8.0  # faster is a timing error, not speech

# focus
ISSUE_MIN_WORDS: Final = 5
ISSUE_TURNS: Final = 2
TOPIC_MIN_WORDS: Final = 4
COSINE_OFF: Final = 0.15
COSINE_ON: Final = 0.6
OVERLAP_ON: Final = 0.3
FOCUS_UNKNOWN: Final = 0.5
OFF_TOPIC_BELOW: Final = 0.35

LOW_BELOW: Final = 0.35
HIGH_FROM: Final = 0.65
QUOTE_CHARS: Final = 60
QUOTES_PER_CUE: Final = 2

_TAG_ORDER: Final = (
    "asks_questions",
    "disfluent",
    "long_pauses",
    "hedging",
    "restarts",
    "slowing",
    "off_topic",
    "quiet",
    "slow_to_answer",
)

# Fillers. Backchannels are not fillers: "uh-huh", "uh huh", "mm-hmm" are excluded by the look-arounds.
_FILLER_RE: Final = re.compile(
    r"(?<![\w'\u2019-])(?:u+m+|u+h+|e+r+m*|h+m+)(?![\w'\u2019-])(?![\s,]*(?:huh|hum)\b)"
    r"|(?<!\w)you\s+know\s+what\s+i\s+mean(?!\w)"
    r"|(?<!\w)(?:you\s+know|i\s+mean|sort\s+of|kind\s+of)(?!\w)"
    r"|(?<!\w)like(?=\s*,)",
    re.IGNORECASE,
)


def _wordset(text: str) -> frozenset[str]:
    """A word list written as one string (easier to read and extend than a list of literals)."""
    return frozenset(text.split())


# The word before a filler phrase that makes it an ordinary phrase ("do you know", "what kind of").
_DETERMINERS: Final = _wordset(
    "what which this that a any the some same one every all these those no another each different "
    "right wrong my your our their"
)
_NOT_FILLER_AFTER: Final[dict[str, frozenset[str]]] = {
    "you know": _wordset("do did does if would could let will i'll we'll to whether don't didn't doesn't i'd you'd"),
    "i mean": _wordset("what which that"),
    "sort of": _DETERMINERS,
    "kind of": _DETERMINERS,
    "like": _wordset("would i'd we'd you'd they'd feel feels felt look looks looked sound sounds seem seems"),
}

_HEDGE_RE: Final = compile_phrases(
    [
        "i think",
        "i guess",
        "i suppose",
        "i believe",
        "i reckon",
        "i'm guessing",
        "maybe",
        "perhaps",
        "probably",
        "possibly",
        "might be",
        "could be",
        "not sure",
        "i'm not sure",
        "not really sure",
        "i'm not certain",
        "i don't know",
        "i dunno",
        "i don't remember",
    ]
)
_REPAIR_RE: Final = compile_phrases(
    ["sorry i mean", "i mean sorry", "or rather", "what i meant was", "let me rephrase", "scratch that", "no wait"]
)
# A cut word: a short stub or the start of the next word, then a dash ("wh- what", "I- I", "th\u2014the").
_CUT_RE: Final = re.compile(
    r"(?<![\w'\u2019-])(?P<cut>[^\W\d_]{1,12})(?:-{1,2}(?=[\s,]|$)|[\u2013\u2014])(?=[\s,]*(?P<next>[^\W\d_]*))"
)
# A repeated word ("the the", "I, I"); the span is the first copy, so "I I think" still has its hedge.
_REPEAT_RE: Final = re.compile(
    r"(?<![\w'\u2019])(?P<w>[^\W\d_]+)(?=[\s,\-\u2013\u2014]+(?P=w)(?![\w'\u2019]))", re.IGNORECASE
)
# Words that are repeated on purpose: answers, intensifiers, digits and letters read out.
_REPEATABLE: Final = _wordset(
    "that had is bye no yeah yes yep yup okay ok very really so ha la hello hi please now well right sure go "
    "mhm hmm uh um er erm oh wow zero one two three four five six seven eight nine ten double triple"
)
_NEXT_WORD_RE: Final = re.compile(r"[\s,\-\u2013\u2014]*\w+(?:['\u2019]\w+)*")
_PREV_WORD_RE: Final = re.compile(r"(\w+(?:['\u2019]\w+)*)\W*$")
_CUT_MAX_STUB: Final = 3  # a cut this short is a restart whatever follows ("I- we")

_LEADING_FILLER: Final = _wordset("so and but okay ok well then also sorry um uh oh right alright hi hey")
_WH: Final = _wordset("what when where who whom whose why which how")
_AUX: Final = _wordset(
    "can could would will do does did is are was were have has had should shall may might am "
    "won't can't isn't aren't don't doesn't didn't wasn't weren't haven't hasn't couldn't wouldn't shouldn't"
)
_WH_NEXT: Final = _AUX | _wordset("much many long often come about")
_SUBJECT: Final = _wordset("i you we they he she it there this that my your our someone anyone")

_STOPWORDS: Final = _wordset(
    """
    that this these those with have from they them there their then than what when where which while would
    could should about just like yeah okay well been were will your yours know think mean really very right
    sure thank thanks please going want wanted here some much also into only because does doing done make
    made said tell told alright great perfect help moment second hold check look sorry good today still even
    sort kind thing things something anything everything other again back over more most such each every
    call calling speak speaking hello maybe probably guess
    """
)
_SUFFIXES: Final = ("ing", "ed", "es", "s", "e", "ly")


@dataclass(frozen=True, slots=True)
class CognitiveTurn:
    """One final utterance. ``embedding`` is the L2-normalised sentence embedding (MiniLM, 384-d) or
    None; ``word_gaps`` the pauses between consecutive words, in seconds (may be empty)."""

    utterance_id: str
    speaker: str
    text: str
    start: float
    end: float
    words: int
    embedding: npt.NDArray[np.float32] | None = None
    word_gaps: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class CognitiveSignals:
    """One speaker's scores (each 0..1), tags and a one- or two-sentence rationale quoting evidence."""

    speaker: str
    engagement: float
    cognitive_load: float
    focus: float
    signals: tuple[str, ...]
    rationale: str

    def to_json(self) -> dict[str, object]:
        return {
            "speaker_id": self.speaker,
            "engagement": round(self.engagement, 3),
            "cognitive_load": round(self.cognitive_load, 3),
            "focus": round(self.focus, 3),
            "signals": list(self.signals),
            "rationale": self.rationale,
        }


@dataclass(frozen=True, slots=True)
class _Turn:
    """What one utterance contributed: counts and the quotes that explain them."""

    index: int
    words: int
    seconds: float | None  # the duration, when it gives a plausible speaking rate
    questions: int
    question_quote: str
    cues: tuple[int, ...]  # counts, in the order of _CUES
    cue_quotes: tuple[tuple[str, ...], ...]  # fillers, hedges, restarts
    longest_pause: float
    content: frozenset[str]
    embedding: npt.NDArray[np.float32] | None
    quote: str


@dataclass(slots=True)
class _Speaker:
    """A speaker's turns (all, the topical ones, the timed ones) and running totals over the call."""

    turns: list[_Turn] = field(default_factory=list)
    topical: list[_Turn] = field(default_factory=list)
    timed: list[_Turn] = field(default_factory=list)
    issue: list[_Turn] = field(default_factory=list)
    words: int = 0
    questions: int = 0
    cues: list[int] = field(default_factory=lambda: [0] * len(_CUES))
    timed_words: int = 0
    timed_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Issue:
    indices: frozenset[int]
    embedding: npt.NDArray[np.float32] | None
    content: frozenset[str]


class CognitiveTracker:
    """Cognitive signals of a call's speakers, fed one final utterance at a time (one per call)."""

    def __init__(self) -> None:
        self._speakers: dict[str, _Speaker] = {}
        self._seen: set[str] = set()
        self._count = 0
        self._issue_key: tuple[int, ...] = ()
        self._issue_cache: _Issue | None = None

    @property
    def speakers(self) -> tuple[str, ...]:
        """The speakers with at least one worded turn, in the order they first spoke."""
        return tuple(self._speakers)

    def add(self, turn: CognitiveTurn) -> None:
        """Measure one utterance (its text only) and store the counts."""
        if turn.utterance_id in self._seen:
            return
        self._seen.add(turn.utterance_id)
        stats = _measure(turn, self._count)
        if stats is None:
            return
        self._count += 1
        speaker = self._speakers.setdefault(turn.speaker, _Speaker())
        speaker.turns.append(stats)
        speaker.words += stats.words
        speaker.questions += stats.questions
        for i, n in enumerate(stats.cues):
            speaker.cues[i] += n
        if stats.seconds is not None:
            speaker.timed.append(stats)
            speaker.timed_words += stats.words
            speaker.timed_seconds += stats.seconds
        if stats.words >= TOPIC_MIN_WORDS:
            speaker.topical.append(stats)
        if stats.words >= ISSUE_MIN_WORDS and len(speaker.issue) < ISSUE_TURNS:
            speaker.issue.append(stats)

    def signals(
        self, speaker: str, *, talk_share: float | None = None, latency_s: float | None = None
    ) -> CognitiveSignals | None:
        """The speaker's signals now; None until the speaker has a turn with words. ``talk_share``
        (0..1) and ``latency_s`` (mean response latency) come from the call's dynamics when known."""
        state = self._speakers.get(speaker)
        if state is None:
            return None
        recent = state.turns[-RECENT_TURNS:]
        engagement, engagement_text, engagement_tags = self._engagement(state, recent, talk_share, latency_s)
        load, load_text, load_tags = _load(state, recent)
        focus, focus_text, focus_tags = self._focus(state)
        tags = set(engagement_tags) | set(load_tags) | set(focus_tags)
        rest = f"{engagement_text}; {focus_text}"
        rationale = f"{load_text}. {rest[:1].upper()}{rest[1:]}."
        return CognitiveSignals(
            speaker=speaker,
            engagement=_clip(engagement),
            cognitive_load=_clip(load),
            focus=_clip(focus),
            signals=tuple(t for t in _TAG_ORDER if t in tags),
            rationale=rationale,
        )

    def _engagement(
        self, state: _Speaker, recent: list[_Turn], talk_share: float | None, latency_s: float | None
    ) -> tuple[float, str, list[str]]:
        tags: list[str] = []
        parts: list[tuple[float, float, str]] = []  # (weight, score, phrase)
        share = _finite(talk_share)
        if share is not None:
            share = _clip(share)
            share_phrase = f"{round(share * 100)} % of the talk"
        else:
            total = sum(s.words for s in self._speakers.values())
            share = state.words / total if total else 0.0
            share_phrase = f"{round(share * 100)} % of the words so far"
        ratio = share * max(2, len(self._speakers))
        if ratio <= 1.0:
            talk = EVEN_SHARE_SCORE * ratio
        else:
            talk = EVEN_SHARE_SCORE + (1.0 - EVEN_SHARE_SCORE) * (ratio - 1.0) / (FULL_SHARE_RATIO - 1.0)
        parts.append((TALK_WEIGHT, _clip(talk), share_phrase))

        recent_words = sum(t.words for t in recent)
        per_turn = _blend(recent_words / len(recent), state.words / len(state.turns))
        length = _ramp(per_turn, SHORT_TURN_WORDS, LONG_TURN_WORDS)
        recent_per_turn = recent_words / len(recent)
        if recent_per_turn < QUIET_WORDS:
            shorts = _distinct([t.quote for t in reversed(recent) if t.words < TOPIC_MIN_WORDS])
            length_phrase = f"short answers ({_quoted(shorts)})" if shorts else "short answers"
        elif recent_per_turn >= LONG_TURN_WORDS:
            length_phrase = f"long turns (about {round(recent_per_turn)} words each)"
        else:
            length_phrase = f"about {round(recent_per_turn)} words a turn"
        parts.append((LENGTH_WEIGHT, length, length_phrase))

        recent_questions = sum(t.questions for t in recent)
        per_turn_q = _blend(recent_questions / len(recent), state.questions / len(state.turns))
        asked = [t.question_quote for t in reversed(recent) if t.question_quote]
        if asked:
            noun = "a question" if recent_questions == 1 else "questions"
            question_phrase = f'asks {noun} ("{asked[0]}")'
        else:
            question_phrase = "asks no questions"
        parts.append((QUESTION_WEIGHT, _clip(per_turn_q / QUESTIONS_FULL), question_phrase))
        if recent_questions and per_turn_q >= ASKS_QUESTIONS_PER_TURN:
            tags.append("asks_questions")

        latency = _finite(latency_s)
        if latency is not None and latency >= 0.0:
            score = _clip((LATENCY_SLOW_S - latency) / (LATENCY_SLOW_S - LATENCY_FAST_S))
            if latency > SLOW_TO_ANSWER_S:
                tags.append("slow_to_answer")
                latency_phrase = f"slow to answer ({latency:.1f} s)"
            elif latency <= 1.5 * LATENCY_FAST_S:
                latency_phrase = f"answers quickly ({latency:.1f} s)"
            else:
                latency_phrase = f"answers in {latency:.1f} s"
            parts.append((LATENCY_WEIGHT, score, latency_phrase))

        if ratio < QUIET_SHARE_RATIO or per_turn < QUIET_WORDS:
            tags.append("quiet")
        weight = sum(w for w, _, _ in parts)
        engagement = sum(w * s for w, s, _ in parts) / weight
        # the two parts furthest from neutral; on a near tie the one quoting the speaker
        strongest = sorted(parts, key=lambda p: (-round(abs(p[0] * (p[1] - 0.5)), 2), '"' not in p[2]))[:2]
        text = f"engagement {_level(engagement)}: {', '.join(p for _, _, p in strongest)}"
        return engagement, text, tags

    def _issue(self) -> _Issue | None:
        """The call's issue: the customer's first two substantial turns (the first speaker's on a call
        without a "customer"), cached until they change."""
        if not self._speakers:
            return None
        owner = self._speakers.get("customer") or next(iter(self._speakers.values()))
        turns = owner.issue
        if not turns:
            return None
        key = tuple(t.index for t in turns)
        if key != self._issue_key:
            vectors = [t.embedding for t in turns if t.embedding is not None]
            embedding: npt.NDArray[np.float32] | None = None
            same = [v for v in vectors if v.shape == vectors[0].shape] if vectors else []
            if same:
                mean = np.mean(np.stack(same), axis=0)
                norm = float(np.linalg.norm(mean))
                embedding = (mean / norm).astype(np.float32) if norm > 0 and math.isfinite(norm) else None
            content = frozenset().union(*(t.content for t in turns))
            self._issue_key = key
            self._issue_cache = _Issue(frozenset(key), embedding, content)
        return self._issue_cache

    def _focus(self, state: _Speaker) -> tuple[float, str, list[str]]:
        issue = self._issue()
        if issue is None:
            return FOCUS_UNKNOWN, "focus unknown (no issue stated yet)", []
        scored: list[tuple[float, _Turn]] = []
        for turn in reversed(state.topical[-2 * RECENT_TURNS :]):
            value = _turn_focus(turn, issue)
            if value is not None:
                scored.append((value, turn))
                if len(scored) == RECENT_TURNS:
                    break
        if not scored:
            return FOCUS_UNKNOWN, "focus unknown (no topical turns yet)", []
        weight = sum(t.words for _, t in scored)
        focus = sum(v * t.words for v, t in scored) / weight
        level = _level(focus)
        if focus >= HIGH_FROM:
            best = max(scored, key=lambda p: p[0])[1]
            own = all(t.index in issue.indices for _, t in scored)
            how = "states the issue" if own else "on the issue"
            return focus, f'focus {level}: {how} ("{best.quote}")', []
        worst = min(scored, key=lambda p: p[0])[1]
        tags = ["off_topic"] if focus < OFF_TOPIC_BELOW else []
        how = "drifting from the issue" if tags else "partly off the issue"
        return focus, f'focus {level}: {how} ("{worst.quote}")', tags


def _load(state: _Speaker, recent: list[_Turn]) -> tuple[float, str, list[str]]:
    """Cognitive load from the cue rates and the slowing, with its rationale sentence and tags."""
    recent_words = sum(t.words for t in recent)
    recent_counts = [sum(t.cues[i] for t in recent) for i in range(len(_CUES))]
    load = 0.0
    tags: list[str] = []
    for i in range(len(_CUES)):
        rate = _blend(_per_100(recent_counts[i], recent_words), _per_100(state.cues[i], state.words))
        load += _CUE_WEIGHT[i] * min(1.0, rate / _CUE_FULL_RATE[i])
        if rate >= _CUE_TAG_RATE[i]:
            tags.append(_CUE_TAG[i])
    slowing = _slowing(state)
    if slowing is not None and slowing > SLOWING_MIN:
        load += SLOWING_WEIGHT * min(1.0, slowing / SLOWING_FULL)
        tags.append("slowing")

    evidence: list[str] = []
    for i in (_FILLERS, _HEDGES, _RESTARTS):
        if recent_counts[i]:
            quotes = _distinct([q for t in recent for q in t.cue_quotes[i]])
            evidence.append(f"{_counted(recent_counts[i], _CUE_NOUN[i])} ({_quoted(quotes)})")
    if recent_counts[_PAUSES]:
        longest = max(t.longest_pause for t in recent)
        evidence.append(f"{_counted(recent_counts[_PAUSES], _CUE_NOUN[_PAUSES])} (longest {longest:.1f} s)")
    window = "in the only turn" if len(recent) == 1 else f"in the last {len(recent)} turns"
    level = _level(load)
    slower = ""
    if slowing is not None and slowing > SLOWING_MIN:
        slower = f"speaking {round(slowing * 100)} % slower than earlier"
    if evidence:
        text = f"Cognitive load {level}: {_and(evidence)} {window}" + (f"; {slower}" if slower else "")
    else:
        none = f"no hedges, restarts or long pauses {window}"
        text = f"Cognitive load {level}: {slower} ({none})" if slower else f"Cognitive load {level}: {none}"
        earlier = [_counted(state.cues[i], _CUE_NOUN[i]) for i in range(len(_CUES)) if state.cues[i]]
        if earlier:
            text += f"; {_and(earlier)} over the call"
    return load, text, tags


def _slowing(state: _Speaker) -> float | None:
    """How much slower (0.3 = 30 %) the last few timed turns are than the speaker's earlier ones."""
    recent = state.timed[-SLOW_RECENT_TURNS:]
    if len(state.timed) - len(recent) < MIN_EARLIER_TIMED:
        return None
    recent_words = sum(t.words for t in recent)
    recent_s = sum(t.seconds or 0.0 for t in recent)
    earlier_words = state.timed_words - recent_words
    earlier_s = state.timed_seconds - recent_s
    if recent_s <= 0 or earlier_s <= 0 or earlier_words <= 0:
        return None
    return 1.0 - (recent_words / recent_s) / (earlier_words / earlier_s)


def _turn_focus(turn: _Turn, issue: _Issue) -> float | None:
    """How close one turn is to the issue (0..1), or None when it cannot be told."""
    if turn.index in issue.indices:
        return 1.0
    if turn.embedding is not None and issue.embedding is not None and turn.embedding.shape == issue.embedding.shape:
        cosine = float(np.dot(turn.embedding, issue.embedding))
        return _ramp(cosine, COSINE_OFF, COSINE_ON)
    if turn.content and issue.content:
        shared = len(turn.content & issue.content) / min(len(turn.content), len(issue.content))
        return _clip(shared / OVERLAP_ON)
    return None


def _measure(turn: CognitiveTurn, index: int) -> _Turn | None:
    """The counts of one utterance, or None when it has no words."""
    text = turn.text if isinstance(turn.text, str) else ""
    counted = count_words(text)
    if counted == 0:
        return None
    n_words = turn.words if isinstance(turn.words, int) and turn.words > 0 else counted
    seconds: float | None = None
    start, end = _finite(turn.start), _finite(turn.end)
    if (
        start is not None
        and end is not None
        and end - start >= MIN_TIMED_S
        and n_words / (end - start) <= MAX_WORDS_PER_S
    ):
        seconds = end - start
    questions, question_quote = _questions(text)
    fillers, hedges, restarts = _cue_spans(text)
    gaps = [g for g in _floats(turn.word_gaps) if g >= LONG_PAUSE_S]
    return _Turn(
        index=index,
        words=n_words,
        seconds=seconds,
        questions=questions,
        question_quote=question_quote,
        cues=(len(fillers), len(hedges), len(restarts), len(gaps)),
        cue_quotes=tuple(tuple(_distinct(q)) for q in (fillers, hedges, restarts)),
        longest_pause=max(gaps, default=0.0),
        content=_content_words(text),
        embedding=_unit(turn.embedding),
        quote=_sanitize(text),
    )


def _cue_spans(text: str) -> tuple[list[str], list[str], list[str]]:
    """Quotes of the fillers, hedges and restarts in ``text``, each span counted once (restart first)."""
    found: list[tuple[int, int, int, str]] = []  # (start, priority, end, quote)
    for m in _REPAIR_RE.finditer(text):
        found.append((m.start(), 0, m.end(), m.group()))
    for m in _CUT_RE.finditer(text):
        cut, following = m.group("cut").lower(), (m.group("next") or "").lower()
        if len(cut) <= _CUT_MAX_STUB or following.startswith(cut):
            found.append((m.start(), 0, m.end(), _extend(text, m.end(), 2, m.start())))
    for m in _REPEAT_RE.finditer(text):
        word = m.group("w").lower()
        if word in _REPEATABLE or (len(word) == 1 and word not in ("i", "a")):
            continue
        found.append((m.start(), 0, m.end(), _extend(text, m.end(), 2, m.start())))
    for m in _HEDGE_RE.finditer(text):
        found.append((m.start(), 1, m.end(), m.group()))
    for m in _FILLER_RE.finditer(text):
        if _is_filler(text, m):
            found.append((m.start(), 2, m.end(), m.group()))
    out: tuple[list[str], list[str], list[str]] = ([], [], [])
    taken_to = -1
    for start, priority, end, quote in sorted(found):
        if start < taken_to:
            continue
        taken_to = end
        out[2 - priority].append(quote)
    return out


def _is_filler(text: str, m: re.Match[str]) -> bool:
    """Whether a filler match is used as a filler (not "do you know", "what kind of", "the ER")."""
    raw = m.group()
    if raw.isupper() and len(raw) > 1 and raw.lower().startswith("er"):
        return False  # "the ER": the emergency room
    phrase = " ".join(raw.lower().split())
    blockers = _NOT_FILLER_AFTER.get(phrase)
    if blockers is None:
        return True
    before = _PREV_WORD_RE.search(text, max(0, m.start() - 40), m.start())
    return before is None or before.group(1).lower().replace("\u2019", "'") not in blockers


def _extend(text: str, end: int, count: int, start: int) -> str:
    """``text[start:end]`` and up to ``count`` more words (to quote a restart with what follows it)."""
    for _ in range(count):
        m = _NEXT_WORD_RE.match(text, end)
        if m is None:
            break
        end = m.end()
    return text[start:end]


def _questions(text: str) -> tuple[int, str]:
    """How many sentences of ``text`` are questions, and the first of them (sanitised)."""
    count, first = 0, ""
    for sentence in split_sentences(text):
        stripped = sentence.rstrip(" \"'\u201d)")
        if stripped.endswith("?"):
            question = True
        elif stripped.endswith("!"):
            question = False
        else:
            lead = words(sentence)[:4]
            while lead and lead[0] in _LEADING_FILLER:
                lead = lead[1:]
            question = len(lead) >= 2 and (
                (lead[0] in _WH and lead[1] in _WH_NEXT) or (lead[0] in _AUX and lead[1] in _SUBJECT)
            )
        if question:
            count += 1
            first = first or _sanitize(sentence)
    return count, first


def _content_words(text: str) -> frozenset[str]:
    """Lower-cased words of four letters or more, not stopwords, crudely stemmed ("billing" -> "bill")."""
    out: set[str] = set()
    for word in words(text):
        if len(word) < 4 or not word.isalpha() or word in _STOPWORDS:
            continue
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)]
                break
        out.add(word)
    return frozenset(out)


def _unit(vector: object) -> npt.NDArray[np.float32] | None:
    """The embedding as a finite unit float32 vector, or None when it is missing or unusable."""
    if vector is None:
        return None
    try:
        array = np.asarray(vector, dtype=np.float32).ravel()
    except (TypeError, ValueError):
        return None
    if array.size == 0 or not bool(np.all(np.isfinite(array))):
        return None
    norm = float(np.linalg.norm(array))
    if norm <= 0 or not math.isfinite(norm):
        return None
    return (array / norm).astype(np.float32)


def _sanitize(text: str) -> str:
    """A quote fit for one line: no control characters, no double quotes, at most ``QUOTE_CHARS``."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text).replace('"', "'")
    return truncate(printable, QUOTE_CHARS)


def _distinct(quotes: list[str]) -> list[str]:
    """The first ``QUOTES_PER_CUE`` quotes, case-insensitively distinct, sanitised."""
    out: list[str] = []
    seen: set[str] = set()
    for quote in quotes:
        clean = _sanitize(quote)
        key = clean.lower()
        if clean and key not in seen:
            seen.add(key)
            out.append(clean)
            if len(out) == QUOTES_PER_CUE:
                break
    return out


def _quoted(quotes: list[str]) -> str:
    return ", ".join(f'"{q}"' for q in quotes)


def _counted(n: int, noun: str) -> str:
    return f"a {noun}" if n == 1 else f"{n} {noun}s"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _level(score: float) -> str:
    return "high" if score >= HIGH_FROM else "low" if score < LOW_BELOW else "moderate"


def _blend(recent: float, overall: float) -> float:
    return RECENT_WEIGHT * recent + (1.0 - RECENT_WEIGHT) * overall


def _per_100(count: int, n_words: int) -> float:
    return 100.0 * count / max(n_words, MIN_RATE_WORDS)


def _ramp(value: float, low: float, high: float) -> float:
    return _clip((value - low) / (high - low))


def _clip(value: float) -> float:
    return 0.0 if not math.isfinite(value) else min(1.0, max(0.0, value))


def _finite(value: object) -> float | None:
    """``value`` as a finite float (numpy scalars included), or None for NaN, infinities and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _floats(values: object) -> list[float]:
    """The finite, non-negative numbers of ``values`` (word gaps from anywhere)."""
    if not isinstance(values, tuple | list):
        return []
    out: list[float] = []
    for value in values:
        number = _finite(value)
        if number is not None and number >= 0:
            out.append(number)
    return out
