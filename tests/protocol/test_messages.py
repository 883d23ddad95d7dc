"""Client message parsing: every malformed input gets a ProtocolError with a readable message."""

from __future__ import annotations

import json

import pytest

from protocol.errors import CLOSE_INVALID_PAYLOAD, CLOSE_POLICY_VIOLATION, ProtocolError
from protocol.messages import parse_client_message


def test_parses_a_full_envelope() -> None:
    message = parse_client_message(
        json.dumps(
            {
                "version": "2",
                "type": "open",
                "id": "s1",
                "seq": 1,
                "serverseq": 0,
                "position": "PT0S",
                "parameters": {"media": []},
            }
        )
    )
    assert (message.type, message.id, message.seq, message.serverseq, message.position) == ("open", "s1", 1, 0, "PT0S")
    assert message.version == "2"
    assert message.parameters == {"media": []}


def test_parameters_default_to_an_empty_object() -> None:
    assert parse_client_message('{"type": "ping", "id": "s"}').parameters == {}


@pytest.mark.parametrize(
    ("raw", "fragment", "close_code"),
    [
        ("{not json", "not valid JSON", CLOSE_INVALID_PAYLOAD),
        (b"\xff\xfe", "not valid UTF-8", CLOSE_INVALID_PAYLOAD),
        ("[1, 2]", "must be a JSON object, got list", CLOSE_POLICY_VIOLATION),
        ('{"id": "s"}', "no 'type'", CLOSE_POLICY_VIOLATION),
        ('{"type": 5, "id": "s"}', "'type' must be a string, got int", CLOSE_POLICY_VIOLATION),
        ('{"type": "dance", "id": "s"}', "unknown message type 'dance'", CLOSE_POLICY_VIOLATION),
        ('{"type": "open"}', "has no session 'id'", CLOSE_POLICY_VIOLATION),
        ('{"type": "open", "id": 7}', "'id' must be a string, got int", CLOSE_POLICY_VIOLATION),
        ('{"type": "open", "id": "s", "seq": "1"}', "'seq' must be an integer, got str", CLOSE_POLICY_VIOLATION),
        ('{"type": "open", "id": "s", "seq": true}', "'seq' must be an integer, got bool", CLOSE_POLICY_VIOLATION),
        ('{"type": "open", "id": "s", "seq": -1}', "must not be negative", CLOSE_POLICY_VIOLATION),
        ('{"type": "open", "id": "s", "parameters": []}', "'parameters' must be an object", CLOSE_POLICY_VIOLATION),
        ('{"type": "open", "id": "s", "position": 3}', "'position' must be a string", CLOSE_POLICY_VIOLATION),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(raw: str | bytes, fragment: str, close_code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(raw)
    assert info.value.code == 400
    assert fragment in info.value.message
    assert info.value.close_code == close_code
