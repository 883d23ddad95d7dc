"""`audiohook_server.client.console`: the one-line formats of a final and of the call analysis."""

from __future__ import annotations

from audiohook_server.client import format_analysis, format_final


def test_format_final_and_analysis() -> None:
    entity = {"value": " hello  ", "start": 12.34, "end": 15.67, "channel": 0, "speaker": "agent", "confidence": 0.912}
    assert format_final(entity) == "[ 12.34 -  15.67] ch0 agent: hello  (conf 0.91)"
    assert format_final({"value": "hi"}) == "[     ? -      ?] ch0 unknown: hi"
    analysis = {"summary": "A customer\ncalled.", "sentiment": "neutral", "emotion": "calm", "agent_score": 4}
    assert format_analysis(analysis) == "analysis: sentiment=neutral emotion=calm agent_score=4 | A customer called."
    assert format_analysis({}) == "analysis: "
