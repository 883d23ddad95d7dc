"""The redaction policy as the settings give it: defaults, groups, and readable refusals."""

from __future__ import annotations

import pytest

from analysis.pii import PAYMENT_ENTITIES, Entity, MaskStyle
from audiohook_server.calls.redaction import RedactionPolicy
from audiohook_server.settings import SettingError, Settings


def test_the_default_redacts_payment_data_everywhere_but_the_live_events() -> None:
    policy = Settings().redaction
    assert policy.entities == PAYMENT_ENTITIES
    assert policy.files == PAYMENT_ENTITIES and policy.recording == PAYMENT_ENTITIES
    assert policy.events == frozenset() and policy.style is MaskStyle.TAG
    assert "events" not in policy.describe() and "card_number" in policy.describe()


def test_files_all_and_none() -> None:
    everything = RedactionPolicy.parse("all", "all", "last4")
    assert everything.entities == frozenset(Entity) and everything.events == frozenset(Entity)
    files = RedactionPolicy.parse("card_number", "files", "tag")
    assert files.files == {Entity.CARD_NUMBER} and files.recording == frozenset()
    off = RedactionPolicy.parse("none", "all", "tag")
    assert not off.active and off.describe() == "redaction off"
    assert not RedactionPolicy.parse("payment", "logs", "tag").active


@pytest.mark.parametrize(
    ("overrides", "setting", "message"),
    [
        ({"redact": "cards"}, "--redact", "unknown entity type 'cards'"),
        ({"redact_in": "csv"}, "--redact-in", "redacted together"),
        ({"redact_in": "disk"}, "--redact-in", "unknown place 'disk'"),
        ({"redact_style": "stars"}, "--redact-style", "unknown style 'stars'"),
    ],
)
def test_a_bad_policy_is_a_setting_error_naming_the_setting(
    overrides: dict[str, str], setting: str, message: str
) -> None:
    with pytest.raises(SettingError) as error:
        Settings(**overrides).validate()  # type: ignore[arg-type]
    assert setting in str(error.value) and message in str(error.value)
