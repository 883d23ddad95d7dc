"""`audiohook_server.client.console`: the one-line formats, and what the console shows of each server message."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from audiohook_server.client import ReceivedEvent, format_analysis, format_final
from audiohook_server.client.console import Console, format_notice


def test_format_final_and_analysis() -> None:
    entity = {"value": " hello  ", "start": 12.34, "end": 15.67, "channel": 0, "speaker": "agent", "confidence": 0.912}
    assert format_final(entity) == "[ 12.34 -  15.67] ch0 agent: hello  (conf 0.91)"
    assert format_final({"value": "hi"}) == "[     ? -      ?] ch0 unknown: hi"
    analysis = {"summary": "A customer\ncalled.", "sentiment": "neutral", "emotion": "calm", "agent_score": 4}
    assert format_analysis(analysis) == "analysis: sentiment=neutral emotion=calm agent_score=4 | A customer called."
    assert format_analysis({}) == "analysis: "


def _message(message: dict[str, Any]) -> ReceivedEvent:
    return ReceivedEvent(message, 0.0, 0.0)


def _transcript(value: str, *, final: bool) -> dict[str, Any]:
    return {"type": "transcript", "value": value, "is_final": final, "start": 0.0, "end": 1.0}


@pytest.mark.parametrize("quiet", [True, False])
def test_console_shows_finals_analysis_changes_and_notices(quiet: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(total_s=2.0, json_lines=False, quiet=quiet, out=out, err=err)
    analysis = {"sentiment": "neutral", "summary": "a call"}
    messages: list[dict[str, Any]] = [
        {"type": "opened", "id": "s1", "parameters": {}},
        {"type": "event", "parameters": {"entity": _transcript("hel", final=False)}},  # not a terminal: not shown
        {"type": "event", "parameters": {"entity": _transcript("hello", final=True), "analysis": analysis}},
        {"type": "event", "parameters": {"entity": {"type": "agentassist", "value": "x"}, "analysis": analysis}},
        {"type": "event", "parameters": {"entity": "oops"}},
        {"type": "error", "parameters": {"code": 413, "message": "too much"}},
        {"type": "disconnect", "parameters": {"reason": "error", "info": "bye"}},
        {"type": "disconnect", "parameters": None},
        {"type": "closed", "parameters": {}},
        {"no type": True},
    ]
    for message in messages:
        console.on_message(_message(message))
    console.close()
    assert out.getvalue().splitlines() == [
        "[  0.00 -   1.00] ch0 unknown: hello",
        "analysis: sentiment=neutral | a call",  # once: the same analysis again is not shown
    ]
    shown = err.getvalue()  # with the progress bar's output in it, unless quiet
    notices = ["server error 413: too much", "server disconnected: error (bye)", "server disconnected: ?"]
    positions = [shown.index(notice + "\n") for notice in notices]
    assert positions == sorted(positions)
    assert ("session s1 opened" in err.getvalue()) is not quiet


def test_console_json_lines_prints_every_message() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(total_s=1.0, json_lines=True, quiet=True, out=out, err=err)
    messages: list[dict[str, Any]] = [
        {"type": "opened", "id": "s1"},
        {"type": "error", "parameters": {"code": 1}},
        {"type": "x", "v": "é"},
    ]
    for message in messages:
        console.on_message(_message(message))
    assert [json.loads(line) for line in out.getvalue().splitlines()] == messages
    assert "é" in out.getvalue()  # not ASCII-escaped
    assert err.getvalue() == ""


def test_format_notice() -> None:
    assert format_notice(_message({"type": "error", "parameters": {}})) == "server error ?: "
    assert format_notice(_message({"type": "disconnect", "parameters": {"reason": "completed"}})) == (
        "server disconnected: completed"
    )
    assert format_notice(_message({"type": "opened"})) is None


def test_progress_off_a_terminal_is_a_line_per_quarter() -> None:
    out, err = io.StringIO(), io.StringIO()  # not terminals: a progress bar would print every redraw
    console = Console(total_s=10.0, json_lines=False, quiet=False, out=out, err=err)
    console.start("session s1 opened")
    for tenth in range(1, 101):
        console.on_progress(tenth / 10)
    console.close()
    assert err.getvalue().splitlines() == [
        "session s1 opened",
        "audio: 2.5 of 10.0 s (25%)",
        "audio: 5.0 of 10.0 s (50%)",
        "audio: 7.5 of 10.0 s (75%)",
        "audio: 10.0 of 10.0 s (100%)",
    ]
    quiet = Console(total_s=10.0, json_lines=False, quiet=True, out=out, err=(silent := io.StringIO()))
    quiet.start("session s2 opened")
    quiet.on_progress(10.0)
    assert silent.getvalue() == ""
