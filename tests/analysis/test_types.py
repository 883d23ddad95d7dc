"""The value types (analysis.types): the protocol's analysis block."""

from __future__ import annotations

import json

from analysis import EMOTION_LABELS
from analysis.types import EVENT_KEYS
from tests.analysis.scripted_calls import SUPPORT_CALL, run_call


def test_to_event_has_exactly_the_protocol_keys() -> None:
    _, result = run_call(SUPPORT_CALL)
    event = result.to_event()
    assert tuple(event) == EVENT_KEYS
    assert len(event) == 7
    protocol = "summary sentiment emotion agent_score process_issues repeated_problems marketing_mentions"
    assert " ".join(EVENT_KEYS) == protocol  # the protocol's keys, in this order
    assert event["agent_score"] == result.agent_score
    assert isinstance(event["agent_score"], int)
    assert event["sentiment"] in {"positive", "neutral", "negative"}
    assert event["emotion"] in EMOTION_LABELS
    for key in ("summary", "process_issues", "repeated_problems", "marketing_mentions"):
        assert isinstance(event[key], str) and event[key]
    json.dumps(event)  # serialisable as-is
