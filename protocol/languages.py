"""Which spoken languages a session may ask for, and how each dialect writes them.

Every door speaks of languages in its own format: the simple dialect and the HTTP API use bare codes
(`en`, `tr`), Genesys uses BCP-47 tags with a region (`en-US`, `es-MX`). Underneath, a language is its
bare ISO 639-1 code, the one Whisper knows. `Languages` is the server's answer to "can you transcribe
this?": the bare codes the loaded models transcribe (configured, and checked against the models at
start-up), and `auto` when a session names none and more than one is possible (the call core then
detects it, per channel: `audiohook_server.calls.language_choice`).

A named language nobody can transcribe is refused with 415 (unsupported media), never quietly
transcribed as English. No I/O here: the sessions call `resolve`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.errors import CLOSE_UNSUPPORTED_DATA, ProtocolError

AUTO = "auto"
# Every language Whisper's multilingual models know (faster_whisper.tokenizer._LANGUAGE_CODES, 1.2.1).
WHISPER_LANGUAGES = frozenset(
    [
        "af",
        "am",
        "ar",
        "as",
        "az",
        "ba",
        "be",
        "bg",
        "bn",
        "bo",
        "br",
        "bs",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "eu",
        "fa",
        "fi",
        "fo",
        "fr",
        "gl",
        "gu",
        "ha",
        "haw",
        "he",
        "hi",
        "hr",
        "ht",
        "hu",
        "hy",
        "id",
        "is",
        "it",
        "ja",
        "jw",
        "ka",
        "kk",
        "km",
        "kn",
        "ko",
        "la",
        "lb",
        "ln",
        "lo",
        "lt",
        "lv",
        "mg",
        "mi",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "my",
        "ne",
        "nl",
        "nn",
        "no",
        "oc",
        "pa",
        "pl",
        "ps",
        "pt",
        "ro",
        "ru",
        "sa",
        "sd",
        "si",
        "sk",
        "sl",
        "sn",
        "so",
        "sq",
        "sr",
        "su",
        "sv",
        "sw",
        "ta",
        "te",
        "tg",
        "th",
        "tk",
        "tl",
        "tr",
        "tt",
        "uk",
        "ur",
        "uz",
        "vi",
        "yi",
        "yo",
        "zh",
        "yue",
    ]
)
# What a server with a multilingual model announces unless configured: the languages Whisper's paper
# reports base transcribing best (FLEURS/Common Voice), which this project also measured (docs/languages.md).
DEFAULT_MULTILINGUAL = ("en", "de", "es", "fr", "it", "pt", "nl")
# A language as a client may write it: `de`, `DE`, `de-DE`, `de_DE`, `zh-Hant-TW`.
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
# The region each language is announced with to Genesys when the configuration names none.
DEFAULT_REGIONS = {
    "ar": "ar-SA",
    "cs": "cs-CZ",
    "da": "da-DK",
    "de": "de-DE",
    "el": "el-GR",
    "en": "en-US",
    "es": "es-ES",
    "fi": "fi-FI",
    "fr": "fr-FR",
    "he": "he-IL",
    "hi": "hi-IN",
    "it": "it-IT",
    "ja": "ja-JP",
    "ko": "ko-KR",
    "nl": "nl-NL",
    "no": "nb-NO",
    "pl": "pl-PL",
    "pt": "pt-BR",
    "ru": "ru-RU",
    "sv": "sv-SE",
    "tr": "tr-TR",
    "uk": "uk-UA",
    "zh": "zh-CN",
}


def is_language_tag(value: object) -> bool:
    """A string shaped like a language: `en`, `en-US`, `pt_BR` (no claim that anything speaks it)."""
    return isinstance(value, str) and bool(_LANGUAGE_TAG.fullmatch(value))


def bare_code(tag: str) -> str:
    """The language of a tag, as Whisper names it: `en-US` -> `en`, `PT_br` -> `pt`, `nb-NO` -> `no`."""
    code = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return "no" if code == "nb" else code


def regional_tag(code: str) -> str:
    """The Genesys-style tag for a bare code: its usual region (`de` -> `de-DE`), else `xx-XX`."""
    return DEFAULT_REGIONS.get(code, f"{code}-{code.upper()}")


@dataclass(frozen=True)
class Languages:
    """The languages sessions may ask for: bare codes, in the order announced (the first is the
    fallback when detection has nothing to go on)."""

    supported: tuple[str, ...] = ("en",)

    def __post_init__(self) -> None:
        if not self.supported:
            raise ValueError("at least one language must be supported")

    @property
    def detectable(self) -> bool:
        """Whether `auto` means anything: more than one language could be spoken."""
        return len(self.supported) > 1

    def resolve(self, requested: object, what: str = "language") -> str:
        """A session's language: a supported bare code, or `auto` (detect it) when the client named
        none (None, "", "auto"). A named language that no model transcribes is a 415."""
        if requested is None or requested == "" or requested == AUTO:
            return AUTO if self.detectable else self.supported[0]
        if not isinstance(requested, str):
            raise ProtocolError(400, f"'{what}' must be a string such as 'en' or 'en-US'")
        if not is_language_tag(requested):
            raise ProtocolError(400, f"'{what}' {requested[:40]!a} is not a language code such as 'en' or 'en-US'")
        code = bare_code(requested)
        if code not in self.supported:
            raise ProtocolError(
                415,
                f"language {requested[:40]!a} is not supported: this server transcribes "
                f"{', '.join(self.supported)}{' (or auto to detect it)' if self.detectable else ''}",
                CLOSE_UNSUPPORTED_DATA,
            )
        return code

    def tags(self, configured: Iterable[str] = ()) -> tuple[str, ...]:
        """The Genesys `supportedLanguages`: the configured tags whose language is supported, else
        each supported language with its usual region."""
        chosen = tuple(tag for tag in configured if bare_code(tag) in self.supported)
        return chosen or tuple(regional_tag(code) for code in self.supported)
