"""One call's PII redactor: each final utterance in, the spans that hold personal data out.

It keeps what a call's context says across utterances: the last few utterances' cues (the agent
asks "can I take the long number on the card?", the customer's next utterance is the card), and per
speaker a number left unfinished at the end of an utterance (a card read across a pause: the
speaker's next utterance goes on with it). Detection runs on everything; which entities are removed
from which output is the policy's business (`Redaction.text_for`).

Findings are token ranges (`tokens`), mapped to characters for the text and to the words' times for
the audio (`RedactedSpan.start_s` / `end_s`, on the utterance's own timeline: seconds from its start).
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from analysis.pii.cues import AFTER_KINDS, NOT_PII, Cue, find_cues
from analysis.pii.entities import Entity, Finding
from analysis.pii.names import PersonNames, person_spans
from analysis.pii.numbers import (
    BARE_CODE,
    FAIL_CLOSED,
    FULL_LENGTH,
    HOMOPHONES,
    PART_OF_A_NUMBER,
    VALIDATED,
    DigitRun,
    claimed_by_other_cue,
    classify_run,
    digit_runs,
    luhn_valid,
    run_digits,
    valid_phone,
)
from analysis.pii.spoken_forms import MONTHS, addresses, dates, emails, letter_codes, spelled_addresses, spelled_letters
from analysis.pii.tokens import Token, tokenize

__all__ = ["CallRedactor", "MaskStyle", "RedactedSpan", "Redaction", "TimedWord", "word_places"]

CONTEXT_UTTERANCES = 3  # how many earlier utterances (any speaker) can cue a number
CONTEXT_SECONDS = 40.0
CONTINUATION_SECONDS = 20.0
SHORTEST_CARD = 13  # digits: a card number found with fewer is unfinished, whatever the speaker said after it
OPEN_DIGITS = 3  # an utterance ending in this many unclaimed digits may go on in the speaker's next
OPEN_TAIL = 5  # ... when the digits are among its last words ("... 5-0-0-7. Did you get that?")
JOIN_LEAD_WORDS = 6  # how far into the next utterance its digits may start ("then the last part is 3 4 …")
CONTINUATION_LEAD_WORDS = 8  # the same for a number whose first part was claimed ("Sorry my son's shouting, 7725…")
ENTITY_KINDS = frozenset(Entity)  # cues of personal data (not NOT_PII, QUANTITY, EXPIRY)
# Where a cue expects one of these, a word Whisper garbled with letters may hold its digits.
GARBLED_KINDS = frozenset(
    {Entity.CARD_NUMBER, Entity.SECURITY_CODE, Entity.PHONE_NUMBER, Entity.BANK_ACCOUNT, Entity.SORT_CODE}
)
NUMBER_ENTITIES = frozenset(
    {
        Entity.CARD_NUMBER,
        Entity.SECURITY_CODE,
        Entity.BANK_ACCOUNT,
        Entity.SORT_CODE,
        Entity.PHONE_NUMBER,
        Entity.US_SSN,
        Entity.DATE_OF_BIRTH,
        Entity.POSTCODE,
    }
)


class MaskStyle(enum.StrEnum):
    TAG = "tag"  # "[CARD_NUMBER]"
    LAST4 = "last4"  # cards as "************1234"; every other entity as its tag


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float  # seconds from the utterance's start
    end: float


@dataclass(frozen=True)
class RedactedSpan:
    entity: Entity
    start: int  # characters of the utterance's text
    end: int
    start_s: float | None  # the words' times (None: the recogniser gave no words for it)
    end_s: float | None
    confidence: float
    digits_tail: str = ""  # a card's last four digits (for the last-four mask)


@dataclass(frozen=True)
class Redaction:
    text: str  # as recognised
    spans: tuple[RedactedSpan, ...]
    # The utterance ends in digits nothing has claimed yet ("the first eight are 4904 6088"): the speaker's
    # next utterance may go on with the number and say what it was. A caller that writes files should hold
    # this one until then (or until `CONTINUATION_SECONDS` of call have passed).
    open_number: bool = False
    # The speaker's previous utterance (an `open_number` one) redacted again with what this one told: its
    # number went on here and is, as a whole, a card ("... and the rest is 3254 4398"). None: it stands.
    revises: Redaction | None = None

    def covering(self, entities: Iterable[Entity]) -> list[RedactedSpan]:
        chosen = set(entities)
        return [s for s in self.spans if s.entity in chosen]

    def text_for(self, entities: Iterable[Entity], style: MaskStyle = MaskStyle.TAG) -> str:
        """The text with the spans of `entities` replaced (adjacent ones of one entity: one tag)."""
        spans = sorted(self.covering(entities), key=lambda s: s.start)
        if not spans:
            return self.text
        out: list[str] = []
        cursor = 0
        previous: RedactedSpan | None = None
        for span in spans:
            if span.start < cursor:  # overlaps the one before: already replaced
                continue
            gap = self.text[cursor : span.start]
            if previous is not None and previous.entity is span.entity and not re.sub(r"[\s,.\-]", "", gap):
                out[-1] = _replacement(span, style, self.text[previous.start : span.end])
            else:
                out.append(gap)
                out.append(_replacement(span, style, self.text[span.start : span.end]))
            cursor = span.end
            previous = span
        out.append(self.text[cursor:])
        return "".join(out)


def _replacement(span: RedactedSpan, style: MaskStyle, original: str) -> str:
    if style is MaskStyle.LAST4 and span.entity is Entity.CARD_NUMBER:
        digits = sum(c.isdigit() for c in original) or 12
        tail = span.digits_tail
        return "*" * max(digits - len(tail), 4) + tail
    return f"[{span.entity.value}]"


@dataclass
class _Said:
    speaker: str
    end: float
    cues: list[Cue]
    entities: frozenset[Entity] = frozenset()


@dataclass
class _Unfinished:
    entity: Entity
    digits: int
    end: float


@dataclass
class _Open:
    """A speaker's utterance that ended in unclaimed digits, kept to be judged again with the next one."""

    text: str
    tokens: list[Token]
    words: Sequence[TimedWord]
    findings: list[Finding]
    runs: list[DigitRun]  # the digits that end it: read with homophones ("to 12 8 7 5"), then without
    cues: list[Cue]  # what could say what the run was, nearest first
    end: float


@dataclass
class CallRedactor:
    """Findings for one call's utterances, in order. Not thread-safe: one call's finals are serial."""

    names: PersonNames | None = field(default_factory=PersonNames)
    _recent: deque[_Said] = field(default_factory=lambda: deque(maxlen=CONTEXT_UTTERANCES))
    _unfinished: dict[str, _Unfinished] = field(default_factory=dict)
    _open: dict[str, _Open] = field(default_factory=dict)

    def redact(
        self,
        text: str,
        words: Sequence[TimedWord] = (),
        *,
        speaker: str = "unknown",
        start: float = 0.0,
        end: float = 0.0,
    ) -> Redaction:
        tokens, own_cues, prior, findings, earlier = self._read(text, speaker, start)
        previous = self._open.pop(speaker, None)
        revises: Redaction | None = None
        if previous is not None and earlier is not None:
            revises = Redaction(previous.text, tuple(_spans(previous.text, previous.tokens, earlier, previous.words)))
        opened = self._opening(text, tokens, own_cues, prior, findings, words, end)
        if opened is not None:
            self._open[speaker] = opened
        self._remember(speaker, text, tokens, own_cues, findings, end)
        return Redaction(text, tuple(_spans(text, tokens, findings, words)), opened is not None, revises)

    def _opening(
        self,
        text: str,
        tokens: list[Token],
        own: list[Cue],
        prior: list[_Said],
        findings: list[Finding],
        words: Sequence[TimedWord],
        end: float,
    ) -> _Open | None:
        """The utterance's last digit run, if it ends the utterance and nothing claimed it (not a finding,
        not an order number or a price): the start of a number the speaker may go on with."""
        runs = digit_runs(text, tokens)
        if not runs:
            return None
        run = runs[-1]
        rest = text[tokens[run.last].end :]
        asks = bool(re.fullmatch(r"[.,!]\s+[^.?!]{0,60}\?\s*", rest))  # "4 8 4 8 0 9 7 8. Are you getting them?"
        if (
            len(run.digits) < OPEN_DIGITS
            or (run.last < len(tokens) - OPEN_TAIL and not asks)
            or _overlaps(run.first, run.last, [f for f in findings if f.reason != BARE_CODE])
        ):
            return None
        run_start, run_end = tokens[run.first].start, tokens[run.last].end
        cues = [
            *[c for c in own if c.start >= run_end and c.start - run_end <= 40],
            *[c for c in reversed(own) if c.end <= run_start],
            *[cue for said in prior for cue in reversed(said.cues)],
        ]
        if claimed_by_other_cue(run, cues):
            return None
        soft = [r for r in digit_runs(text, tokens, soft=True) if r.first < run.first and r.last == run.last]
        return _Open(text, tokens, words, findings, [*soft, run], cues, end)

    def _join(
        self, previous: _Open, text: str, tokens: list[Token], own: list[Cue], findings: list[Finding]
    ) -> tuple[list[Finding], list[Finding]] | None:
        """The previous utterance's open digits and this one's first run read as one number: when the whole
        is something (a Luhn-valid card, a possible phone number, what a cue asked for), both parts are it.
        Returns (this utterance's findings, the previous one's), or None."""
        strict = digit_runs(text, tokens)
        soft = digit_runs(text, tokens, soft=True)
        strict_first = strict[0] if strict else None
        for theirs_run in previous.runs:
            for run in (soft[0] if soft else None, strict_first):
                if run is None or run.first > JOIN_LEAD_WORDS:
                    continue
                theirs = [f for f in findings if f.first <= run.last and run.first <= f.last]
                if any(f.reason in ("luhn", "international phone number", "ssn pattern") for f in theirs):
                    return None  # complete by itself
                head = previous.tokens[theirs_run.first : theirs_run.last + 1]
                joined = [*head, *tokens[run.first : run.last + 1]]
                whole = DigitRun(0, len(joined) - 1, theirs_run.digits + run.digits, theirs_run.plus, "")
                lead = [c for c in reversed(own) if c.end <= tokens[run.first].start]
                finding = classify_run(whole, [*lead, *previous.cues], joined, None, 0)
                if finding is None:
                    continue
                homophones = run is not strict_first or theirs_run is not previous.runs[-1]
                if homophones and not (finding.reason in VALIDATED or _checks_out(finding.entity, whole)):
                    continue  # a soft reading stands only on a number that checks out
                entity, confidence = finding.entity, finding.confidence
                mine = [f for f in findings if f not in theirs] + [
                    Finding(entity, run.first, run.last, confidence, "continues")
                ]
                earlier = [
                    *previous.findings,
                    Finding(entity, theirs_run.first, theirs_run.last, confidence, "continued"),
                ]
                return _resolve(mine), _resolve(earlier)
        return None

    def peek(self, text: str, *, speaker: str = "unknown", start: float = 0.0) -> Redaction:
        """What `redact` would find in `text` now, without remembering it (a partial: its final comes)."""
        tokens, _, _, findings, _ = self._read(text, speaker, start)
        return Redaction(text, tuple(_spans(text, tokens, findings, ())))

    def _read(
        self, text: str, speaker: str, start: float
    ) -> tuple[list[Token], list[Cue], list[_Said], list[Finding], list[Finding] | None]:
        """An utterance's tokens, cues, context and findings, read on from the speaker's open number if
        it goes on here; the last item is then the open utterance's findings again, else None."""
        tokens = tokenize(text)
        own = find_cues(text)
        prior = [said for said in reversed(self._recent) if start - said.end <= CONTEXT_SECONDS]
        findings = self._find(text, tokens, own, prior, speaker, start)
        previous = self._open.get(speaker)
        if previous is None or start - previous.end > CONTINUATION_SECONDS:
            return tokens, own, prior, findings, None
        joined = self._join(previous, text, tokens, own, findings)  # the rest of an open number
        if joined is None:
            return tokens, own, prior, findings, None
        return tokens, own, prior, joined[0], joined[1]

    # ---- detection ---------------------------------------------------------------------------

    def _find(
        self, text: str, tokens: list[Token], own: list[Cue], prior: list[_Said], speaker: str, start: float
    ) -> list[Finding]:
        prior_cues = [cue for said in prior for cue in reversed(said.cues)]
        kinds = {cue.kind for cue in own} | {cue.kind for cue in prior_cues}
        unfinished = self._unfinished.get(speaker)
        continuing = unfinished.entity if unfinished and start - unfinished.end <= CONTINUATION_SECONDS else None
        findings: list[Finding] = []

        findings += emails(text, tokens)
        if any(said.speaker == speaker and Entity.EMAIL_ADDRESS in said.entities for said in prior[:2]):
            # "… at yahoo dot com", then "M-A-R-Y underscore Q": the speaker spells what they said
            findings += [f for f in spelled_addresses(tokens) if not _overlaps(f.first, f.last, findings)]
        date_spans = dates(text, tokens)
        if Entity.DATE_OF_BIRTH in kinds:
            findings += [Finding(Entity.DATE_OF_BIRTH, a, b, 0.85, "date after a birth cue") for a, b in date_spans]
        else:  # "the 23rd of January 1968": a whole date in the last century is someone's birthday, not an order's
            findings += [
                Finding(Entity.DATE_OF_BIRTH, a, b, 0.7, "date in the 1900s")
                for a, b in date_spans
                if b - a >= 2 and _in_the_1900s(tokens[a : b + 1])
            ]
        findings += [f for f in letter_codes(tokens, kinds) if not _claimed_code(tokens, f, own)]
        runs = digit_runs(text, tokens)
        findings += addresses(tokens, {run.first: run.last for run in runs})

        def cues_for(run: DigitRun) -> tuple[list[Cue], int]:
            """The cues that may say what `run` is, nearest first, and how many of them are its utterance's."""
            run_start = tokens[run.first].start
            run_end = tokens[run.last].end
            nearby = [c for c in reversed(own) if c.start < run_start and c.end <= tokens[run.first].end]
            after = [c for c in own if c.start >= run_end and c.start - run_end <= 12 and c.kind in AFTER_KINDS]
            if nearby and any(nearby[0].end <= tokens[r.last].end < run_start for r in runs):
                # "expiry 0 3 28 and 7 0 2 on the back": the cue before went with the number before; one
                # just after this number is this one's
                after += [c for c in own if c.kind in ENTITY_KINDS and run_end <= c.start <= run_end + 12]
            if not nearby:  # "It's 540, the last three digits on the back": a cue just after says what it was
                after += [
                    c
                    for c in own
                    if c.start >= run_end and c.start - run_end <= 40 and c not in after and c.kind in ENTITY_KINDS
                ]
            return [*after, *nearby, *prior_cues], len(after) + len(nearby)

        def classify(run: DigitRun) -> Finding | None:
            cues, mine = cues_for(run)
            run_start, run_end = tokens[run.first].start, tokens[run.last].end
            # "security code 879" or "three five nine for the code" just after a card: the cue decides, not
            # the card going on ("…, and the code on the back, 9-1-3": that cue is the next number's)
            later_runs = [tokens[r.first].start for r in runs if tokens[r.first].start > run_end]
            cued = any(c.end <= run_start for c in own) or any(
                (
                    c.kind in ENTITY_KINDS
                    and run_end <= c.start <= run_end + 40
                    and not any(x >= c.end for x in later_runs)
                )
                or (c.kind in AFTER_KINDS and run_end <= c.start <= run_end + 12)
                for c in own
            )
            goes_on = run.first <= CONTINUATION_LEAD_WORDS and not cued  # "Sorry, I lost my place, 0346 …"
            return classify_run(run, cues, tokens, continuing if goes_on else None, mine, text)

        strict: dict[tuple[int, int], Finding | None] = {}
        for run in runs:
            if _inside(run.first, run.last, findings):
                continue
            if any(a <= run.first and run.last <= b for a, b in date_spans) and Entity.DATE_OF_BIRTH not in kinds:
                continue  # a date (an order's, a delivery's)
            if _money(text, tokens, run) or _in_a_cue(tokens, run, own):
                strict[(run.first, run.last)] = None  # "£12.50"; the "three" of "the three digits on the back"
                continue
            strict[(run.first, run.last)] = finding = classify(run)
            if finding is not None:
                findings.append(finding)
        for run in _soft_readings(text, tokens, garbled=bool(kinds & GARBLED_KINDS)):
            if (run.first, run.last) in strict or _inside(run.first, run.last, findings):
                continue
            parts = [r for r in runs if run.first <= r.first and r.last <= run.last and (r.first, r.last) in strict]
            finding = classify(run)
            if finding is None:
                continue
            checks_out = finding.reason in VALIDATED or _checks_out(finding.entity, run)
            garbled = any(not t.digits and t.garbled_digits for t in tokens[run.first : run.last + 1])
            if garbled and any(c.kind == NOT_PII and c.end <= tokens[run.first].start for c in own):
                continue  # "the model number on the back says XR250"
            unclaimed = not any(_claims(strict[(r.first, r.last)]) for r in parts) and not any(
                claimed_by_other_cue(r, cues_for(r)[0]) for r in parts
            )
            same = bool(parts) and all(
                (f := strict[(r.first, r.last)]) is None or f.entity is finding.entity for r in parts
            )  # "232, a 4-2-1, 3-6-3, 8-3-1-4" after a card cue: one card, not three pieces of it
            if checks_out or unclaimed or (same and finding.entity in FAIL_CLOSED):
                # "0 to 8, 6" after "617 509": the soft reading stands when the number checks out, or when a
                # cue asked for it and the strict reading was nothing ("the security code for 9.0")
                findings.append(Finding(finding.entity, finding.first, finding.last, finding.confidence + 0.01, "soft"))
        numbers = {r.digits for r in runs if len(r.digits) > 1}
        if self._open.get(speaker) is not None or continuing is not None or len(numbers) > 1:
            # three or four digits after an open number, or among other numbers, are part of something
            # longer, not a code on its own ("And then 9 1 8 7", "the numbers 4 8 3 6, the 1 double 7, …")
            findings = [f for f in findings if f.reason != BARE_CODE]
        findings += self._people(text, tokens, own, kinds, findings)
        return _resolve(findings)

    def _people(
        self, text: str, tokens: list[Token], cues: list[Cue], kinds: set[str], found: list[Finding]
    ) -> list[Finding]:
        people: list[Finding] = []
        if self.names is not None:
            for a, b in person_spans(self.names.spans(text), tokens):
                if not _overlaps(a, b, found) and not _not_a_name(tokens[a : b + 1], cues):
                    people.append(Finding(Entity.PERSON, a, b, 0.8, "person name"))
        for a, b in _introduced_names(tokens):
            if not _overlaps(a, b, found) and not _overlaps(a, b, people) and not _not_a_name(tokens[a : b + 1], cues):
                people.append(Finding(Entity.PERSON, a, b, 0.7, "introduced name"))
        for a, b in spelled_letters(tokens):
            near_name = Entity.PERSON in kinds or any(abs(a - p.last) <= 3 or abs(p.first - b) <= 3 for p in people)
            if near_name and not _overlaps(a, b, found) and not _overlaps(a, b, people):
                people.append(Finding(Entity.PERSON, a, b, 0.75, "spelled name"))
        return people

    def _remember(
        self, speaker: str, text: str, tokens: list[Token], own: list[Cue], findings: list[Finding], end: float
    ) -> None:
        # A cue whose value followed it in the same utterance is spent: "my card number is 4539 1488 0343
        # 6467" does not make the speaker's next numbers a card (a card going on is `_unfinished`'s). Names
        # stay cued: a name said is often spelled next.
        open_cues = [
            cue
            for cue in own
            if cue.kind not in NUMBER_ENTITIES
            or not any(f.entity == cue.kind and tokens[f.first].start >= cue.end for f in findings)
        ]
        self._recent.append(_Said(speaker, end, open_cues, frozenset(f.entity for f in findings)))
        numbers = [f for f in findings if f.entity in FULL_LENGTH]
        previous = self._unfinished.pop(speaker, None)
        if not numbers or not tokens:
            return
        last = max(numbers, key=lambda f: f.last)
        digits = sum(
            sum(c.isdigit() for c in t.digits) or (1 if t.is_number_word else 0)
            for t in tokens[last.first : last.last + 1]
        )
        if previous is not None and previous.entity is last.entity and last.reason == "continues":
            digits += previous.digits
        if last.last < len(tokens) - 3 and not (last.entity is Entity.CARD_NUMBER and digits < SHORTEST_CARD):
            return  # the number was finished, something else followed it (a card is not, short of 13 digits:
            # "The card number 5 4 6 8 2 0 1 3, hang on, there's someone at the door.")
        if digits < FULL_LENGTH[last.entity] and last.reason != "luhn":
            self._unfinished[speaker] = _Unfinished(last.entity, digits, end)


_INTRO = re.compile(
    r"^(?:my name is|name's|this is|i'm|i am|it's|speaking with|speaking to|call me|mr|mrs|ms|miss|dr)$"
)


def _introduced_names(tokens: list[Token]) -> list[tuple[int, int]]:
    """Capitalised words after "my name is", "this is", "Mr" … (spaCy misses names it has not seen)."""
    spans: list[tuple[int, int]] = []
    for i in range(len(tokens)):
        for width in (3, 2, 1):
            if i - width + 1 < 0:
                continue
            lead = " ".join(t.norm for t in tokens[i - width + 1 : i + 1])
            if _INTRO.match(lead):
                j = i + 1
                while (
                    j < len(tokens)
                    and j - i <= 2
                    and tokens[j].raw[:1].isupper()
                    and tokens[j].raw.isalpha()
                    and len(tokens[j].raw) > 1
                ):
                    j += 1
                if j > i + 1 and tokens[i + 1].norm not in _NOT_NAMES:
                    spans.append((i + 1, j - 1))
                break
    return spans


_NOT_NAMES = {"calling", "sorry", "just", "here", "fine", "good", "great", "okay", "not", "the", "a", "really", "so"}


def _soft_readings(text: str, tokens: list[Token], garbled: bool) -> list[DigitRun]:
    """The runs read with homophones, each also without a homophone it starts with ("charge it to 3 4 5 …");
    `garbled`: with the words Whisper garbled with letters too ("The Visa debit is 4G1HE727G, 4396…")."""
    readings: list[DigitRun] = []
    for run in digit_runs(text, tokens, soft=True, garbled=garbled):
        readings.append(run)
        if tokens[run.first].norm in HOMOPHONES and run.first < run.last:
            rest = tokens[run.first + 1 : run.last + 1]
            written = text[rest[0].start : rest[-1].end]
            readings.append(DigitRun(run.first + 1, run.last, run_digits(rest, garbled), False, written))
    return readings


_MONEY = re.compile(r"\d{1,3}(?:,\d{3})*(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?")


def _money(text: str, tokens: list[Token], run: DigitRun) -> bool:
    """A written amount after a currency sign ("£12.50", "$1,200"), whatever cue came before ("a credit of")."""
    at = tokens[run.first].start
    return at > 0 and text[at - 1] in "£$€¥" and bool(_MONEY.fullmatch(tokens[run.first].raw)) and run.first == run.last


def _claimed_code(tokens: list[Token], finding: Finding, own: Sequence[Cue]) -> bool:
    """A letters-and-digits code just after a model, serial or reference cue ("Model U E 55-CU"): a
    product code, whatever its shape."""
    start = tokens[finding.first].start
    before = [c for c in own if c.end <= start and start - c.end <= 15]
    return bool(before) and before[-1].kind == NOT_PII


def _in_a_cue(tokens: list[Token], run: DigitRun, cues: Sequence[Cue]) -> bool:
    """A number that is part of a cue ("the first eight are", "three digits"), or a length ("the 8 digit")."""
    start, end = tokens[run.first].start, tokens[run.last].end
    if run.last + 1 < len(tokens) and tokens[run.last + 1].norm in ("digit", "digits", "numbers", "letters"):
        return True
    return any(c.start <= start and end <= c.end for c in cues)


def _in_the_1900s(date: Sequence[Token]) -> bool:
    return any(re.fullmatch(r"19\d\d", t.norm) for t in date) or any(t.norm == "nineteen" for t in date[1:])


def _not_a_name(words: Sequence[Token], cues: Sequence[Cue]) -> bool:
    """spaCy's PERSON spans that are not names in a contact centre's speech: a cue ("zip code", "Model
    TV"), a month ("July"), an acronym ("HR", "TV")."""
    if any(c.start < words[-1].end and words[0].start < c.end for c in cues):
        return True
    return all(w.norm in MONTHS or (w.raw.isupper() and len(w.raw) <= 3) for w in words)


def _checks_out(entity: Entity, run: DigitRun) -> bool:
    """Whether a number is, by itself, what it was called: a Luhn-valid card, a possible phone number."""
    if entity is Entity.CARD_NUMBER:
        return 13 <= len(run.digits) <= 19 and luhn_valid(run.digits)
    if entity is Entity.PHONE_NUMBER:
        return len(run.digits) >= 10 and valid_phone(run.digits, run.plus)
    return False


def _claims(finding: Finding | None) -> bool:
    """Whether a strict reading's finding stands against a soft one. One that only fails closed does not:
    "… eight seven three your seven five two" is a card read with a homophone, not a card and a code, and
    "the security code for 9.0" is "490", not "90"."""
    return finding is not None and finding.reason not in (BARE_CODE, PART_OF_A_NUMBER)


def _inside(first: int, last: int, findings: Sequence[Finding]) -> bool:
    return any(f.first <= first and last <= f.last for f in findings)


def _overlaps(first: int, last: int, findings: Sequence[Finding]) -> bool:
    return any(f.first <= last and first <= f.last for f in findings)


def _resolve(findings: list[Finding]) -> list[Finding]:
    """Overlapping findings: the more confident (then the longer) one wins."""
    ordered = sorted(findings, key=lambda f: (-f.confidence, -(f.last - f.first)))
    kept: list[Finding] = []
    for finding in ordered:
        if not _overlaps(finding.first, finding.last, kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.first)


def word_places(text: str, words: Sequence[str]) -> list[tuple[int, int] | None]:
    """Each recognised word's characters in `text`, found in order (None for a word not found)."""
    places: list[tuple[int, int] | None] = []
    cursor = 0
    for word in words:
        needle = word.strip()
        at = text.find(needle, cursor) if needle else -1
        if at < 0:
            places.append(None)
            continue
        places.append((at, at + len(needle)))
        cursor = at + len(needle)
    return places


def _spans(text: str, tokens: list[Token], findings: list[Finding], words: Sequence[TimedWord]) -> list[RedactedSpan]:
    places = word_places(text, [w.text for w in words])
    spans: list[RedactedSpan] = []
    for finding in findings:
        start, end = tokens[finding.first].start, tokens[finding.last].end
        timed = [
            w
            for w, place in zip(words, places, strict=True)
            if place is not None and place[0] < end and place[1] > start
        ]
        tail = ""
        if finding.entity is Entity.CARD_NUMBER:
            digits = run_digits(tokens[finding.first : finding.last + 1])
            tail = digits[-4:] if len(digits) >= 13 else ""
        spans.append(
            RedactedSpan(
                finding.entity,
                start,
                end,
                min(w.start for w in timed) if timed else None,
                max(w.end for w in timed) if timed else None,
                finding.confidence,
                tail,
            )
        )
    return spans
