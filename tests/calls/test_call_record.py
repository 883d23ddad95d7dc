"""A finished call's calls.csv row and session.json end, from its record and its transcript rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiohook_server.calls.call_record import (
    CALL_COLUMNS,
    CallFiles,
    call_row,
    ended_fields,
    talk_shares,
    utterance_category_counts,
)
from audiohook_server.calls.transcript_csv import TranscriptRow
from protocol.capture import iso_utc

STARTED = 1_700_000_000.0


def _row(
    start: float, end: float, speaker: str, text: str, categories: str = "", **running: object
) -> dict[str, object]:
    channel = {"customer": "external", "agent": "internal"}.get(speaker, "mono")
    values = TranscriptRow("s", start, end, channel, speaker, text, 0.9, "neutral", "neutral", categories).as_dict()
    return {**values, **{f"running_{key}": value for key, value in running.items()}}


def test_talk_shares_are_parts_of_the_speech_time() -> None:
    stereo = [_row(0, 3, "customer", "a"), _row(3, 4, "agent", "b"), _row(5, 5.5, "agent", "c")]
    assert talk_shares(stereo) == {"customer": 0.667, "agent": 0.333, "unknown": 0.0}
    assert talk_shares([_row(0, 2, "unknown", "mono call")]) == {"customer": 0.0, "agent": 0.0, "unknown": 1.0}
    assert talk_shares([]) == {}
    assert talk_shares([{"speaker": "customer", "start": "x", "end": 1}]) == {}  # unreadable: no speech known


def test_category_counts_count_utterances() -> None:
    rows = [
        _row(0, 1, "customer", "a", "process_issues/hold; marketing_mentions/upgrade"),
        _row(1, 2, "agent", "b", "process_issues/hold"),
        _row(2, 3, "agent", "c", "process_issues/transfer; process_issues/hold; custom/thing"),
        _row(3, 4, "agent", "d"),
    ]
    assert utterance_category_counts(rows) == {
        "process_issues": {"hold": 3, "transfer": 1},
        "marketing_mentions": {"upgrade": 1},
        "custom": {"thing": 1},
    }


def test_the_row_of_a_call(tmp_path: Path) -> None:
    csv = tmp_path / "call.csv"
    for name in ("call.csv", "call.session.json", "call.wav"):
        (tmp_path / name).write_text("x")
    metadata = {
        "session_id": "call",
        "conversation_id": "conv-1",
        "dialect": "genesys",
        "language": "en-US",
        "started_at": iso_utc(STARTED),
        "authenticated_by": "api-key:0123456789ab",
        **ended_fields({"started_at": iso_utc(STARTED)}, STARTED + 61.5, "completed", 58.25),
    }
    rows = [
        _row(0, 3, "customer", "I was put on hold twice", "process_issues/hold"),
        _row(3, 4, "agent", "Sorry about that, let me check", "", sentiment="negative", emotion="frustrated",
             agent_score=4, summary="Customer: on hold", process_issues='hold (1): "on hold" @0.0s',
             outcome="retention_saved", customer_state="frustrated", overtalk_s=0.4, longest_silence_s=6.25,
             dead_air_s=6.25, hold_s=0.0, moments="complaint:1; hold:1", alerts=0),
    ]  # fmt: skip
    row = call_row(metadata, rows, CallFiles.beside(csv))
    values = row.as_dict()
    assert tuple(values) == CALL_COLUMNS
    assert values == {
        "session_id": "call",
        "conversation_id": "conv-1",
        "door": "genesys",
        "started_at": "2023-11-14T22:13:20.000Z",
        "ended_at": "2023-11-14T22:14:21.500Z",
        "duration_s": 61.5,
        "audio_s": 58.25,
        "end_reason": "completed",
        "language": "en-US",
        "utterances": 2,
        "words": 12,
        "sentiment": "negative",
        "emotion": "frustrated",
        "agent_score": 4,
        "process_issues": "hold:1",
        "repeated_problems": "",
        "marketing_mentions": "",
        "other_categories": "",
        "summary": "Customer: on hold",
        "outcome": "retention_saved",
        "talk_share_customer": 0.75,
        "talk_share_agent": 0.25,
        "talk_share_unknown": 0.0,
        "customer_state": "frustrated",
        "overtalk_s": 0.4,
        "longest_silence_s": 6.25,
        "dead_air_s": 6.25,
        "hold_s": 0.0,
        "moments": "complaint:1; hold:1",
        "alerts": 0,
        "authenticated_by": "api-key:0123456789ab",
        "transcript_csv": "call.csv",
        "summary_json": "",  # there is none
        "session_json": "call.session.json",
        "recording_wav": "call.wav",
    }


@pytest.mark.parametrize(
    ("dialect", "door"),
    [("simple", "simple"), ("genesys", "genesys"), ("live", "jwt"), ("http-live", "http-live"),
     ("http-replay", "replay")],
)  # fmt: skip
def test_doors(dialect: str, door: str) -> None:
    assert call_row({"dialect": dialect}, [], CallFiles()).door == door


def test_rows_of_an_old_journal_and_a_call_without_analysis() -> None:
    old = {**_row(0, 1, "unknown", "hello there"), "sentiment": "positive", "agent_score": 5, "summary": "hi"}
    for key in ("running_sentiment", "running_agent_score", "running_summary"):
        old.pop(key)
    row = call_row({}, [old], CallFiles())
    assert (row.sentiment, row.agent_score, row.summary, row.session_id) == ("positive", 5, "hi", "s")
    quiet = call_row({"started_at": "not a time"}, [_row(0, 1, "unknown", "hi")], CallFiles())
    assert (quiet.sentiment, quiet.agent_score, quiet.started_at, quiet.duration_s) == ("", "", "", "")


def test_ended_fields() -> None:
    fields = ended_fields({"started_at": "2023-11-14T22:13:20+00:00"}, STARTED + 2.0004, "drained", None)
    assert fields == {
        "ended_at": "2023-11-14T22:13:22.000Z",
        "duration_s": 2.0,
        "end_reason": "drained",
        "audio_s": None,
    }
    assert ended_fields({}, STARTED, "completed", 1.0)["duration_s"] is None
