"""`audiohook_server.client.results`: what a `StreamResult` reads out of the server's messages."""

from __future__ import annotations

from typing import Any

from audiohook_server.client import ReceivedEvent, StreamResult


def _event(entity: dict[str, Any], analysis: dict[str, Any] | None = None) -> ReceivedEvent:
    params: dict[str, Any] = {"entity": entity}
    if analysis is not None:
        params["analysis"] = analysis
    return ReceivedEvent({"type": "event", "parameters": params}, 0.0, 0.0)


def test_stream_result_tolerates_missing_fields() -> None:
    result = StreamResult(
        session_id="s",
        messages=[
            _event({"type": "transcript", "value": "hel", "is_final": False}),
            _event({"value": "hello there"}),  # no is_final: the documented dialect sends only finals
            _event({"type": "transcript", "value": "  ", "is_final": True}),
            _event({"type": "agentassist", "value": "not a transcript"}),
            _event({"type": "transcript", "value": "bye", "is_final": True}, {"sentiment": "positive"}),
            ReceivedEvent({"type": "event"}, 0.0, 0.0),
            ReceivedEvent({"type": "event", "parameters": {"entity": "oops"}}, 0.0, 0.0),
            ReceivedEvent({"type": "error", "parameters": {"code": 500}}, 0.0, 0.0),
            ReceivedEvent({"parameters": None}, 0.0, 0.0),
        ],
    )
    assert [p["value"] for p in result.partials] == ["hel"]
    assert [f["value"] for f in result.finals] == ["hello there", "  ", "bye"]
    assert result.final_text == "hello there bye"
    assert result.last_analysis == {"sentiment": "positive"}
    assert len(result.errors) == 1
    assert not result.ok
