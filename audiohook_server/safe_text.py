"""Making client-supplied text safe wherever it is written: files, CSV cells, log lines.

A client chooses session ids, Genesys participant fields, custom config, JWT claims; Whisper writes
what the caller said. Any of it may hold a lone surrogate (valid in JSON as "\\ud800", not encodable
as UTF-8), control characters (a newline that would forge a log line) or a leading `=` that a
spreadsheet runs as a formula. The rules:

- `safe_json_value`: every string of a JSON-able value with lone surrogates replaced by U+FFFD, so
  that writing it as UTF-8 can never fail (the call's files must be written whatever the client sent);
- `csv_cell`: a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
  leading apostrophe (OWASP's rule against CSV formula injection: spreadsheets then show the text as
  text), and is made UTF-8-safe; numbers are left as they are;
- `log_text`: control characters and lone surrogates escaped (`\\n`, `\\x1b`, `\\ud800`), so that one
  logged value is always one line of a log, readable, and cannot forge another entry.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["csv_cell", "log_text", "safe_json_value", "utf8_safe"]

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def utf8_safe(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (everything else unchanged)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def safe_json_value(value: Any) -> Any:
    """A copy of a JSON-able value (dicts, lists, scalars) whose strings, keys included, are UTF-8-safe."""
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, dict):
        return {utf8_safe(str(k)) if isinstance(k, str) else k: safe_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_json_value(v) for v in value]
    return value


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula, and that encodes as UTF-8."""
    if not isinstance(value, str):
        return value
    text = utf8_safe(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def log_text(value: object) -> str:
    """`value` as one safe line of a log: control characters and lone surrogates escaped."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text
