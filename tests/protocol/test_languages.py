"""protocol.languages: what a session may ask for, and how each dialect writes it."""

from __future__ import annotations

import pytest

from protocol.errors import CLOSE_UNSUPPORTED_DATA, ProtocolError
from protocol.languages import AUTO, Languages, bare_code, is_language_tag, regional_tag

SEVERAL = Languages(("en", "de", "es"))


@pytest.mark.parametrize(
    ("tag", "code"),
    [("en", "en"), ("en-US", "en"), ("DE", "de"), ("pt_BR", "pt"), ("nb-NO", "no"), ("zh-Hant-TW", "zh")],
)
def test_bare_code(tag: str, code: str) -> None:
    assert is_language_tag(tag) and bare_code(tag) == code


@pytest.mark.parametrize("value", ["", "english", "en US", "e", "en-US\n", 7, None, "1234"])
def test_what_is_not_a_language_tag(value: object) -> None:
    assert not is_language_tag(value)


@pytest.mark.parametrize("requested", [None, "", "auto"])
def test_no_language_is_auto_when_there_is_a_choice(requested: object) -> None:
    assert SEVERAL.resolve(requested) == AUTO
    assert Languages().resolve(requested) == "en"  # English only: nothing to detect


def test_a_named_language_is_its_bare_code() -> None:
    assert SEVERAL.resolve("de-AT") == "de" and SEVERAL.resolve("ES") == "es"


def test_an_unsupported_language_is_a_415_naming_what_is_supported() -> None:
    with pytest.raises(ProtocolError) as caught:
        SEVERAL.resolve("tr-TR")
    assert caught.value.code == 415 and caught.value.close_code == CLOSE_UNSUPPORTED_DATA
    assert (
        caught.value.message
        == "language 'tr-TR' is not supported: this server transcribes en, de, es (or auto to detect it)"
    )
    with pytest.raises(ProtocolError) as only_english:
        Languages().resolve("de")
    assert only_english.value.message == "language 'de' is not supported: this server transcribes en"


def test_a_malformed_language_is_a_400_without_echoing_control_characters() -> None:
    for bad in ("english\n", 42, "x" * 300):
        with pytest.raises(ProtocolError) as caught:
            SEVERAL.resolve(bad)
        assert caught.value.code == 400 and "\n" not in caught.value.message and len(caught.value.message) < 120


def test_genesys_tags() -> None:
    assert SEVERAL.tags() == ("en-US", "de-DE", "es-ES")
    assert SEVERAL.tags(("en-GB", "es-MX", "fr-FR")) == ("en-GB", "es-MX")  # configured, when supported
    assert regional_tag("xx") == "xx-XX"


def test_at_least_one_language() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Languages(())
