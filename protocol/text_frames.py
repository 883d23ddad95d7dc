"""Text frames: one JSON parser for every dialect, and the one set of limits it and the audio obey.

Every text message of every dialect goes through `parse_json_object`, so a hostile frame is refused
the same way wherever it arrives, with a `ProtocolError` that says why:

- larger than `MessageLimits.max_text_bytes`, counted in UTF-8 bytes as on the wire (413, close 1009);
- not UTF-8, or not JSON (400, close 1007);
- nested deeper than `max_depth`: checked by a linear scan *before* the parser runs, so that
  `'[' * 100000` never reaches the parser's recursion (400, close 1007);
- `NaN`/`Infinity`, or an integer too long for Python's int parser (400, close 1007);
- valid JSON that is not an object (400, close 1008).

Strings may hold any code point, lone surrogates included ("\\ud800" is valid JSON): they are the
client's words, kept as sent; whatever writes them to a file or a log makes them safe there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from protocol.errors import CLOSE_INVALID_PAYLOAD, CLOSE_TOO_BIG, ProtocolError

__all__ = ["DEFAULT_LIMITS", "MessageLimits", "nesting_depth", "parse_json_object", "utf8_size"]


@dataclass(frozen=True)
class MessageLimits:
    """What one frame may be, in every dialect (the server's `--max-text-bytes` and `--max-frame-bytes`)."""

    max_text_bytes: int = 65536
    max_binary_bytes: int = 1 << 20
    max_depth: int = 32

    def check_binary(self, data: bytes) -> ProtocolError | None:
        """The error for an audio frame over the limit, or None."""
        if len(data) > self.max_binary_bytes:
            return ProtocolError(
                413, f"audio frame of {len(data)} bytes exceeds {self.max_binary_bytes}", CLOSE_TOO_BIG
            )
        return None


DEFAULT_LIMITS = MessageLimits()

# A JSON string, escapes included: one character at a time, so a string that never ends cannot make
# the expression backtrack.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def utf8_size(data: str | bytes) -> int:
    """Bytes on the wire: a str counts as its UTF-8 encoding (lone surrogates as three bytes each)."""
    return len(data) if isinstance(data, bytes) else len(data.encode("utf-8", errors="surrogatepass"))


def nesting_depth(text: str, stop_after: int | None = None) -> int:
    """How deeply arrays and objects nest in `text` (brackets inside strings do not count); the scan
    stops once the depth passes `stop_after`."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_after is not None and deepest > stop_after:
                    break
        else:
            depth -= 1
    return deepest


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(data: str | bytes, limits: MessageLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """One text frame as a JSON object, or ProtocolError saying what is wrong with it."""
    size = len(data) if len(data) > limits.max_text_bytes else utf8_size(data)  # a str: >= 1 byte a character
    if size > limits.max_text_bytes:
        raise ProtocolError(413, f"text message too large: {size} bytes exceeds {limits.max_text_bytes}", CLOSE_TOO_BIG)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(400, f"message is not valid UTF-8: {exc}", CLOSE_INVALID_PAYLOAD) from exc
    if nesting_depth(data, stop_after=limits.max_depth) > limits.max_depth:
        raise ProtocolError(400, f"message is nested more than {limits.max_depth} levels deep", CLOSE_INVALID_PAYLOAD)
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProtocolError(400, f"message is not valid JSON: {exc}", CLOSE_INVALID_PAYLOAD) from exc
    except (ValueError, RecursionError) as exc:
        # Integers beyond Python's digit limit, NaN/Infinity.
        raise ProtocolError(400, f"message is not acceptable JSON: {str(exc)[:80]}", CLOSE_INVALID_PAYLOAD) from exc
    if not isinstance(value, dict):
        raise ProtocolError(400, f"message must be a JSON object, got {type(value).__name__}")
    return value
