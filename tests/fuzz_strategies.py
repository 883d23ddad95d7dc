"""Hypothesis strategies for fuzzing the AudioHook protocol core (used by test_fuzz_protocol.py).

Three kinds of input: well-formed client messages of both dialects (so that generated sessions get
past `open` and into the interesting states), the same messages with one thing wrong (a field
removed, retyped or replaced, the JSON text cut or corrupted, the UTF-8 broken), and plain garbage
(arbitrary text and bytes, JSON-looking token soup, oversized and deeply nested input).
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

from protocol.events import format_duration
from protocol.genesys import CLOSE_REASONS, LANGUAGE_CODE, NULL_UUID
from protocol.messages import CLIENT_MESSAGE_TYPES

SID = "30b0e395-84d3-4570-ac13-9a62d8f514c0"
ORG = "d7934305-0972-4844-938e-9060eef73d05"
CONV = "3f9b6c43-5a3e-4c55-b4a0-8a1c6f1e2d11"
PARTICIPANT = {"id": "1f0b7c7e-9f8e-4a41-9a2b-0c1d2e3f4a5b", "ani": "+15551234567", "aniName": "Jo", "dnis": "+1800"}
KNOWN_TYPES = sorted(CLIENT_MESSAGE_TYPES)

# ---- scalars ---------------------------------------------------------------------------------

# Every code point, with lone surrogates made common: a JSON string may hold "\ud800" and json.loads
# keeps it (as may a str from a client library), but among all code points they are too rare to come up.
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
any_char = st.one_of(*[st.characters(codec=None, exclude_categories=())] * 4, surrogates)


def any_strings(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Strings of any code points (st.text drops surrogates whatever its alphabet, so: joined lists)."""
    return st.lists(any_char, min_size=min_size, max_size=max_size).map("".join)


any_text = any_strings()
# Realistic text, without surrogates.
plain_text = st.text(max_size=40)
# JSON numbers that json.dumps can write (it refuses ints over 4300 digits).
json_ints = st.integers(min_value=-(2**70), max_value=2**70)
json_floats = st.floats(allow_nan=True, allow_infinity=True)
json_scalars: st.SearchStrategy[Any] = st.none() | st.booleans() | json_ints | json_floats | any_text
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
# What a conforming client sends: JSON proper has no NaN or Infinity (the parser refuses them).
finite_json_scalars: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | json_ints | st.floats(allow_nan=False, allow_infinity=False) | any_text
)
finite_json_values: st.SearchStrategy[Any] = st.recursive(
    finite_json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
uuids = st.uuids(version=4).map(str)
# Matches of the protocol's own patterns, as `re` reads them (which includes one trailing "\n").
durations = st.integers(min_value=0, max_value=10**7).map(lambda ms: format_duration(ms / 1000))
duration_regex_matches = st.from_regex(r"^PT(\d*\.)?\d+S$")
# What a careless or hostile client may put in a duration field: mostly fine, sometimes a regex match
# with a trailing newline, sometimes hundreds of digits (1e308 seconds is a float; times 8000 Hz it is not).
wild_durations = st.one_of(
    *[durations] * 8,
    duration_regex_matches,
    st.integers(1, 400).map(lambda n: "PT" + "9" * n + "S"),
)
language_codes = st.from_regex(LANGUAGE_CODE, fullmatch=True)
language_regex_matches = st.from_regex(LANGUAGE_CODE)

# ---- media offers ----------------------------------------------------------------------------

STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
EXTERNAL = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}
INTERNAL = {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}
INVERTED = {**STEREO, "channels": ["internal", "external"]}
# Offers GenesysSession can take; the model client knows which each one is.
GENESYS_USABLE_OFFERS: list[dict[str, Any]] = [
    STEREO,
    EXTERNAL,
    INTERNAL,
    INVERTED,
    {**STEREO, "format": "L16"},
    {**EXTERNAL, "format": "L16"},
    {**INTERNAL, "format": "L16"},
]
GENESYS_UNUSABLE_OFFERS: list[dict[str, Any]] = [
    {**STEREO, "format": "opus"},
    {**STEREO, "rate": 16000},
    {**STEREO, "channels": ["external", "external"]},
    {**STEREO, "channels": ["left", "right"]},
    {**STEREO, "type": "video"},
    {**EXTERNAL, "rate": 8000.0},
]
SIMPLE_OFFERS: list[Any] = [
    {"type": "audio", "codec": "audio/pcm"},
    {"type": "audio", "codec": "audio/pcmu", "rate": 8000},
    {"type": "audio", "format": "L16", "rate": 8000, "channels": 2},
    {"type": "audio", "format": "PCMU", "rate": 16000, "channels": ["left", "right"]},
    {"type": "audio", "codec": "audio/opus"},
    {"type": "video"},
    {"type": "audio", "codec": "audio/pcm", "rate": 44100},
    {"type": "audio", "codec": "audio/pcm", "channels": 3},
    "audio/pcm",
]

# Offers inside otherwise well-formed messages: odd values, but JSON proper (an Infinity or NaN would
# make the whole message unparseable, which the near-valid tests must not start from).
genesys_offer_lists = st.lists(
    st.sampled_from(GENESYS_USABLE_OFFERS + GENESYS_UNUSABLE_OFFERS) | finite_json_values, max_size=4
)
simple_offer_lists = st.lists(st.sampled_from(SIMPLE_OFFERS) | finite_json_values, max_size=3)

# ---- parameters of well-formed messages ------------------------------------------------------
# Strategies are built once, at import: building them for every draw costs more than the code under test.

_one_in_ten = st.integers(0, 9)
_custom_config = st.dictionaries(plain_text, finite_json_values, max_size=3)  # valid JSON: no NaN or Infinity
_ping_parameters: st.SearchStrategy[dict[str, Any]] = st.just({}) | st.fixed_dictionaries({"rtt": durations})
_error_codes = st.sampled_from([400, 405, 408, 409, 413, 415, 429, 500, 503])
_close_reasons = st.sampled_from(CLOSE_REASONS)
_good_simple_offer = st.sampled_from(SIMPLE_OFFERS[:4])
_simple_languages = st.sampled_from(["en", "ko", "de"]) | plain_text
_simple_close: st.SearchStrategy[dict[str, Any]] = st.just({}) | st.fixed_dictionaries(
    {"reason": st.sampled_from(["end", "hangup"]) | any_text}
)


@st.composite
def genesys_parameters(draw: st.DrawFn, msg_type: str) -> dict[str, Any]:
    """Parameters GenesysSession accepts for `msg_type` (an open may still offer nothing usable; a
    language may carry the trailing newline that `re`'s `$` lets through)."""
    if msg_type == "open":
        probe = draw(_one_in_ten) == 0
        params: dict[str, Any] = {
            "organizationId": ORG,
            "conversationId": NULL_UUID if probe else CONV,
            "participant": {**PARTICIPANT, "id": NULL_UUID} if probe else PARTICIPANT,
            "media": draw(genesys_offer_lists),
        }
        if draw(st.booleans()):
            params["language"] = draw(language_regex_matches)
        if draw(st.booleans()):
            params["supportedLanguages"] = draw(st.booleans())
        if draw(st.booleans()):
            params["customConfig"] = draw(_custom_config)
        return params
    if msg_type == "ping":
        return draw(_ping_parameters)
    if msg_type in ("resumed", "discarded"):
        return {"start": draw(wild_durations), "discarded": draw(wild_durations)}
    if msg_type == "update":
        return {"language": draw(language_regex_matches)}
    if msg_type == "error":
        return {"code": draw(_error_codes), "message": draw(any_text)}
    if msg_type == "close":
        return {"reason": draw(_close_reasons)}
    return {}


@st.composite
def simple_parameters(draw: st.DrawFn, msg_type: str) -> dict[str, Any]:
    """Parameters of the simple dialect (it checks few of them)."""
    if msg_type == "open":
        params: dict[str, Any] = {}
        if draw(_one_in_ten) > 1:
            params["media"] = draw(simple_offer_lists) if draw(_one_in_ten) < 3 else [draw(_good_simple_offer)]
        if draw(st.booleans()):
            params["language"] = draw(_simple_languages)
        return params
    if msg_type == "update":
        return {"language": draw(_simple_languages)}
    if msg_type == "close":
        return draw(_simple_close)
    return {}


GENESYS_PARAMETERS = {msg_type: genesys_parameters(msg_type) for msg_type in KNOWN_TYPES}
SIMPLE_PARAMETERS = {msg_type: simple_parameters(msg_type) for msg_type in KNOWN_TYPES}

# ---- one thing wrong -------------------------------------------------------------------------

ENVELOPE_KEYS = ["version", "id", "type", "seq", "serverseq", "position", "parameters"]
_mutations = st.sampled_from(["remove", "replace", "add"])
_new_keys = st.sampled_from([*ENVELOPE_KEYS, "rtt", "media", "language", "reason"]) | any_text
_corruptions = st.sampled_from(["truncate", "insert", "delete", "flip-byte", "raw-bytes"])
_inserted_text = any_strings(1, 3)
_inserted_bytes = st.binary(min_size=1, max_size=3)
_any_index = st.integers(0, 1 << 16)
_xor = st.integers(1, 255)


def _index(data: st.DataObject, length: int, label: str) -> int:
    """An index below `length` (0 for an empty sequence), from one cached strategy."""
    return data.draw(_any_index, label=label) % max(1, length)


def mutate_fields(data: st.DataObject, message: dict[str, Any]) -> dict[str, Any]:
    """Remove, replace or add one field, at the top level or one level into `parameters`."""
    message = json.loads(json.dumps(message))  # a deep copy
    target = message
    params = message.get("parameters")
    if isinstance(params, dict) and params and data.draw(st.booleans(), label="in parameters"):
        target = params
    keys = sorted(target)
    action = data.draw(_mutations, label="mutation")
    if action == "add" or not keys:
        target[data.draw(_new_keys, label="key")] = data.draw(json_values, label="value")
    elif action == "remove":
        del target[keys[_index(data, len(keys), "key")]]
    else:
        target[keys[_index(data, len(keys), "key")]] = data.draw(json_values, label="value")
    return message


def corrupt_text(data: st.DataObject, text: str) -> str | bytes:
    """Cut, splice or break the serialized message (bytes when the UTF-8 itself is broken)."""
    how = data.draw(_corruptions, label="corruption")
    at = _index(data, len(text), "at")
    if how == "truncate":
        return text[:at]
    if how == "insert":
        return text[:at] + data.draw(_inserted_text, label="inserted") + text[at:]
    if how == "delete":
        return text[:at] + text[at + 1 :]
    raw = bytearray(text.encode("utf-8", errors="surrogatepass"))
    at = min(at, len(raw) - 1)
    if how == "flip-byte" and raw:
        raw[at] ^= data.draw(_xor, label="xor")
    elif raw:
        raw[at:at] = data.draw(_inserted_bytes, label="inserted bytes")
    return bytes(raw)


# ---- garbage ---------------------------------------------------------------------------------

JSON_TOKENS = [
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    '"type"',
    '"id"',
    '"seq"',
    '"parameters"',
    '"open"',
    '"ping"',
    '"close"',
    '"a"',
    '"\\ud800"',
    '"\\u0000"',
    '"\\"',
    "0",
    "1",
    "-1",
    "1.5",
    "1e999",
    "-0",
    "true",
    "false",
    "null",
    "NaN",
    "Infinity",
    "\u00e9",
    "\x00",
]
json_token_soup = st.lists(st.sampled_from(JSON_TOKENS), max_size=30).map("".join)
# Big input of the cheap-to-generate kind: long digit runs (Python limits int parsing to 4300 digits),
# deep nesting (the JSON decoder recurses), and long strings.
oversized_text = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: '{"type": "ping", "id": "a", "seq": ' + "1" * n + "}"),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(
        lambda n: '{"type": "open", "id": "a", "parameters": ' + '{"a": ' * n + "1" + "}" * n + "}"
    ),
    st.integers(60000, 70000).map(lambda n: '{"type": "ping", "id": "' + "a" * n + '"}'),
)
garbage_text = st.one_of(any_text, any_strings(max_size=400), json_token_soup, oversized_text)
garbage_frames: st.SearchStrategy[str | bytes] = st.one_of(garbage_text, st.binary(max_size=200))


def utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fullmatch(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
