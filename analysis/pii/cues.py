"""The words that say what a number is: "card number", "security code", "sort code", "order number".

A run of digits means nothing by itself: "four five three nine" is a card group after "the long
number on the card", a price after "that comes to", an order after "order number". A cue is found in
the utterance that holds the number or in the call's last few utterances (the agent asks, the
customer answers), and the nearest one decides. Cues of things that are not personal data (orders,
prices, times, expiry dates) are cues too: they claim a number so that no weaker cue further away
makes it a card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.pii.entities import Entity

__all__ = ["NOT_PII", "Cue", "find_cues"]

NOT_PII = "NOT_PII"
EXPIRY = "EXPIRY"

_CUES: list[tuple[str, str]] = [
    (
        Entity.CARD_NUMBER,
        r"\b(?:card|long number|number on the front|visa|master ?card|amex|american express|debit|credit|"
        r"sixteen digits?|16 digits?|16-digit|pan)\b",
    ),
    (
        Entity.SECURITY_CODE,
        r"\b(?:security (?:code|number|digits)|cvv2?|cvc2?|cv2|csc|(?:three|four|3|4)[ -]digits?|"
        r"(?:on )?the back(?: of the card)?|card verification|verification code)\b",
    ),
    (Entity.SORT_CODE, r"\bsort ?codes?\b"),
    (
        Entity.BANK_ACCOUNT,
        r"\b(?:bank account|account (?:number|no\.?|digits)|acct|routing(?: number)?|aba|current account|"
        r"checking account|savings account|bank details|account is)\b",
    ),
    (
        Entity.PHONE_NUMBER,
        r"\b(?:phone|mobile|cell|telephone|landline|contact number|call(?:back| you back| me back| me on| me at)|"
        r"reach (?:me|you)|number (?:to|you can) (?:call|reach)|best number|text me|whatsapp)\b",
    ),
    (Entity.DATE_OF_BIRTH, r"\b(?:date of birth|birth ?date|born|d\.? ?o\.? ?b\.?|birthday)\b"),
    (Entity.US_SSN, r"\b(?:social security|ssn|social)\b"),
    (Entity.UK_NINO, r"\b(?:national insurance|n\.? ?i\.? number|nino)\b"),
    (Entity.POSTCODE, r"\b(?:post ?code|zip(?: code)?|postal code)\b"),
    (Entity.STREET_ADDRESS, r"\b(?:address|live at|lives at|living at)\b"),
    (Entity.EMAIL_ADDRESS, r"\b(?:e-?mail|email address)\b"),
    (Entity.PERSON, r"\b(?:name|surname|spell(?:ed|ing)?|spelt|speaking (?:to|with)|who am i)\b"),
    (EXPIRY, r"\b(?:expir[a-z]*|expires|valid (?:until|thru|through|to)|end date|start date)\b"),
    (
        NOT_PII,
        r"\b(?:order(?: number| no\.?| id)?|reference(?: number)?|ref|ticket|case(?: number)?|tracking|invoice|"
        r"confirmation(?: number| code)?|model|serial|item|sku|policy number|extension|ext|press|option|"
        r"pounds?|dollars?|cents?|pence|quid|bucks|euros?|price|cost[s]?|total|comes to|charge[ds]?|fee|"
        r"per ?cent|percent|minutes?|hours?|days?|weeks?|months?|years?|o'?clock|am|pm|a\.m\.|p\.m\.|"
        r"items?|units?|boxes|pack|gigs?|gb|mb|megabits?|version|room|floor|gate|flight|bus|route|"
        r"account with us|customer number|membership number|member number|loyalty|voucher|promo|discount)\b",
    ),
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _CUES]


@dataclass(frozen=True)
class Cue:
    kind: str  # an Entity, NOT_PII or EXPIRY
    start: int  # character offsets in its utterance
    end: int


def find_cues(text: str) -> list[Cue]:
    """Every cue in `text`, in order of position (where two overlap, the longer one)."""
    found: list[Cue] = []
    for kind, pattern in _COMPILED:
        found.extend(Cue(kind, m.start(), m.end()) for m in pattern.finditer(text))
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    kept: list[Cue] = []
    for cue in found:
        if kept and cue.start < kept[-1].end:
            continue
        kept.append(cue)
    return kept
