"""The per-call CSV a QA team reads: its columns, one row per final utterance, written atomically.

`TranscriptRow` is the one place the columns are defined (the CSV header, the journal's lines and
recovery all derive from it). The utterance's own values (`text`, `utterance_sentiment`, …) come
first; the call's analysis as it stood at that row follows under `running_` names
(`running_sentiment`, `running_agent_score`, …): running values, whose last row is the call's final
analysis (also in `calls.csv`, one row per call). Journals written before the rename (call-level
columns without the prefix) are read with `upgrade_row`.

The file holds its header from the session's first moment and all rows once the session ends;
`TranscriptCsv.write` replaces it whole (pandas writes the quoting). Every text cell goes through
`safe_text.csv_cell` as it is written: a cell that a spreadsheet would run as a formula (`=`, `+`,
`-`, `@`, tab, carriage return first) starts with an apostrophe instead, so a session id or a
transcript can never put `=HYPERLINK(...)` into a QA reader's spreadsheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from audiohook_server.calls.atomic_files import FILE_MODE, replace_atomically
from audiohook_server.safe_text import csv_cell

__all__ = [
    "CSV_COLUMNS",
    "CSV_HEADER",
    "RUNNING_COLUMNS",
    "TranscriptCsv",
    "TranscriptRow",
    "live_columns",
    "upgrade_row",
]


@dataclass(frozen=True)
class TranscriptRow:
    """One final utterance as the CSV shows it, with the call's analysis as it stood at that row."""

    session_id: str
    start: float  # seconds from the start of the session's audio
    end: float
    channel: str  # the channel's name (mono; external/internal)
    speaker: str  # customer, agent or unknown (a diarized mono call: the role of its speaker_id)
    text: str
    confidence: float
    utterance_sentiment: str
    utterance_emotion: str
    utterance_categories: str
    language: str = ""  # what it was transcribed as (en, de, …)
    translation: str = ""  # not English: the English the analysis read ("" for English)
    # Diarized (mono calls): the voice's label (speaker_1, …) and how sure `speaker`'s role is; "" where
    # the channel says who speaks. After the call, the whole call's labels (calls.speakers).
    speaker_id: str = ""
    role_confidence: float | str = ""
    # The utterance's sentiment as a number, -1 (negative) .. 1 (positive): the valence the supervisor
    # pages and the QA report plot ("" in journals written before it existed).
    utterance_sentiment_score: float | str = ""
    # The live analytics of the utterance (analysis.live): valence and arousal in -1..1 (PAD), and the
    # moments it is (objection; cta_commit; ...) ("" in journals written before they existed).
    utterance_valence: float | str = ""
    utterance_arousal: float | str = ""
    utterance_moments: str = ""
    # The call as of this row (running values; the last row's are the final analysis): empty until 5
    # words of final text exist.
    running_sentiment: str = ""
    running_emotion: str = ""
    running_agent_score: int | str = ""
    running_summary: str = ""
    running_process_issues: str = ""
    running_repeated_problems: str = ""
    running_marketing_mentions: str = ""
    running_outcome: str = ""  # the customer's decision so far: retention_saved, sale_closed ... ("" for none)
    # The conversation so far (analysis.dynamics, analysis.transitions): the customer's state (calm,
    # pleased, frustrated, angry, anxious, sad), seconds of overtalk, the longest silence, dead air and
    # hold, the moments by category (`objection:1; cta_commit:2`) and how many alerts were raised.
    running_customer_state: str = ""
    running_overtalk_s: float | str = ""
    running_longest_silence_s: float | str = ""
    running_dead_air_s: float | str = ""
    running_hold_s: float | str = ""
    running_moments: str = ""
    running_alerts: int | str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TranscriptRow))
RUNNING_PREFIX = "running_"
# analysis key (the protocol's `analysis` block) -> its running column
RUNNING_COLUMNS: dict[str, str] = {
    column.removeprefix(RUNNING_PREFIX): column for column in CSV_COLUMNS if column.startswith(RUNNING_PREFIX)
}


def _seconds(value: object) -> float | str:
    return round(float(value), 3) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def live_columns(live: Mapping[str, Any]) -> dict[str, Any]:
    """The running columns of the live analytics (``CallAnalysis.live``): customer state, overtalk,
    longest silence, dead air, hold, moments by category, alerts."""
    dynamics = live.get("dynamics")
    dynamics = dynamics if isinstance(dynamics, Mapping) else {}
    moments = live.get("moments")
    counts: dict[str, int] = {}
    for moment in moments if isinstance(moments, list) else []:
        if isinstance(moment, Mapping):
            category = str(moment.get("category", ""))
            counts[category] = counts.get(category, 0) + 1
    alerts = live.get("alerts")
    state = live.get("customer_state")
    return {
        "running_customer_state": state if isinstance(state, str) else "",
        "running_overtalk_s": _seconds(dynamics.get("overtalk_s")),
        "running_longest_silence_s": _seconds(dynamics.get("longest_silence_s")),
        "running_dead_air_s": _seconds(dynamics.get("dead_air_s")),
        "running_hold_s": _seconds(dynamics.get("hold_s")),
        "running_moments": "; ".join(f"{category}:{n}" for category, n in counts.items()),
        "running_alerts": len(alerts) if isinstance(alerts, list) else "",
    }


def upgrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row of any version with the current column names: the call-level values of rows written
    before the `running_` rename (`sentiment`, `agent_score`, …) move to their `running_` columns."""
    upgraded = dict(row)
    for old, new in RUNNING_COLUMNS.items():
        if new not in upgraded and old in upgraded:
            upgraded[new] = upgraded.pop(old)
    return upgraded


# RFC 4180's line ending: a cell holding a newline or a carriage return is then always quoted.
LINE_END = "\r\n"
CSV_HEADER = ",".join(CSV_COLUMNS) + LINE_END


@dataclass
class TranscriptCsv:
    """The rows of one session's CSV; `write()` replaces the file with all rows so far."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    mode: int = FILE_MODE

    def add(self, row: TranscriptRow | dict[str, Any]) -> None:
        values = row.as_dict() if isinstance(row, TranscriptRow) else row
        missing = set(CSV_COLUMNS) - values.keys()
        if missing:
            raise ValueError(f"CSV row lacks columns {sorted(missing)}")
        self.rows.append({c: values[c] for c in CSV_COLUMNS})

    def write(self) -> None:
        cells = [{column: csv_cell(value) for column, value in row.items()} for row in self.rows]
        frame = pd.DataFrame(cells, columns=list(CSV_COLUMNS))
        replace_atomically(self.path, lambda f: frame.to_csv(f, index=False, lineterminator=LINE_END), self.mode)
