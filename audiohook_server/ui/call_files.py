"""A finished call, read back from its files for its page and its report.

The files are what a finished call is (the process that took it may be gone): `<stem>.csv` (the
transcript rows, redacted as the policy says), `<stem>.summary.json` (the final analysis: the score's
components, the summary) and `<stem>.session.json` (door, ids, start, end). `find_call_csv` resolves
the name a page asks for to a transcript inside the recordings directory and nowhere else: a file stem
as the directory has it, else the newest call of that session id in `calls.csv`.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from audiohook_server.calls.atomic_files import safe_stem
from audiohook_server.calls.call_record import DOORS
from audiohook_server.calls.transcript_csv import upgrade_row
from audiohook_server.ui.call_view import CallModel, analysis_view, row_utterance

__all__ = ["find_call_csv", "read_call"]

log = logging.getLogger(__name__)

# calls.csv and its later versions (calls.v2.csv, …), not a session named calls_… (atomic_files)
CALL_LOG_GLOBS = ("calls.csv", "calls.v*.csv")
ANALYSIS_KEYS = ("summary", "sentiment", "emotion", "agent_score", "process_issues", "repeated_problems",
                 "marketing_mentions")  # fmt: skip


def _inside(directory: Path, name: str) -> Path | None:
    """`directory/name` when `name` is a plain file name there (no path, no traversal), else None."""
    if not name or name != Path(name).name or name.startswith("."):
        return None
    path = directory / name
    return path if path.is_file() else None


def find_call_csv(directory: Path, key: str) -> Path | None:
    """The transcript CSV of the finished call `key` names (a file stem or a session id), or None."""
    if key and safe_stem(key) == key and not key.startswith("calls"):
        direct = _inside(directory, f"{key}.csv")
        if direct is not None:
            return direct
    newest: tuple[str, str] | None = None
    for log_path in sorted(path for pattern in CALL_LOG_GLOBS for path in directory.glob(pattern)):
        try:
            with log_path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row.get("session_id") == key and row.get("transcript_csv"):
                        ended = row.get("ended_at") or ""
                        if newest is None or ended >= newest[0]:
                            newest = (ended, row["transcript_csv"])
        except (OSError, csv.Error, UnicodeDecodeError):
            log.warning("cannot read the call log %s", log_path.name)
    return _inside(directory, newest[1]) if newest is not None else None


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [upgrade_row(dict(row)) for row in csv.DictReader(handle)]


def read_call(csv_path: Path, stem: Path | None = None) -> CallModel:
    """The call whose transcript is `csv_path` (its other files named from `stem`, by default the CSV's),
    as its pages show it; OSError when the transcript cannot be read."""
    base = stem or csv_path
    record = _json(base.with_suffix(".session.json"))
    summary = _json(base.with_suffix(".summary.json"))
    rows = _rows(csv_path)
    model = CallModel(
        session_id=str(record.get("session_id") or (rows[0].get("session_id") if rows else "") or csv_path.stem),
        conversation_id=str(record.get("conversation_id") or ""),
        door=DOORS.get(str(record.get("dialect", "")), str(record.get("dialect") or "")),
        started_at=str(record.get("started_at") or ""),
        live=False,
        end_reason=str(record.get("end_reason") or ""),
        has_recording=base.with_suffix(".wav").is_file(),
    )
    for index, row in enumerate(rows):
        if not row.get("channel") and not row.get("speaker"):
            continue  # a secure pause's row: no utterance
        model.add_final(row_utterance(f"r{index}", row), row)
    duration = record.get("duration_s")
    if isinstance(duration, int | float):
        model.duration_s = max(model.duration_s, float(duration))
    event = summary.get("analysis")
    if isinstance(event, dict):
        score = summary.get("agent_score")
        components = score.get("components", {}) if isinstance(score, dict) else {}
        model.set_analysis(
            analysis_view({k: event.get(k) for k in ANALYSIS_KEYS}, components, str(summary.get("outcome") or ""))
        )
    elif rows and rows[-1].get("running_summary"):  # no summary file: the last row's running values
        last = rows[-1]
        model.set_analysis(analysis_view({k: last.get(f"running_{k}") for k in ANALYSIS_KEYS}, {},
                                         str(last.get("running_outcome") or "")))  # fmt: skip
    return model
