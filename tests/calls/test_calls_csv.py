"""calls.csv's appender: one header, whole rows under concurrent appends from threads and from processes,
hostile cells kept inside their row, another version's file left alone, a torn last row contained."""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from audiohook_server.calls.calls_csv import CallsCsv

COLUMNS = ("session_id", "worker", "n", "payload")


def _log(directory: Path, version: int = 1, mode: int = 0o640) -> CallsCsv:
    return CallsCsv(directory, COLUMNS, version, mode)


def _records(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _payload(worker: int, n: int) -> str:
    """A big cell (several pages, so a torn or interleaved write would show) that names its own row, with
    the characters that break naive CSV: newlines, quotes, commas."""
    line = f'w{worker}n{n},"quoted",\r\nline'
    return line * 400


def _append_many(directory: str, worker: int, count: int) -> None:
    log = _log(Path(directory))
    for n in range(count):
        log.append({"session_id": f"s-{worker}-{n}", "worker": worker, "n": n, "payload": _payload(worker, n)})


def _check_whole_rows(path: Path, expected: set[tuple[int, int]]) -> None:
    records = _records(path)
    assert records[0] == list(COLUMNS)
    assert list(COLUMNS) not in records[1:]  # one header
    seen = set()
    for session_id, worker, n, payload in records[1:]:
        assert session_id == f"s-{worker}-{n}"
        assert payload == _payload(int(worker), int(n))  # whole, and nobody else's bytes inside
        seen.add((int(worker), int(n)))
    assert seen == expected and len(records) - 1 == len(expected)


def test_header_once_then_rows(tmp_path: Path) -> None:
    log = _log(tmp_path)
    first = log.append({"session_id": "a", "n": 1})
    second = log.append({"session_id": "b", "worker": 2, "payload": "x"})
    assert first == second == tmp_path / "calls.csv"
    assert _records(first) == [list(COLUMNS), ["a", "", "1", ""], ["b", "2", "", "x"]]
    assert first.read_bytes().endswith(b"\r\n")


def test_threads_appending_at_once_never_interleave(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda w: _append_many(str(tmp_path), w, 25), range(8)))
    _check_whole_rows(tmp_path / "calls.csv", {(w, n) for w in range(8) for n in range(25)})


def test_two_processes_appending_at_once_never_interleave(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # separate interpreters, as two replicas are
    workers = [context.Process(target=_append_many, args=(str(tmp_path), w, 60)) for w in (1, 2)]
    for worker in workers:
        worker.start()
    _append_many(str(tmp_path), 0, 60)  # and this process at the same time
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    _check_whole_rows(tmp_path / "calls.csv", {(w, n) for w in range(3) for n in range(60)})


HOSTILE = [
    '=HYPERLINK("http://evil.example/","click")',
    "+1+1",
    "-2",
    "@SUM(A1:A9)",
    "a,b,c",
    'say "hi"',
    "two\nlines",
    "carriage\rreturn",
    "\r\nleading line end",
    "nul\x00byte",
    "lone \ud800 surrogate",
    "\ttab first",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_cells_stay_in_their_row_and_are_never_formulas(tmp_path: Path, value: str) -> None:
    log = _log(tmp_path)
    log.append({"session_id": value, "worker": 1, "n": 1, "payload": value})
    log.append({"session_id": "next", "worker": 2, "n": 2, "payload": "after"})
    records = _records(tmp_path / "calls.csv")
    assert len(records) == 3 and records[2] == ["next", "2", "2", "after"]
    cell = records[1][0]
    assert records[1][3] == cell and len(records[1]) == len(COLUMNS)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert "\x00" not in cell and "\ud800" not in cell
    expected = value.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    assert cell.removeprefix("'") == expected
    frame = pd.read_csv(tmp_path / "calls.csv", keep_default_na=False, dtype=str)
    assert list(frame["session_id"]) == [cell, "next"]


def test_a_file_of_another_version_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = tmp_path / "calls.csv"
    old.write_text("session_id,sentiment\r\nold-call,positive\r\n")
    before = old.read_bytes()
    with caplog.at_level(logging.WARNING):
        path = _log(tmp_path, version=3).append({"session_id": "new"})
        again = _log(tmp_path, version=3).append({"session_id": "newer"})
    assert old.read_bytes() == before
    assert path == again == tmp_path / "calls.v3.csv"
    assert [r[0] for r in _records(path)] == ["session_id", "new", "newer"]
    assert sum("another version" in r.getMessage() for r in caplog.records) == 1  # said once
    # A file of this version's name with other columns (edited by hand) is not written either.
    path.write_text("something,else\r\n")
    assert _log(tmp_path, version=3).append({"session_id": "x"}) == tmp_path / "calls.v3-2.csv"


def test_a_torn_last_row_does_not_swallow_the_next(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append({"session_id": "whole"})
    with (tmp_path / "calls.csv").open("ab") as f:
        f.write(b"torn,1,2,half a ro")  # a writer that died mid-write
    log.append({"session_id": "after", "n": 3})
    records = _records(tmp_path / "calls.csv")
    assert records[1][0] == "whole" and records[-1] == ["after", "", "3", ""]


def test_unless_present_appends_a_row_once(tmp_path: Path) -> None:
    log = _log(tmp_path)
    assert log.append({"session_id": "=a", "n": 1}, unless_present="session_id") is not None
    assert log.append({"session_id": "=a", "n": 2}, unless_present="session_id") is None
    assert log.append({"session_id": "b"}, unless_present="session_id") is not None
    assert [r[0] for r in _records(tmp_path / "calls.csv")] == ["session_id", "'=a", "b"]


def test_a_rotated_file_is_started_again_with_its_header(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append({"session_id": "before"})
    (tmp_path / "calls.csv").rename(tmp_path / "calls-2024-01-01.csv")
    log.append({"session_id": "after"})
    assert _records(tmp_path / "calls.csv") == [list(COLUMNS), ["after", "", "", ""]]


def test_mode_is_exact_and_columns_are_checked(tmp_path: Path) -> None:
    umask = os.umask(0o077)
    try:
        path = _log(tmp_path, mode=0o640).append({"session_id": "a"})
    finally:
        os.umask(umask)
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o640
    with pytest.raises(ValueError, match="no columns"):
        _log(tmp_path).append({"sessionid": "typo"})
    assert io.StringIO(path.read_text()).read().count("\n") == 2
