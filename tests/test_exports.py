"""Exports: CSV rewritten atomically, recordings valid at every moment, safe and unique file names."""

from __future__ import annotations

import os
import stat
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audiohook_server.exports import CSV_COLUMNS, RecordingWriter, TranscriptCsv, reserve_session_files


def _row(text: str) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(CSV_COLUMNS, "")
    row.update(session_id="s", start=1.0, end=2.0, text=text)
    return row


def test_csv_holds_every_row_and_is_readable_by_others(tmp_path: Path) -> None:
    csv = TranscriptCsv(tmp_path / "s.csv")
    csv.write()
    assert list(pd.read_csv(csv.path).columns) == list(CSV_COLUMNS)
    for text in ['hello, "quoted" world', "second\nline", "ünïcode"]:
        csv.add(_row(text))
        csv.write()
    frame = pd.read_csv(csv.path, keep_default_na=False)
    assert list(frame["text"]) == ['hello, "quoted" world', "second\nline", "ünïcode"]
    mode = stat.S_IMODE(os.stat(csv.path).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]  # no temporary files left


def test_csv_rows_need_every_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        TranscriptCsv(tmp_path / "s.csv").add({"text": "x"})


def test_recording_is_a_valid_wav_after_every_write(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "r.wav", 8000, 2)
    chunk = np.arange(1600, dtype=np.int16).reshape(800, 2)
    for n in range(1, 4):
        writer.write(chunk)
        # Read it while it is still open, as after a crash: the header already counts every frame.
        with wave.open(str(tmp_path / "r.wav")) as w:
            assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 800 * n)
    writer.close()
    with wave.open(str(tmp_path / "r.wav")) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(data, np.concatenate([chunk] * 3))


def test_file_names_are_safe_and_unique(tmp_path: Path) -> None:
    csv, wav = reserve_session_files("../../etc/passwd", tmp_path)
    assert csv.parent == tmp_path and csv.name == "_.._etc_passwd.csv" and wav.name == "_.._etc_passwd.wav"
    assert reserve_session_files("", tmp_path)[0].name == "session.csv"
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda _: reserve_session_files("same-id", tmp_path)[0].name, range(8)))
    assert len(set(names)) == 8
    assert "same-id.csv" in names and "same-id-8.csv" in names


def test_a_reserved_csv_is_never_empty(tmp_path: Path) -> None:
    csv, _ = reserve_session_files("s", tmp_path)
    assert list(pd.read_csv(csv).columns) == list(CSV_COLUMNS)  # readable at once, header only
