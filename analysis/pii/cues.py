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

__all__ = ["AFTER_KINDS", "EXPIRY", "NOT_PII", "QUANTITY", "Cue", "find_cues"]

NOT_PII = "NOT_PII"
EXPIRY = "EXPIRY"
QUANTITY = "QUANTITY"  # not personal data either: a unit after its number ("49 pounds", "20 minutes")
# Cues that may come after the number they describe, within a few characters (not "expires": it comes
# before its date, "security code 879, expiry 948").
AFTER_KINDS = frozenset({QUANTITY})

_CUES: list[tuple[str, str]] = [
    (
        Entity.CARD_NUMBER,
        r"\b(?:card|long number|number on the front|visa|master ?card|amex|mx|american express|discover|maestro|"
        r"debit|credit|"
        r"sixteen digits?|16 digits?|16-digit|pan|first (?:eight|four|half|part|bit|few|lot)|"
        r"second (?:half|part|lot)|the rest(?: of (?:it|the number))?(?: is)?|last (?:part|bit|eight|lot)|"
        r"full number|the (?:long )?number (?:on|across) the (?:front|middle))\b",
    ),
    (
        Entity.SECURITY_CODE,
        r"\b(?:security(?: (?:code|number|digits))?|secure key|cv ?[vc]2?|cv2|c ?s ?c|cid|"
        r"(?:three|four|3|4)[ -]digits?|"
        r"(?:on )?the back(?: of the card)?|(?:the )?(?:flip|other|reverse) side(?: of the card)?|"
        r"card verification|verification (?:code|number|digits)|signature(?: strip)?|"
        r"last (?:three|3)(?: digits| numbers)?|(?:three|3) numbers|code)\b",
    ),
    (Entity.SORT_CODE, r"\bsort ?codes?\b"),
    (
        Entity.BANK_ACCOUNT,
        r"\b(?:bank account|account (?:number|no\.?|digits)|acct|routing(?: number)?|aba|current account|"
        r"checking account|savings account|bank details|account is|account|(?:i )?count number|route of number|"
        r"routine number)\b",
    ),
    (
        Entity.PHONE_NUMBER,
        r"\b(?:phone|mobile|cell|telephone|land ?line|(?:work|home|direct|phone|office) line|"
        r"contact number|call(?:back| you back| me back| me on| me at)|"
        r"reach (?:me|you)|number (?:to|you can) (?:call|reach)|best numbers?|cal+ ?back number|text me|whatsapp|"
        r"(?:home|work|mobile|daytime|evening|new|contact|other|office) number|my number|"
        r"(?:to )?call (?:me|us|on|at)|ring (?:me|us)|(?:get|reach|text) (?:me|us) (?:on|at)|area code|"
        r"dialling code)\b",
    ),
    (Entity.DATE_OF_BIRTH, r"\b(?:date of birth|birth ?date|born|d[.\- ]?o[.\- ]?b\b\.?|birthday)"),
    (Entity.US_SSN, r"\b(?:social security|ss ?n(?=\d|\b)|social)"),
    (Entity.UK_NINO, r"\b(?:national insurance|n\.? ?i\.? number|nino)\b"),
    (Entity.POSTCODE, r"\b(?:post(?: to)? ?code|zip(?: code)?|postal code)\b"),
    (Entity.STREET_ADDRESS, r"\b(?:address|live at|lives at|living at)\b"),
    (Entity.EMAIL_ADDRESS, r"\b(?:e-?mail|email address|mail is)\b"),
    (Entity.PERSON, r"\b(?:name|surname|spell(?:ed|ing)?|spelt|speaking (?:to|with)|who am i)\b"),
    (
        QUANTITY,
        r"\b(?:pounds?|dollars?|cents?|pence|quid|bucks|euros?|per ?cent|percent|minutes?|hours?|days?|weeks?|"
        r"months?|years?|o'?clock|am|pm|a\.m\.|p\.m\.|items?|units?|boxes|pack|gigs?|gb|mb|megabits?)\b",
    ),
    (EXPIRY, r"\b(?:expir[a-z]*|expires|valid (?:until|till|thru|through|to)|end date|start date)\b"),
    (
        NOT_PII,
        r"\b(?:(?:promo|promotional|discount|voucher|confirmation|access|reference|product|tracking|booking|"
        r"gift|coupon|error|fault|tax|dress|offer) codes?|order(?: number| no\.?| id)?|reference(?: number)?|ref|"
        r"ticket|case (?:number|reference|id|is)|complaint(?: case| number| reference)?|claim(?: number| reference)?|"
        r"tracking|track it|invoice|courier|parcel(?: number)?|consignment|"
        r"shipment|booking(?: number| reference| ref)?|"
        r"confirmation(?: number| code)?|model|serial|item|sku|policy number|extension|ext|press|option|"
        r"price|cost[s]?|total|comes to|fee|charged|paid|billed|refunded|balance|"
        r"version|room|floor|gate|flight|bus|route|"
        r"account with us|customer number|membership number|member number|loyalty|voucher|promo|discount)\b",
    ),
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _CUES]


@dataclass(frozen=True)
class Cue:
    kind: str  # an Entity, NOT_PII or EXPIRY
    start: int  # character offsets in its utterance
    end: int


# A card or an account named only as where the thing just named is printed or kept: "the four digit code on
# the front of the amex", "the small code printed over the long number", "the parcel reference on the card",
# "a phone number for the account", "the mobile number in the account".
_WHERE = re.compile(r"\s+(?:\w+\s+){0,2}?(?:on|of|for|in|above|over|under|below|beside|next to)\b[\w\s]{0,20}$")
_PLACES = frozenset({Entity.CARD_NUMBER, Entity.BANK_ACCOUNT})
_HEADS = frozenset({Entity.SECURITY_CODE, Entity.PHONE_NUMBER, Entity.CARD_NUMBER, Entity.BANK_ACCOUNT, NOT_PII})


def find_cues(text: str) -> list[Cue]:
    """Every cue in `text`, in order of position (where two overlap, the longer one). A card or account cue
    that only says where the code, phone or reference just named is printed or kept is not one."""
    found: list[Cue] = []
    for kind, pattern in _COMPILED:
        found.extend(Cue(kind, m.start(), m.end()) for m in pattern.finditer(text))
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    kept: list[Cue] = []
    for cue in found:
        if kept and cue.start < kept[-1].end:
            continue
        kept.append(cue)
    return [
        cue
        for i, cue in enumerate(kept)
        if not (
            cue.kind in _PLACES
            and i > 0
            and kept[i - 1].kind in _HEADS
            and kept[i - 1].kind != cue.kind
            and cue.start - kept[i - 1].end <= 30
            and _WHERE.match(text[kept[i - 1].end : cue.start])
        )
    ]
