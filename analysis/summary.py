"""Extractive call summary: a few of the call's own sentences, chosen by simple, explainable rules.

A reviewer scanning hundreds of calls needs one line saying what the call was about and how it
ended. Until an abstractive model is added, the summary quotes the transcript itself, so it can
never state something that was not said.

* Calls with speakers (some utterance is "customer"):
  ``Customer: <issue> | Agent: <action> | Outcome: <outcome>``

  - issue: among the customer's early utterances (the first half, at least three), the most
    informative one: problem words ("not working", "problem", "issue", "can't", "won't", "broken",
    "charged", "went down" ...; negated ones such as "no problem" do not count) weigh most, then how
    negative VADER finds it, then a little for length. It is quoted from its first problem sentence.
  - action: the agent's first sentence stating a fix or next step (see ``analysis.agent_score``);
    "no resolution stated" when the agent spoke but never stated one; the part is left out when no
    agent utterance exists.
  - outcome: the agent's last word on the problem: the last agent utterance of at least
    ``RESULT_MIN_WORDS`` words that states a fix or next step, or news (labelled positive or
    negative), and is not an offer, a transfer, a promise for later, a closing or a farewell. When
    that is the action's own utterance, the customer's first clear reaction to it (``|score| >= 0.3``)
    says how it landed. Without either: the last customer utterance after the issue with clear
    sentiment, else the last customer utterance after it, else the call's last utterance (left out
    when that would repeat the issue).
  - follow-up: the agent's first sentence, other than the action, that promises something for later
    (``FOLLOW_UP_PHRASES``: "you'll receive", "will arrive", "call you back", "by Friday" ...),
    appended as ``| Follow-up: <sentence>`` when there is one.
* Calls that end in the customer's decision (``analysis.decisions``: an offer accepted or declined, a
  cancellation, a payment or a payment arrangement): the agent's action is the offer the customer
  answered (its first sentence with an offer phrase), and the outcome is the decision itself,
  ``<outcome>: "<the customer's deciding utterance>"`` (``retention saved: "Go on then, put me on
  that one."``), or the agent's confirmation when no customer utterance decided it
  (``paid in full: "The payment's gone through, ..."``); never a farewell.
* Mono calls (all "unknown") or calls without customer text: the two sentences scoring highest by
  content-word frequency over the whole call (stop words removed; score = sum of the words'
  normalised frequencies / sqrt(number of content words)), in their original order.

Every part is cut to ``PART_CHARS`` characters on a word boundary. The per-utterance work
(sentence split, content words, problem words) is done once in ``utterance_features``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from analysis.decisions import offer_sentence
from analysis.text import compile_phrases, is_negated, split_sentences, truncate, words

__all__ = [
    "PART_CHARS",
    "PROBLEM_PHRASES",
    "RESULT_MIN_WORDS",
    "STOP_WORDS",
    "Decision",
    "SummaryFeatures",
    "SummaryUtterance",
    "summarise",
    "summary_parts",
    "utterance_features",
]

PART_CHARS: Final = 120
_CLEAR_SENTIMENT: Final = 0.3
RESULT_MIN_WORDS: Final = 8
_EARLY_MIN: Final = 3
_MONO_SENTENCES: Final = 2

PROBLEM_PHRASES: Final = (
    "problem*",
    "issue*",
    "broken",
    "broke",
    "charged",
    "overcharged",
    "double charged",
    "went down",
    "gone down",
    "goes down",
    "is down",
    "keeps dropping",
    "outage",
    "error*",
    "fail*",
    "stopped working",
    "wrong",
    "refund",
    "cancel*",
    "disconnected",
    "slow",
    "complain*",
    "no internet",
    "no signal",
    "no service",
    "no connection",
)
# Problem words that carry their own negation, so they are never "negated" again.
NEGATIVE_PROBLEM_PHRASES: Final = (
    "not working",
    "{neg} working",
    "{neg} work",
    "can't",
    "cannot",
    "won't",
    "doesn't",
    "isn't",
    "didn't",
    "haven't",
)
FOLLOW_UP_PHRASES: Final = (
    "you'll receive",
    "you will receive",
    "you'll get",
    "you will get",
    "you should receive",
    "you should get",
    "will arrive",
    "should arrive",
    "will be refunded",
    "will reach",
    "call you back",
    "give you a call",
    "will call you",
    "get back to you",
    "follow up",
    "will visit",
    "will come out",
    "i'll email",
    "i can email",
    "i'll send",
    "within {num} *days",
    "within {num} hours",
    "by monday",
    "by tuesday",
    "by wednesday",
    "by thursday",
    "by friday",
    "tomorrow",
    "next week",
)
# A farewell is not a statement of how the call ended ("Lovely. Take care, and have a good evening.").
FAREWELL_PHRASES: Final = (
    "take care",
    "have a good",
    "have a great",
    "have a lovely",
    "have a nice",
    "enjoy the rest",
    "thanks for calling",
    "thank you for calling",
    "bye",
    "goodbye",
    "you're welcome",
    "you're so welcome",
    "you're very welcome",
    "good luck",
    "all the best",
    "hope * goes well",
    "hope * goes smoothly",
)
_FOLLOW_UP_RE: Final = compile_phrases(FOLLOW_UP_PHRASES)
_FAREWELL_RE: Final = compile_phrases(FAREWELL_PHRASES)
_PROBLEM_RE: Final = compile_phrases(PROBLEM_PHRASES)
_NEGATIVE_PROBLEM_RE: Final = compile_phrases(NEGATIVE_PROBLEM_PHRASES)

_STOP_WORDS_TEXT: Final = """
    a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
    down during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's
    her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it
    it's its itself let's me more most mustn't my myself no nor not of off on once only or other ought
    our ours ourselves out over own same shan't she she'd she'll she's should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too under until up very was wasn't we we'd we'll we're we've
    were weren't what what's when when's where where's which while who who's whom why why's with won't
    would wouldn't you you'd you'll you're you've your yours yourself yourselves
    um uh er ah oh okay ok yeah yes yep hmm mm like just really actually well right so got get gonna
    wanna know mean thing things going go also still now sure please thanks thank hi hello bye
"""
STOP_WORDS: Final = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class SummaryFeatures:
    """Per-utterance material for the summary, computed once when the utterance is added."""

    sentences: tuple[str, ...] = ()
    content: tuple[tuple[str, ...], ...] = ()  # content words per sentence
    problem_cues: int = 0
    problem_sentence: int | None = None  # index of the first sentence with a problem word
    follow_up_sentences: tuple[int, ...] = ()  # indexes of sentences that promise something later
    farewell: bool = False  # the utterance says goodbye


@dataclass(frozen=True, slots=True)
class SummaryUtterance:
    """What ``summarise`` needs to know about one analysed utterance."""

    speaker: str
    compound: float
    words: int
    features: SummaryFeatures
    resolution_sentence: str | None
    sentiment: str = "neutral"  # the per-utterance label
    closing: bool = False  # "is there anything else?": not a statement of the result
    aside: bool = False  # an offer or a transfer: neither says how the problem ends


@dataclass(frozen=True, slots=True)
class Decision:
    """The customer's decision, as the summary quotes it (``analysis.decisions.call_decision``)."""

    outcome: str  # described: "retention saved", "sale closed" ...
    kind: str  # "offer accepted", "cancelled", "payment taken" ...
    decided: SummaryUtterance | None  # the customer's deciding utterance
    offer: SummaryUtterance | None  # the agent's offer it answered
    confirmation: SummaryUtterance | None  # the agent's confirmation


def _problem_count(text: str) -> int:
    plain = sum(1 for m in _PROBLEM_RE.finditer(text) if not is_negated(text, m.start()))
    return plain + sum(1 for _ in _NEGATIVE_PROBLEM_RE.finditer(text))


def content_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` that are not stop words (lower-cased)."""
    return tuple(w for w in words(text) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit()))


def utterance_features(text: str) -> SummaryFeatures:
    """Split one utterance into sentences and find its content and problem words."""
    if not text or not text.strip():
        return SummaryFeatures()
    sentences = tuple(split_sentences(text))
    problem_sentence: int | None = None
    total = 0
    for index, sentence in enumerate(sentences):
        count = _problem_count(sentence)
        total += count
        if count and problem_sentence is None:
            problem_sentence = index
    return SummaryFeatures(
        sentences=sentences,
        content=tuple(content_words(s) for s in sentences),
        problem_cues=total,
        problem_sentence=problem_sentence,
        follow_up_sentences=tuple(i for i, s in enumerate(sentences) if _FOLLOW_UP_RE.search(s)),
        farewell=_FAREWELL_RE.search(text) is not None,
    )


def _quote(utterance: SummaryUtterance, from_problem: bool = False) -> str:
    sentences = utterance.features.sentences
    start = utterance.features.problem_sentence if from_problem else None
    return truncate(" ".join(sentences[start or 0 :]), PART_CHARS)


def _issue_score(utterance: SummaryUtterance) -> float:
    return (
        1.0 * min(utterance.features.problem_cues, 3) + max(0.0, -utterance.compound) + 0.02 * min(utterance.words, 25)
    )


def _speaker_parts(spoken: Sequence[SummaryUtterance], decision: Decision | None = None) -> dict[str, str]:
    customer_positions = [i for i, u in enumerate(spoken) if u.speaker == "customer"]
    issue_position = _issue_position(spoken, customer_positions)
    parts = {"issue": _quote(spoken[issue_position], from_problem=True)}
    agent = [u for u in spoken if u.speaker == "agent"]
    action = next((u for u in agent if u.resolution_sentence and not u.aside), None)
    if agent:
        parts.update(_agent_parts(agent, action))
    if decision is not None:
        parts.update(_decision_parts(decision))
        return parts
    outcome = _outcome(spoken, customer_positions, issue_position, action)
    if outcome is not None:
        parts["outcome"] = _quote(outcome)
    return parts


def _decision_parts(decision: Decision) -> dict[str, str]:
    """The action (the offer answered) and the outcome (the decision, quoted) of a decided call."""
    parts: dict[str, str] = {}
    if decision.offer is not None:
        sentence = offer_sentence(decision.offer.features.sentences)
        if sentence:
            parts["action"] = truncate(sentence, PART_CHARS)
    # A cancellation, a payment or an arrangement is stated by the agent's confirmation of it (what was
    # done); an offer accepted or declined by the customer's own words.
    done = decision.outcome in ("cancelled", "paid in full", "payment arrangement")
    first, second = (decision.confirmation, decision.decided) if done else (decision.decided, decision.confirmation)
    said = first or second
    quote = truncate(" ".join(said.features.sentences), PART_CHARS - len(decision.outcome) - 4) if said else ""
    parts["outcome"] = f'{decision.outcome}: "{quote}"' if quote else decision.outcome
    return parts


def _issue_position(spoken: Sequence[SummaryUtterance], customer_positions: Sequence[int]) -> int:
    """Where the issue is stated: the customer's most informative early utterance."""
    early = customer_positions[: max(_EARLY_MIN, math.ceil(len(customer_positions) / 2))]
    return max(early, key=lambda i: (_issue_score(spoken[i]), -i))


def _agent_parts(agent: Sequence[SummaryUtterance], action: SummaryUtterance | None) -> dict[str, str]:
    """``action`` (the first fix or next step stated) and, when there is one, ``follow_up``."""
    sentence = action.resolution_sentence if action is not None else None
    parts = {"action": truncate(sentence, PART_CHARS) if sentence else "no resolution stated"}
    follow_up = next(
        (
            u.features.sentences[i]
            for u in agent
            for i in u.features.follow_up_sentences
            if u.features.sentences[i] != sentence
        ),
        None,
    )
    if follow_up:
        parts["follow_up"] = truncate(follow_up, PART_CHARS)
    return parts


def _outcome(
    spoken: Sequence[SummaryUtterance],
    customer_positions: Sequence[int],
    issue_position: int,
    action: SummaryUtterance | None,
) -> SummaryUtterance | None:
    """The utterance that says how the call ended (see the module doc); None when it would repeat the issue."""
    results = [u for u in spoken[customer_positions[0] + 1 :] if u.speaker == "agent" and _states_result(u)]
    if results and results[-1] is not action:
        return results[-1]  # the agent's last statement of how it ends (a fix, a refusal, news)
    if action is not None:
        # nothing said after the fix, which is already the "Agent:" part: how the customer took it
        return _reaction(spoken, customer_positions, issue_position, action)
    return _last_customer_word(spoken, customer_positions, issue_position)


def _last_customer_word(
    spoken: Sequence[SummaryUtterance], customer_positions: Sequence[int], issue_position: int
) -> SummaryUtterance | None:
    """Without a result or an action: the customer's last clear utterance after the issue, else their
    last one after it, else the call's last utterance (None when that is the issue itself)."""
    later = [spoken[i] for i in customer_positions if i > issue_position]
    clear = [u for u in later if abs(u.compound) >= _CLEAR_SENTIMENT]
    if clear:
        return clear[-1]
    if later:
        return later[-1]
    return spoken[-1] if spoken[-1] is not spoken[issue_position] else None


def _reaction(
    spoken: Sequence[SummaryUtterance],
    customer_positions: Sequence[int],
    issue_position: int,
    action: SummaryUtterance,
) -> SummaryUtterance:
    """The customer's first clear reaction after the action (and the issue), else their last word after
    it, else the action itself."""
    fixed_at = next(i for i, u in enumerate(spoken) if u is action)
    after = [spoken[i] for i in customer_positions if i > max(fixed_at, issue_position)]
    reaction = [u for u in after if abs(u.compound) >= _CLEAR_SENTIMENT]
    return reaction[0] if reaction else after[-1] if after else action


def _states_result(utterance: SummaryUtterance) -> bool:
    """An agent utterance that says how the problem ends: a fix or next step, or news good or bad."""
    if utterance.closing or utterance.aside or utterance.features.farewell or utterance.words < RESULT_MIN_WORDS:
        return False
    features = utterance.features
    promises = {features.sentences[i] for i in features.follow_up_sentences}  # the "Follow-up:" part
    if utterance.resolution_sentence is not None and utterance.resolution_sentence not in promises:
        return True
    return not promises and utterance.sentiment in ("positive", "negative")


_PART_TITLES: Final = (("issue", "Customer"), ("action", "Agent"), ("outcome", "Outcome"), ("follow_up", "Follow-up"))


def summary_parts(utterances: Sequence[SummaryUtterance], decision: Decision | None = None) -> dict[str, str]:
    """The parts of a call with speakers: ``issue``, ``action``, ``outcome``, ``follow_up`` (each only
    when found); empty for mono calls and calls without customer text."""
    spoken = [u for u in utterances if u.words > 0 and u.features.sentences]
    if not any(u.speaker == "customer" for u in spoken):
        return {}
    return _speaker_parts(spoken, decision)


def _frequency_summary(spoken: Sequence[SummaryUtterance], counts: Mapping[str, int]) -> str:
    top = max(counts.values(), default=0)
    scored: list[tuple[float, int, str]] = []
    for utterance in spoken:
        for sentence, content in zip(utterance.features.sentences, utterance.features.content, strict=True):
            value = sum(counts.get(w, 0) for w in content) / top / math.sqrt(len(content)) if content and top else 0.0
            scored.append((value, len(scored), sentence))
    best = sorted(scored, key=lambda item: (-item[0], item[1]))[:_MONO_SENTENCES]
    return " ".join(truncate(sentence, PART_CHARS) for _, _, sentence in sorted(best, key=lambda item: item[1]))


def summarise(
    utterances: Sequence[SummaryUtterance], content_counts: Mapping[str, int], decision: Decision | None = None
) -> str:
    """The summary of chronologically ordered utterances; ``content_counts`` counts content words
    over the whole call (used for mono calls); ``decision`` the customer's decision, when the call has
    one. Empty only when no utterance has a word."""
    spoken = [u for u in utterances if u.words > 0 and u.features.sentences]
    if not spoken:
        return ""
    if any(u.speaker == "customer" for u in spoken):
        parts = _speaker_parts(spoken, decision)
        return " | ".join(f"{title}: {parts[key]}" for key, title in _PART_TITLES if key in parts)
    return _frequency_summary(spoken, content_counts)
