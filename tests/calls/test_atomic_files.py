"""Session file names from client ids: safe, unique under races, and the CSV never empty."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from audiohook_server.calls.atomic_files import reserve_session_files
from audiohook_server.calls.transcript_csv import CSV_COLUMNS, CSV_HEADER


def test_file_names_are_safe_and_unique(tmp_path: Path) -> None:
    csv, wav = reserve_session_files("../../etc/passwd", tmp_path, CSV_HEADER)
    assert csv.parent == tmp_path and csv.name == "_.._etc_passwd.csv" and wav.name == "_.._etc_passwd.wav"
    assert reserve_session_files("", tmp_path, CSV_HEADER)[0].name == "session.csv"
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda _: reserve_session_files("same-id", tmp_path, CSV_HEADER)[0].name, range(8)))
    assert len(set(names)) == 8
    assert "same-id.csv" in names and "same-id-8.csv" in names


def test_a_reserved_csv_is_never_empty(tmp_path: Path) -> None:
    csv, _ = reserve_session_files("s", tmp_path, CSV_HEADER)
    assert list(pd.read_csv(csv).columns) == list(CSV_COLUMNS)  # readable at once, header only
