"""Runs of spoken or written digits, and what each one is: card, security code, account, phone …

A run is a stretch of words that all say digits ("4539 1488", "four five three nine", "double oh
seven") with nothing but spaces, commas, dashes or dots between them. Its digits are then judged by
their count, their checksum (Luhn for cards) and the nearest cue (`cues`): a Luhn-valid 13-19 digit
number is a card wherever it is; eight digits are a bank account after "account number" and an order
after "order number"; a phone number is one `phonenumbers` (Google's libphonenumber, the library
Presidio's phone recognizer wraps) calls possible, any after "plus", or one after a phone cue. Whisper's
slips are read too: homophones ("to" for two) only in a reading that then checks out, and words
garbled with letters ("4G1HE727G") only where a cue expects a number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

from analysis.pii.cues import EXPIRY, NOT_PII, QUANTITY, Cue
from analysis.pii.entities import Entity, Finding
from analysis.pii.tokens import REPEATS, TRIPLE_SLIPS, UNITS, WEAK_UNITS, Token, digit_values

__all__ = [
    "BARE_CODE",
    "FAIL_CLOSED",
    "FULL_LENGTH",
    "HOMOPHONES",
    "PART_OF_A_NUMBER",
    "VALIDATED",
    "DigitRun",
    "claimed_by_other_cue",
    "classify_run",
    "digit_runs",
    "luhn_valid",
    "run_digits",
    "valid_phone",
]

_BETWEEN = re.compile(r"[\s,.\-/]*")

# (fewest, most) digits an entity's number has; a continuation (the rest of a number read across two
# utterances) may be shorter.
LENGTHS: dict[str, tuple[int, int]] = {
    Entity.CARD_NUMBER: (4, 19),
    Entity.SECURITY_CODE: (3, 4),
    Entity.SORT_CODE: (4, 6),
    Entity.BANK_ACCOUNT: (6, 17),
    Entity.PHONE_NUMBER: (6, 15),
    Entity.US_SSN: (4, 9),
    Entity.UK_NINO: (6, 6),
    Entity.POSTCODE: (5, 9),
    Entity.DATE_OF_BIRTH: (4, 8),
    Entity.STREET_ADDRESS: (1, 5),
    NOT_PII: (1, 99),
    QUANTITY: (1, 99),
    EXPIRY: (3, 6),
}
# Full lengths: a number of an entity read only partly leaves the rest for the speaker's next utterance.
FULL_LENGTH = {
    Entity.CARD_NUMBER: 15,
    Entity.SECURITY_CODE: 3,
    Entity.BANK_ACCOUNT: 8,
    Entity.SORT_CODE: 6,
    Entity.PHONE_NUMBER: 10,
    Entity.US_SSN: 9,
}
CONTINUATION_MIN = 2
# Payment data: a run shorter than the entity's numbers, after its cue, is still taken for part of one.
FAIL_CLOSED = frozenset({Entity.CARD_NUMBER, Entity.SECURITY_CODE, Entity.SORT_CODE, Entity.BANK_ACCOUNT})


@dataclass(frozen=True)
class DigitRun:
    first: int  # token indexes, inclusive
    last: int
    digits: str
    plus: bool  # "+44 …" / "plus four four …"
    written: str  # the run's text as written (for the SSN's dashes and the date's slashes)


# Words Whisper writes for a digit it misheard in a run of digits ("0 to 8 6", "three your seven", "a 7 9 4
# …" for "oh seven nine four"). Read as digits only in a *soft* reading of a run, which counts only when
# the whole number then checks out (Luhn, libphonenumber) or is what a cue asked for and the strict reading
# is not.
HOMOPHONES = {
    "to": "two", "too": "two", "for": "four", "fore": "four", "your": "four", "of": "oh", "or": "oh",
    "a": "oh", "won": "one", "ate": "eight", "n": "double",
}  # fmt: skip


def _digit_words(tokens: Sequence[Token], soft: bool = False, garbled: bool = False) -> list[bool]:
    """Which tokens say digits. "oh", "o", "double" and "hundred" do only beside another word that does
    ("oh, oh, four": the first "oh" counts through the second); in a soft reading a homophone does beside
    a digit word (not beside another homophone)."""
    strong = [
        bool(t.digits)
        or (garbled and bool(t.garbled_digits))
        or (t.is_number_word and t.norm not in WEAK_UNITS and t.norm not in _NEEDS_A_NUMBER)
        for t in tokens
    ]
    marked = list(strong)
    weak = [not m and (t.norm in WEAK_UNITS or t.norm in _NEEDS_A_NUMBER) for t, m in zip(tokens, marked, strict=True)]
    changed = True
    while changed:
        changed = False
        for i, is_weak in enumerate(weak):
            if is_weak and not marked[i] and ((i > 0 and marked[i - 1]) or (i + 1 < len(tokens) and marked[i + 1])):
                marked[i] = changed = True
    for i in range(len(tokens) - 1):
        if tokens[i].norm == "to" and tokens[i + 1].norm in TRIPLE_SLIPS and marked[i + 1]:
            marked[i] = True  # "0 to repul 7": Whisper's "triple"
    if soft:
        numbers = list(marked)
        for i, token in enumerate(tokens):
            if token.norm in HOMOPHONES and not numbers[i]:
                marked[i] = (i > 0 and numbers[i - 1]) or (i + 1 < len(tokens) and numbers[i + 1])
    return marked


_NEEDS_A_NUMBER = frozenset({*REPEATS, "hundred", "thousand"})


def digit_runs(text: str, tokens: Sequence[Token], soft: bool = False, garbled: bool = False) -> list[DigitRun]:
    """The runs of digit words (`soft`: reading homophones beside digits as digits too; `garbled`: words
    Whisper garbled with letters too)."""
    runs: list[DigitRun] = []
    says = _digit_words(tokens, soft, garbled)
    i = 0
    while i < len(tokens):
        if not says[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and says[j + 1] and _BETWEEN.fullmatch(text[tokens[j].end : tokens[j + 1].start]):
            j += 1
        while soft and j > i and tokens[j].norm in HOMOPHONES and not tokens[j].is_number_word:
            j -= 1  # a homophone only starts or joins a run ("… 7 5 2 to you" is not "…7522")
        digits = run_digits(tokens[i : j + 1], garbled)
        if digits:
            plus = tokens[i].raw.startswith("+") or (i > 0 and tokens[i - 1].norm == "plus")
            first = i - 1 if i > 0 and tokens[i - 1].norm == "plus" else i
            runs.append(DigitRun(first, j, digits, plus, text[tokens[first].start : tokens[j].end]))
        i = j + 1
    return runs


def run_digits(run: Sequence[Token], garbled: bool = False) -> str:
    out: list[str] = []
    words: list[str] = []
    for at, token in enumerate(run):
        if token.norm == "to" and at + 1 < len(run) and run[at + 1].norm in TRIPLE_SLIPS:
            continue  # the "to" of "to repul"
        if token.digits or (garbled and token.garbled_digits):
            digits = token.digits or token.garbled_digits
            if words and words[-1] in REPEATS:  # "double 3", "triple 5": the written digit, repeated
                digits = digits[0] * REPEATS[words.pop()] + digits[1:]
            if words:
                out.append(digit_values(words) or "")
                words = []
            out.append(digits)
        else:
            words.append(HOMOPHONES.get(token.norm, token.norm) if not token.is_number_word else token.norm)
    if words:
        out.append(digit_values(words) or "")
    return "".join(out)


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def valid_phone(digits: str, plus: bool) -> bool:
    """A possible UK or US number by Google's libphonenumber (or any country's, given its code).

    Possible (the right length and shape for its country), not valid: the numbers people read in
    examples and tests (Ofcom's 07700 900xxx drama range, the US 555 range) are reserved, and a
    reserved number read out is as personal as any other."""
    candidates: list[tuple[str, str | None]] = []
    if plus:
        candidates.append(("+" + digits, None))
    else:
        if digits.startswith("0") and len(digits) in (10, 11) and digits[1] != "0":
            candidates.append((digits, "GB"))
        if len(digits) == 10 and digits[0] not in "01" and digits[3] not in "01":  # NANP: NXX-NXX-XXXX
            candidates.append((digits, "US"))
        if len(digits) == 11 and digits.startswith("1") and digits[1] not in "01":
            candidates.append(("+" + digits, None))
        if len(digits) == 12 and digits.startswith("44"):
            candidates.append(("+" + digits, None))
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return True
    return False


def _fits(kind: str, digits: str, continuation: bool) -> bool:
    low, high = LENGTHS.get(kind, (1, 99))
    if continuation:
        low = min(low, CONTINUATION_MIN)
    return low <= len(digits) <= high


def classify_run(
    run: DigitRun,
    cues: Sequence[Cue],
    tokens: Sequence[Token],
    continuing: Entity | None,
    own_cues: int = 0,
    text: str = "",
) -> Finding | None:
    """What the run is, or None (not personal data, or nothing says it is).

    `cues`: the candidate cues nearest first (the utterance's own before the run, then the call's
    previous utterances'; the first `own_cues` of them are the utterance's own). `continuing`: the
    entity this speaker was reading when their last utterance ended, if any (a card read across a
    pause; the caller passes it only for a run that may go on with it). `text`: the utterance the tokens
    are of, where the run is one of its own (not a number joined across two utterances)."""
    digits = run.digits
    n = len(digits)
    if own_cues and cues[0].kind == Entity.PHONE_NUMBER and 6 <= n <= 15 and cues[0].end <= _start(tokens, run):
        # "The cell number is 415-819-9-1-9…": the caller said what it is, whatever Luhn says of it
        return Finding(Entity.PHONE_NUMBER, run.first, run.last, 0.9, "phone cue")
    if own_cues and cues[0].kind == Entity.PHONE_NUMBER and 3 <= n < 6 and 0 <= _start(tokens, run) - cues[0].end <= 8:
        # "The area code is 316", "My work line is 0-1-7": the first part of a phone number, the rest to come
        return Finding(Entity.PHONE_NUMBER, run.first, run.last, 0.8, PART_OF_A_NUMBER)
    if run.plus and n >= 5:  # "plus four four …": a country code (whether or not Whisper got every digit)
        return Finding(Entity.PHONE_NUMBER, run.first, run.last, 0.9, "international phone number")
    if 13 <= n <= 19 and luhn_valid(digits):
        return Finding(Entity.CARD_NUMBER, run.first, run.last, 0.99, "luhn")
    ssn_written = re.fullmatch(r"\+?\d{3}-\d{2}-\d{4}", run.written.strip())
    if ssn_written:
        return Finding(Entity.US_SSN, run.first, run.last, 0.9, "ssn pattern")
    if continuing is not None and _fits(continuing, digits, continuation=True):
        return Finding(continuing, run.first, run.last, 0.8, "continues")
    for position, cue in enumerate(cues):
        kind = cue.kind
        if kind in (NOT_PII, QUANTITY, EXPIRY):
            if _fits(kind, digits, continuation=False):
                return None
            continue
        if kind in (Entity.STREET_ADDRESS, Entity.EMAIL_ADDRESS, Entity.PERSON, Entity.UK_NINO):
            if position < own_cues:
                return None  # "my NI number is …": its own detector's, whatever an earlier utterance said
            continue  # addresses, e-mails, names and NI numbers are read by their own detectors
        if kind == Entity.PHONE_NUMBER and n >= 6:
            return Finding(Entity.PHONE_NUMBER, run.first, run.last, 0.85, "phone cue")
        if _fits(kind, digits, continuation=False):
            return Finding(Entity(kind), run.first, run.last, 0.85, f"{kind.lower()} cue")
        answer = run.first <= 3 and len(tokens) - (run.last - run.first + 1) <= 3  # "um, five, eight."
        if n >= 2 and position < own_cues and run.last == len(tokens) - 1 and 0 <= _start(tokens, run) - cue.end <= 6:
            answer = True  # "The code on the back is 02."
        if kind in FAIL_CLOSED and n < LENGTHS[kind][0] and position == 0 and answer:
            # "five, eight." as the answer to "the security code?": the first digits of a code read across
            # a pause (or half misheard). Payment data fails closed: part of one is still one.
            return Finding(Entity(kind), run.first, run.last, 0.7, PART_OF_A_NUMBER)
    if n >= 10 and valid_phone(digits, run.plus):
        return Finding(Entity.PHONE_NUMBER, run.first, run.last, 0.75, "valid phone number")
    if 13 <= n <= 19 and _spoken_digit_by_digit(tokens[run.first : run.last + 1]):
        # a card Whisper misheard one digit of: sixteen digits read one by one or in groups are nothing else
        return Finding(Entity.CARD_NUMBER, run.first, run.last, 0.6, "card-length digits")
    if 3 <= n <= 4 and _bare_code(run, cues, tokens, text):
        return Finding(Entity.SECURITY_CODE, run.first, run.last, 0.55, BARE_CODE)
    return None


def _bare_code(run: DigitRun, cues: Sequence[Cue], tokens: Sequence[Token], text: str) -> bool:
    """Three or four digits said as an answer with no cue at all ("Yes, 491.", "8 9 3 8, that's the one."):
    on a call that is most often the security code the agent just asked for, and payment data fails closed.
    Not a number a cue claims (an order, a price, a card's or phone's part), a year, an amount or a version
    ("12.58", "1.0.3"), a time ("at 6 30"), a count ("1, 2, 3, 4"), a code glued to letters ("WM-1408"), or
    a number the sentence goes on from ("249 for the phone", "150 channels")."""
    if not text or any(c.kind != Entity.SECURITY_CODE for c in cues):
        return False
    words = tokens[run.first : run.last + 1]
    first = words[0]
    if run.plus or any(w.norm == "of" for w in words):
        return False  # "plus 1 9 1 9"; "step three of five" (a soft reading's "of" for "oh")
    if len(words) == 1 and (re.fullmatch(r"(?:19|20)\d\d", first.norm) or re.search(r"\d[.:]\d", first.raw)):
        return False
    if run.digits in "0123456789":
        return False  # counting
    if run.first > 0:
        before = tokens[run.first - 1]
        if before.norm in _TIME_WORDS or text[before.end : first.start] == "-":
            return False
    if run.last + 1 < len(tokens):
        after = tokens[run.last + 1]
        said_after = text[words[-1].end : after.start]
        if after.norm not in _ANSWER_WORDS and not re.match(r"\s*[,.;!?]", said_after):
            return False
    return not text[words[-1].end :].startswith("%")  # "a 40% increase"


_TIME_WORDS = frozenset(
    {"at", "by", "till", "until", "from", "after", "before", "around", "about", "quarter", "half", "past"}
)
# Words a bare answer may run on with ("2 7 0 2 yep", "double eight seven please").
_ANSWER_WORDS = frozenset({"yep", "yes", "yeah", "please", "sorry", "thanks", "okay", "ok", "i", "if", "that's"})


# The reason of a finding that only fails closed: a number that goes on, or is joined, is what that says.
BARE_CODE = "short number, no cue"
PART_OF_A_NUMBER = "part of a number"  # fewer digits than the cue's entity has: fails closed too
# Reasons of findings that the number itself proves (not only a cue): a soft reading may stand on these.
VALIDATED = frozenset({"luhn", "international phone number", "valid phone number"})


def _start(tokens: Sequence[Token], run: DigitRun) -> int:
    return tokens[run.first].start if run.first < len(tokens) else 0


def claimed_by_other_cue(run: DigitRun, cues: Sequence[Cue]) -> bool:
    """Whether the nearest cue that fits the run says it is not personal data (an order number, a price,
    an expiry date), as `classify_run` would read them."""
    for cue in cues:
        if cue.kind in (NOT_PII, QUANTITY, EXPIRY):
            if _fits(cue.kind, run.digits, continuation=False):
                return True
            continue
        if cue.kind in (Entity.STREET_ADDRESS, Entity.EMAIL_ADDRESS, Entity.PERSON, Entity.UK_NINO):
            continue
        return False
    return False


def _spoken_digit_by_digit(run: Sequence[Token]) -> bool:
    """Read digit by digit or in groups ("4259 8747 1742 92433", "476863, 353861, 4844"), not as one word."""
    singles = sum(1 for t in run if t.norm in UNITS or t.norm in REPEATS or (t.digits and len(t.digits) <= 6))
    return len(run) >= 2 and singles >= len(run) * 0.8
