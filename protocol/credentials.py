"""Finding a presented API key among the configured ones, in constant time.

Both the plain API-key check (simple dialect) and the Genesys signature verifier look a key up; both
use `lookup_key`, which compares the presented key with every configured key (no early exit), so a
wrong key and an unknown key take the same time and get the same answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TypeVar

__all__ = ["lookup_key"]

T = TypeVar("T")


def lookup_key(presented: str, keys: Iterable[tuple[str, T]]) -> tuple[bool, T | None]:
    """(found, the value of the matching key) over every (key, value) pair; compares each key."""
    candidate = presented.encode("utf-8", errors="surrogateescape")
    found = False
    match: T | None = None
    for key, value in keys:
        if hmac.compare_digest(candidate, key.encode("utf-8")):
            found, match = True, value
    return found, match
