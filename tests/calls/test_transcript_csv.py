"""The per-call CSV: every row, any text, rewritten atomically, readable by others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from audiohook_server.calls.transcript_csv import CSV_COLUMNS, TranscriptCsv


def _row(text: str) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(CSV_COLUMNS, "")
    row.update(session_id="s", start=1.0, end=2.0, text=text)
    return row


def test_csv_holds_every_row_and_is_readable_by_its_group_only(tmp_path: Path) -> None:
    csv = TranscriptCsv(tmp_path / "s.csv")
    csv.write()
    assert list(pd.read_csv(csv.path).columns) == list(CSV_COLUMNS)
    for text in ['hello, "quoted" world', "second\nline", "ünïcode"]:
        csv.add(_row(text))
        csv.write()
    frame = pd.read_csv(csv.path, keep_default_na=False)
    assert list(frame["text"]) == ['hello, "quoted" world', "second\nline", "ünïcode"]
    mode = stat.S_IMODE(os.stat(csv.path).st_mode)
    assert mode == 0o640  # the owner and its group (QA tools, shipping), not everyone on the machine
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]  # no temporary files left


def test_csv_rows_need_every_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        TranscriptCsv(tmp_path / "s.csv").add({"text": "x"})


def test_csv_cells_are_never_formulas_and_always_encode(tmp_path: Path) -> None:
    csv = TranscriptCsv(tmp_path / "s.csv")
    hostile = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "lone \ud800 surrogate"]
    for text in hostile:
        row = _row(text)
        row["session_id"] = text
        csv.add(row)
    csv.write()
    frame = pd.read_csv(csv.path, keep_default_na=False)
    assert list(frame["text"])[:6] == ["'" + text for text in hostile[:6]]
    assert frame["session_id"].iloc[0] == '\'=HYPERLINK("http://evil","x")'
    assert list(frame["text"])[6] == "lone \ufffd surrogate"
    assert list(frame["start"]) == [1.0] * 7  # numbers are left as numbers
