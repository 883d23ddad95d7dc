"""What a finished call was, in one row of `calls.csv` and in the end fields of its `session.json`.

Both are built from what every way of ending leaves on disk, so that a session that ends normally and
one recovered from its journal after a crash get the same row: the session record (`session.json`:
ids, door, start, language, who authenticated) and the transcript rows (the per-utterance CSV's, or
the journal's). The call's analysis is the last row's running values (the final analysis); category
counts count the utterances that mention a label (each row lists a `category/label` once); talk
shares are each speaker's part of the speech time (the sum of the utterances' lengths).

The columns are `CallRow`'s fields, documented in the README ("One row per call"); changing them
means raising `CALLS_CSV_VERSION` (the new rows then go to a new file, see `calls_csv`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from analysis.categories import CATEGORY_NAMES
from analysis.text import count_words
from analysis.types import SPEAKERS
from audiohook_server.calls.calls_csv import CallsCsv
from audiohook_server.calls.transcript_csv import upgrade_row
from protocol.capture import iso_utc

__all__ = [
    "CALLS_CSV_VERSION",
    "CALL_COLUMNS",
    "DOORS",
    "CallFiles",
    "CallRow",
    "call_row",
    "calls_csv",
    "ended_fields",
    "talk_shares",
    "utterance_category_counts",
]

CALLS_CSV_VERSION = 2  # 2: the live analytics' columns (customer_state ... alerts)

# The session record's `dialect` -> the door the call came through.
DOORS = {"simple": "simple", "genesys": "genesys", "live": "jwt", "http-live": "http-live", "http-replay": "replay"}


@dataclass(frozen=True)
class CallRow:
    """One finished call (a row of calls.csv)."""

    session_id: str
    conversation_id: str
    door: str  # genesys, simple, jwt (/ws/transcribe), http-live, replay
    started_at: str  # ISO 8601 UTC, milliseconds, `Z`
    ended_at: str
    duration_s: float | str  # ended_at - started_at
    audio_s: float | str  # seconds of audio received
    end_reason: str  # completed, disconnected, drained, failed, cancelled, expired, recovered
    language: str
    utterances: int
    words: int
    sentiment: str  # the final call analysis (empty below 5 words of final text)
    emotion: str
    agent_score: int | str
    process_issues: str  # label:utterances; …, e.g. `hold:2; transfer:1`
    repeated_problems: str
    marketing_mentions: str
    other_categories: str  # categories of a --categories-file beyond the three: `category/label:n; …`
    summary: str
    outcome: str  # the customer's decision: retention_saved, cancelled, sale_closed ... ("" for none)
    talk_share_customer: float | str  # 0-1 of the speech time; empty without speech
    talk_share_agent: float | str
    talk_share_unknown: float | str  # mono calls (and unnamed channels)
    # The conversation (analysis.dynamics, analysis.moments, analysis.transitions), empty below 5 words:
    customer_state: str  # calm, pleased, frustrated, angry, anxious, sad: how the customer ended
    overtalk_s: float | str  # both talking at once
    longest_silence_s: float | str  # nobody talking, holds included
    dead_air_s: float | str  # silences of 3 s or more that are not holds
    hold_s: float | str
    moments: str  # by category: `objection:1; cta_commit:2; hold:1`
    alerts: int | str  # escalation requests, cancellation threats, sustained anger, long dead air
    authenticated_by: str  # api-key:<key id>, jwt:<subject> or none; never a secret
    transcript_csv: str  # the per-call files, names in the same directory ("" when there is none)
    summary_json: str
    session_json: str
    recording_wav: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CallRow))


def calls_csv(directory: Path, mode: int) -> CallsCsv:
    """The call log of `directory`, for these columns."""
    return CallsCsv(directory, CALL_COLUMNS, CALLS_CSV_VERSION, mode)


@dataclass(frozen=True)
class CallFiles:
    """The names of a call's files ("" for a file it does not have)."""

    transcript_csv: str = ""
    summary_json: str = ""
    session_json: str = ""
    recording_wav: str = ""

    @classmethod
    def beside(cls, csv_path: Path, stem: Path | None = None) -> CallFiles:
        """The files of the call whose transcript is `csv_path` (`stem`: where its other files are named
        from, when the transcript went elsewhere), those that exist."""
        base = stem or csv_path
        names = [base.with_suffix(suffix) for suffix in (".summary.json", ".session.json", ".wav")]
        summary, session, recording = (path.name if path.exists() else "" for path in names)
        return cls(csv_path.name if csv_path.exists() else "", summary, session, recording)


def _seconds(iso: object) -> float | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def ended_fields(metadata: Mapping[str, Any], ended_at: float, reason: str, audio_s: float | None) -> dict[str, Any]:
    """What `session.json` gains when the session ends: ended_at (UTC), duration_s, end_reason, audio_s."""
    started = _seconds(metadata.get("started_at"))
    return {
        "ended_at": iso_utc(ended_at),
        "duration_s": round(max(0.0, ended_at - started), 3) if started is not None else None,
        "end_reason": reason,
        "audio_s": None if audio_s is None else round(audio_s, 3),
    }


def talk_shares(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """speaker -> part of the speech time (0-1, every speaker of SPEAKERS); empty without speech."""
    spoken: dict[str, float] = dict.fromkeys(SPEAKERS, 0.0)
    for row in rows:
        speaker = str(row.get("speaker", ""))
        if not speaker:
            continue  # a secure pause's row: nobody spoke
        try:
            length = float(row.get("end", 0)) - float(row.get("start", 0))
        except (TypeError, ValueError):
            continue
        spoken[speaker if speaker in SPEAKERS else "unknown"] += max(0.0, length)
    total = sum(spoken.values())
    return {speaker: round(spoken[speaker] / total, 3) for speaker in SPEAKERS} if total > 0 else {}


def utterance_category_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """category -> label -> how many utterances mention it (each row's `utterance_categories` names a
    `category/label` once), labels in order of first mention."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        named = str(row.get("utterance_categories") or "")
        for pair in dict.fromkeys(part.strip() for part in named.split(";")):
            category, slash, label = pair.partition("/")
            if slash and category and label:
                labels = counts.setdefault(category, {})
                labels[label] = labels.get(label, 0) + 1
    return counts


def _listed(counts: Mapping[str, int]) -> str:
    return "; ".join(f"{label}:{n}" for label, n in counts.items())


def _number(value: object) -> float | str:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _score(value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value) if value is not None else ""


def call_row(
    metadata: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    files: CallFiles,
    *,
    ended: Mapping[str, Any] | None = None,
) -> CallRow:
    """The calls.csv row of a session: its record (`metadata`, with the `ended_fields` in it or given as
    `ended`), its transcript rows (any version's) and its files."""
    record = {**metadata, **(ended or {})}
    current = [upgrade_row(dict(row)) for row in rows]
    last = current[-1] if current else {}
    counts = utterance_category_counts(current)
    other = {f"{category}/{label}": n for category, labels in counts.items() if category not in CATEGORY_NAMES
             for label, n in labels.items()}  # fmt: skip
    shares = talk_shares(current)
    started = _seconds(record.get("started_at"))
    ended_at = _seconds(record.get("ended_at"))
    return CallRow(
        session_id=str(record.get("session_id") or (last.get("session_id", ""))),
        conversation_id=str(record.get("conversation_id") or ""),
        door=DOORS.get(str(record.get("dialect", "")), str(record.get("dialect") or "")),
        started_at=iso_utc(started) if started is not None else "",
        ended_at=iso_utc(ended_at) if ended_at is not None else "",
        duration_s=_number(record.get("duration_s")),
        audio_s=_number(record.get("audio_s")),
        end_reason=str(record.get("end_reason") or ""),
        language=str(record.get("language") or ""),
        utterances=len(current),
        words=sum(count_words(str(row.get("text", ""))) for row in current),
        sentiment=str(last.get("running_sentiment", "")),
        emotion=str(last.get("running_emotion", "")),
        agent_score=_score(last.get("running_agent_score")),
        process_issues=_listed(counts.get("process_issues", {})),
        repeated_problems=_listed(counts.get("repeated_problems", {})),
        marketing_mentions=_listed(counts.get("marketing_mentions", {})),
        other_categories=_listed(other),
        summary=str(last.get("running_summary", "")),
        outcome=str(last.get("running_outcome", "")),
        talk_share_customer=shares.get("customer", ""),
        talk_share_agent=shares.get("agent", ""),
        talk_share_unknown=shares.get("unknown", ""),
        customer_state=str(last.get("running_customer_state", "")),
        overtalk_s=_number(last.get("running_overtalk_s")),
        longest_silence_s=_number(last.get("running_longest_silence_s")),
        dead_air_s=_number(last.get("running_dead_air_s")),
        hold_s=_number(last.get("running_hold_s")),
        moments=str(last.get("running_moments", "")),
        alerts=_score(last.get("running_alerts")),
        authenticated_by=str(record.get("authenticated_by") or ""),
        transcript_csv=files.transcript_csv,
        summary_json=files.summary_json,
        session_json=files.session_json,
        recording_wav=files.recording_wav,
    )
