"""E-mail addresses, dates of birth, NI numbers, postcodes and street addresses, spoken or written.

Each detector reads the utterance's tokens (`tokens`) and returns findings as token ranges:
- e-mail: written ("j.smith@gmail.com") or spoken ("j dot smith at gmail dot com", spelled letters,
  "underscore", "hyphen"): an "at" followed by a domain that ends in a known top-level domain or is
  a known mail provider, with the local part back to the word that introduced it;
- date of birth: any date ("the fourth of March nineteen eighty two", "4/3/1982", "March 4th, 82")
  after a date-of-birth cue (the date of an order is not personal data);
- UK National Insurance numbers and UK postcodes from spelled letters and digits ("Q Q one two …
  C", "S W one A one A A"), by their official formats; US ZIP codes after a ZIP/postcode cue;
- street addresses: a house number, one to three capitalised words and a street type ("22 Baker
  Street", "145 Oak Avenue, apartment 3").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from analysis.pii.entities import Entity, Finding
from analysis.pii.tokens import TEENS, TENS, UNITS, Token

__all__ = ["addresses", "dates", "emails", "letter_codes", "spelled_addresses", "spelled_letters"]

TLDS = {
    "com", "co", "uk", "org", "net", "edu", "gov", "io", "us", "ie", "info", "biz", "me", "ca", "au", "de", "fr",
    "ac", "pl", "nl", "es", "it", "eu", "in", "nz", "za", "be", "ch", "at", "se", "no", "dk", "fi", "pt", "br",
}  # fmt: skip
PROVIDERS = {
    "gmail", "googlemail", "hotmail", "outlook", "yahoo", "icloud", "aol", "protonmail", "proton", "live",
    "btinternet", "sky", "virgin", "mail", "msn", "comcast", "verizon", "att", "ymail", "gmx", "zoho",
}  # fmt: skip
LOCAL_JOINERS = {"dot", "underscore", "hyphen", "dash", "period", "point", "plus"}
# Whisper's "at" of a spoken address: "patrick dot o do you add outlet dot com", "Marec.c had protoned.me"
# (only where a domain follows).
AT_WORDS = {"at", "add", "had"}
LOCAL_STOP = {
    "is", "it's", "its", "email", "e-mail", "address", "my", "it", "that's", "was", "me", "be", "to", "the",
    "send", "at", "yes", "yeah", "so", "and", "um", "uh", "on", "use", "try", "under", "that", "this", "i", "i'm",
    "please",
}  # fmt: skip
_WRITTEN_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}  # fmt: skip
ORDINALS = {
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth", "thirtieth",
}  # fmt: skip
STREET_TYPES = {
    "street", "st", "road", "rd", "avenue", "ave", "lane", "ln", "drive", "dr", "close", "way", "court", "ct",
    "place", "pl", "crescent", "boulevard", "blvd", "terrace", "grove", "gardens", "square", "parkway", "hill",
    "row", "mews", "walk", "rise", "view", "park", "circle", "highway", "hwy", "trail", "green", "vale",
}  # fmt: skip
UNIT_WORDS = {"apartment", "apt", "flat", "unit", "suite", "floor"}
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
# After an NI cue, any two letters: callers read HMRC's own example prefix (QQ) and Whisper mishears letters.
_NINO_CUED = re.compile(r"[A-Z]{2}\d{6}[A-D]?")
_UK_POSTCODE = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}")
_ALNUM = re.compile(r"[A-Z0-9]{2,9}")


def emails(text: str, tokens: Sequence[Token]) -> list[Finding]:
    found: list[Finding] = []
    for match in _WRITTEN_EMAIL.finditer(text):
        covered = [t.index for t in tokens if t.start < match.end() and t.end > match.start()]
        if covered:
            found.append(Finding(Entity.EMAIL_ADDRESS, covered[0], covered[-1], 0.95, "written e-mail"))
    for i, token in enumerate(tokens):
        if token.norm not in AT_WORDS or any(f.first <= i <= f.last for f in found):
            continue
        end = _domain_end(tokens, i + 1)
        if end is None or (token.norm != "at" and end == i + 1 and "." not in tokens[end].norm):
            continue  # "we had sky for years": a misheard "at" needs a whole domain after it
        start = i
        while start - 1 >= 0 and i - (start - 1) <= 8:
            prev = tokens[start - 1]
            if prev.norm in LOCAL_STOP or not re.fullmatch(r"[\w.'-]+", prev.norm):
                break
            punctuated = bool(text[prev.end : tokens[start].start].strip(" -"))  # a comma or a colon
            if punctuated and not _spelling_goes_on(prev, tokens[start], "." in tokens[i + 1].norm):
                break  # ends the local part
            start -= 1
        if start < i:
            found.append(Finding(Entity.EMAIL_ADDRESS, start, end, 0.9, "spoken e-mail"))
    return found + _cued_addresses(text, tokens, found)


def _spelling_goes_on(prev: Token, nxt: Token, written_domain: bool = False) -> bool:
    """Whether a comma between two words of a spoken local part is Whisper's pause in a spelling ("K, A-U-R",
    "7G, 7", "Brown, five"), not the end of the address."""
    if prev.norm in LOCAL_JOINERS or nxt.norm in LOCAL_JOINERS:
        return True
    if nxt.norm == "at" and re.search(r"[._\d]", prev.norm):
        return True  # "showbond.co. at mail.com": Whisper's full stop after an address-like word
    if nxt.norm == "at" and written_domain:
        return True  # "f.o say, at herocleaning.co.uk": Whisper's comma before the "at" of a written domain
    return any(c.isdigit() for c in prev.norm) or bool(prev.letter) or bool(nxt.digits) or nxt.norm in UNITS


def spelled_addresses(tokens: Sequence[Token]) -> list[Finding]:
    """A local part spelled out without its domain ("M-A-R-Y underscore Q"): spelled letters, digits and
    joiners, with a joiner or a hyphen-spelled word in it. Only an e-mail when the speaker has just said
    one (the redactor checks)."""
    found: list[Finding] = []
    i = 0
    while i < len(tokens):
        j = i
        spelled = joined = 0
        while j < len(tokens):
            token = tokens[j]
            if token.norm in ("underscore", "hyphen", "dash", "dot"):
                joined += 1
            elif token.letter or (token.digits and len(token.digits) <= 4):
                spelled += 1
            elif "-" in token.raw and re.fullmatch(r"(?:[A-Za-z0-9]-){2,}[A-Za-z0-9]", token.raw):
                spelled += 3  # "P-E-T-E-D-W", "M-A-R-S-H-9-9", "H-A-L": a spelling by itself
            else:
                break
            j += 1
        if spelled >= 3 or (j - i >= 2 and spelled >= 2 and joined):
            found.append(Finding(Entity.EMAIL_ADDRESS, i, j - 1, 0.8, "spelled e-mail"))
        i = max(j, i + 1)
    return found


def _cued_addresses(text: str, tokens: Sequence[Token], found: list[Finding]) -> list[Finding]:
    """A written domain ("mail.co.uk") a few words after "my e-mail is", whatever Whisper made of the "at"."""
    out: list[Finding] = []
    for match in _EMAIL_CUE.finditer(text):
        after = [t for t in tokens if t.start >= match.end()]
        for k, token in enumerate(after[:8]):
            labels = token.norm.split(".")
            if len(labels) >= 2 and _tld(labels[-1]) and labels[0] and k > 0:
                first, last = after[0].index, token.index
                if not any(f.first <= last and first <= f.last for f in [*found, *out]):
                    out.append(Finding(Entity.EMAIL_ADDRESS, first, last, 0.85, "e-mail after its cue"))
                break
    return out


_EMAIL_CUE = re.compile(r"\b(?:e-?mail|mail)(?: address)? is\b", re.IGNORECASE)


def _tld(label: str) -> bool:
    """A top-level domain: a common one, or any two letters (every country's code is two letters: ".ba",
    ".gr"; Whisper also writes a misheard one, and the address is personal all the same)."""
    return label in TLDS or bool(re.fullmatch(r"[a-z]{2}", label))


def _domain_end(tokens: Sequence[Token], i: int) -> int | None:
    """The last token of a domain starting at `i` ("gmail dot com", "gmail.com", "b t internet dot co dot
    uk"), or None when what follows "at" is not a domain."""
    if i >= len(tokens):
        return None
    first = tokens[i].norm
    if "." in first:
        labels = first.split(".")
        if _tld(labels[-1]) or labels[0] in PROVIDERS:
            last = i
            while (
                last + 2 < len(tokens) and tokens[last + 1].norm in ("dot", "point") and tokens[last + 2].norm in TLDS
            ):
                last += 2
            return last
        return None
    j = i
    # up to three words of the domain's name (spelled letters, "b t internet")
    while (
        j + 1 < len(tokens)
        and j - i < 3
        and tokens[j + 1].norm not in ("dot", "point")
        and re.fullmatch(r"[a-z0-9-]+", tokens[j + 1].norm)
    ):
        if tokens[j + 1].norm in LOCAL_STOP:
            break
        j += 1
    end: int | None = None
    k = j
    dots = ("dot", "point")
    while k + 2 < len(tokens) and tokens[k + 1].norm in dots and re.fullmatch(r"[a-z]{2,6}", tokens[k + 2].norm):
        k += 2
        if tokens[k].norm in TLDS:
            end = k
    if end is not None:
        return end
    if j + 1 < len(tokens) and "." in tokens[j + 1].norm and tokens[j + 1].norm.split(".")[-1] in TLDS:
        return j + 1  # "Harper & Sons.co.uk"
    if first in PROVIDERS:
        return i
    return None


def _is_year(tokens: Sequence[Token], i: int) -> int | None:
    """The index of the last token of a year starting at `i` ("1982", "'82", "nineteen eighty two",
    "eighty two", "two thousand and one"), else None."""
    if i >= len(tokens):
        return None
    t = tokens[i]
    if re.fullmatch(r"'?\d{2}|\d{4}", t.norm):
        return i
    words = [tok.norm for tok in tokens[i : i + 5]]
    if not words:
        return None
    if (
        words[0] in ("nineteen", "twenty")
        and len(words) > 1
        and (words[1] in TENS or words[1] in TEENS or words[1] == "oh")
    ):
        end = i + 1
        two_words = words[1] in TENS and len(words) > 2 and words[2] in UNITS and words[2] != "oh"
        if two_words or (words[1] == "oh" and len(words) > 2 and words[2] in UNITS):
            end = i + 2
        return end
    if words[0] == "two" and len(words) > 1 and words[1] == "thousand":
        end = i + 1
        if len(words) > 3 and words[2] == "and" and (words[3] in UNITS or words[3] in TEENS):
            end = i + 3
        elif len(words) > 2 and (words[2] in UNITS or words[2] in TEENS):
            end = i + 2
        return end
    if words[0] in TENS and words[0] != "twenty":
        end = i
        if len(words) > 1 and words[1] in UNITS and words[1] != "oh":
            end = i + 1
        return end
    return None


def _is_day(tokens: Sequence[Token], i: int) -> int | None:
    """Last token index of a day of the month at `i` ("4th", "4", "fourth", "twenty first")."""
    if i >= len(tokens):
        return None
    norm = tokens[i].norm
    if re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)?", norm):
        return i
    if norm in ORDINALS:
        return i
    if norm in ("twenty", "thirty") and i + 1 < len(tokens) and tokens[i + 1].norm in ORDINALS:
        return i + 1
    if "-" in norm and norm.split("-")[-1] in ORDINALS:
        return i
    return None


def dates(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Every date's token range (the caller decides whether it is a date of birth)."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        norm = tokens[i].norm
        if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{2}|\d{4})", norm):
            spans.append((i, i))
            i += 1
            continue
        start = i + 1 if norm == "the" else i
        day_end = _is_day(tokens, start)
        if day_end is not None:
            j = day_end + 1
            if j < len(tokens) and tokens[j].norm == "of":
                j += 1
            if j < len(tokens) and tokens[j].norm in MONTHS:
                year_end = _is_year(tokens, j + 1)
                spans.append((start, year_end if year_end is not None else j))
                i = (year_end if year_end is not None else j) + 1
                continue
        if (norm in MONTHS and norm not in ("may", "mar")) or (norm in ("may", "mar") and tokens[i].raw[0].isupper()):
            day_end = _is_day(tokens, i + 1 + (1 if i + 1 < len(tokens) and tokens[i + 1].norm == "the" else 0))
            if day_end is not None:
                year_end = _is_year(tokens, day_end + 1)
                end = year_end if year_end is not None else day_end
                spans.append((i, end))
                i = end + 1
                continue
            year_end = _is_year(tokens, i + 1)
            if year_end is not None:
                spans.append((i, year_end))
                i = year_end + 1
                continue
        i += 1
    return spans


# Letters as Whisper writes them when they are said alone ("HR 87 37 45 be"). Read only inside a stretch
# of letters and digits, which must then match an NI number's or a postcode's format.
LETTER_WORDS = {
    "be": "B", "bee": "B", "see": "C", "sea": "C", "dee": "D", "tee": "T", "ex": "X", "jay": "J", "kay": "K",
    "pee": "P", "queue": "Q", "are": "R", "why": "Y",
}  # fmt: skip


def _letter_code_pieces(tokens: Sequence[Token], lower_case_pairs: bool = False) -> list[list[tuple[Token, str]]]:
    """Stretches of tokens that are spelled letters, digits, unit number words or short codes ("SW1A",
    "101973b"), each token with the characters it contributes (`lower_case_pairs`: "px" too, after an NI
    cue)."""
    stretches: list[list[tuple[Token, str]]] = []
    current: list[tuple[Token, str]] = []
    for token in tokens:
        piece = ""
        if token.letter:
            piece = token.letter
        elif current and token.norm in LETTER_WORDS:
            piece = LETTER_WORDS[token.norm]
        elif lower_case_pairs and re.fullmatch(r"[a-z]{2}", token.raw):
            piece = token.raw.upper()
        elif token.digits and len(token.digits) <= 6:
            piece = token.digits
        elif token.norm in UNITS and token.norm not in ("o",):
            piece = str(UNITS[token.norm])
        elif token.norm == "double" or token.norm == "triple":
            piece = "*" + token.norm
        elif (
            _ALNUM.fullmatch(token.raw.upper())
            and any(c.isdigit() for c in token.raw)
            and any(c.isalpha() for c in token.raw)
        ):
            piece = token.raw.upper()
        if piece:
            current.append((token, piece))
        elif current:
            stretches.append(current)
            current = []
    if current:
        stretches.append(current)
    return stretches


def letter_codes(tokens: Sequence[Token], cue_kinds: set[str]) -> list[Finding]:
    """NI numbers and UK postcodes by their formats; US ZIP codes need a ZIP/postcode cue."""
    found: list[Finding] = []
    for stretch in _letter_code_pieces(tokens, lower_case_pairs=Entity.UK_NINO in cue_kinds):
        compact = ""
        owners: list[int] = []
        repeat = 1
        for token, piece in stretch:
            if piece.startswith("*"):
                repeat = 2 if piece == "*double" else 3
                continue
            piece = piece * repeat if len(piece) == 1 else piece
            repeat = 1
            compact += piece
            owners.extend([token.index] * len(piece))
        nino = _NINO_CUED if Entity.UK_NINO in cue_kinds else _NINO
        for pattern, entity in ((nino, Entity.UK_NINO), (_UK_POSTCODE, Entity.POSTCODE)):
            for match in pattern.finditer(compact):
                letters = sum(c.isalpha() for c in match.group(0))
                if entity is Entity.POSTCODE and letters < 3 and Entity.POSTCODE not in cue_kinds:
                    continue
                first, last = owners[match.start()], owners[match.end() - 1]
                if not any(f.first <= last and first <= f.last for f in found):
                    found.append(Finding(entity, first, last, 0.85, f"{entity.lower()} format"))
    return found


def spelled_letters(tokens: Sequence[Token], min_letters: int = 3) -> list[tuple[int, int]]:
    """Runs of at least `min_letters` single spelled letters ("O-K-A-F-O-R", "r a m a n")."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        compact = re.sub(r"[.\-']", "", token.raw)
        if (
            "-" in token.raw
            and compact.isalpha()
            and len(compact) >= min_letters
            and len(compact) * 2 - 1 <= len(token.raw)
        ):
            spans.append((i, i))  # "O-K-A-F-O-R" as one word
            i += 1
            continue
        j = i
        while j < len(tokens) and len(re.sub(r"[.\-']", "", tokens[j].raw)) == 1 and tokens[j].raw.strip(".").isalpha():
            j += 1
        if j - i >= min_letters:
            spans.append((i, j - 1))
            i = j
        else:
            i += 1
    return spans


def addresses(tokens: Sequence[Token], number_ends: dict[int, int]) -> list[Finding]:
    """`number_ends`: first token of each digit run -> its last token (house numbers, spoken or written)."""
    found: list[Finding] = []
    for first, last in number_ends.items():
        j = last + 1
        words = 0
        while j < len(tokens) and words < 3 and tokens[j].raw[:1].isupper() and tokens[j].norm not in STREET_TYPES:
            j += 1
            words += 1
        if j < len(tokens) and tokens[j].norm in STREET_TYPES and (words >= 1 or tokens[j].raw[:1].isupper()):
            end = j
            if j + 2 < len(tokens) and tokens[j + 1].norm in UNIT_WORDS:
                end = j + 2
            elif j + 2 < len(tokens) and tokens[j + 1].norm in ("number",) and j + 3 < len(tokens):
                end = j + 3
            found.append(Finding(Entity.STREET_ADDRESS, first, end, 0.85, "house number and street"))
    return found
