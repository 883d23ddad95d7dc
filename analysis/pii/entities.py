"""The kinds of personal data the redactor knows, and what a finding of one is.

Names are Presidio's where Presidio has one (`CREDIT_CARD` is ours `CARD_NUMBER`, as the issue and
PCI-DSS call it), so that a policy written for a Presidio deployment reads the same here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Entity", "Finding", "parse_entities"]


class Entity(enum.StrEnum):
    CARD_NUMBER = "CARD_NUMBER"
    SECURITY_CODE = "SECURITY_CODE"
    BANK_ACCOUNT = "BANK_ACCOUNT"
    SORT_CODE = "SORT_CODE"
    PHONE_NUMBER = "PHONE_NUMBER"
    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    US_SSN = "US_SSN"
    UK_NINO = "UK_NINO"
    POSTCODE = "POSTCODE"
    STREET_ADDRESS = "STREET_ADDRESS"
    PERSON = "PERSON"


# The payment and bank details PCI-DSS is about: redacted by default everywhere but the live events.
PAYMENT_ENTITIES = frozenset({Entity.CARD_NUMBER, Entity.SECURITY_CODE, Entity.BANK_ACCOUNT, Entity.SORT_CODE})


@dataclass(frozen=True)
class Finding:
    """Tokens `first`..`last` (inclusive) of one utterance say an `entity`."""

    entity: Entity
    first: int
    last: int
    confidence: float
    reason: str  # why, in a few words (for tests and debugging; never the value)


def parse_entities(text: str) -> frozenset[Entity]:
    """`card_number,security_code` / `CARD_NUMBER` / `all` / `payment` / `none` -> entities; ValueError
    naming the unknown one and the choices."""
    chosen: set[Entity] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key = part.upper().replace("-", "_")
        if key == "ALL":
            chosen |= set(Entity)
        elif key == "PAYMENT":
            chosen |= PAYMENT_ENTITIES
        elif key == "NONE":
            continue
        elif key in Entity.__members__:
            chosen.add(Entity[key])
        else:
            names = ", ".join(e.value.lower() for e in Entity)
            raise ValueError(f"unknown entity type {part!r}: choose from {names}, or all, payment, none")
    return frozenset(chosen)
