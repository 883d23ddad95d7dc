"""Recovery at start never destroys what another process wrote (replicas share one recordings volume).

The race the adversarial probe found: replica A lists the journals, replica B finishes a session (its
CSV complete, its journal removed), then A opens the journal it listed: in append mode that created it
again, empty, and A wrote an empty CSV over B's finished one. Here real processes race: one finishes
sessions with the production `SessionFiles` as fast as it can while this one runs `recover_journals`
in a loop over the same directory, hundreds of times.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audiohook_server.calls.call_record import CALL_COLUMNS
from audiohook_server.calls.journal import JOURNAL_SUFFIX, SessionJournal, journal_path
from audiohook_server.calls.recovery import recover_journal, recover_journals
from audiohook_server.calls.session_files import SessionFiles
from audiohook_server.calls.transcript_csv import CSV_COLUMNS, CSV_HEADER, TranscriptCsv, TranscriptRow

ROWS = 3


def _row(session: str, n: int) -> TranscriptRow:
    return TranscriptRow(
        session, float(n), n + 0.5, "mono", "unknown", f"{session} row {n}", 0.9, "neutral", "neutral", ""
    )


def _finish_sessions(directory: str, count: int, started: object) -> None:
    """Another replica: sessions opened, given their rows, finished (CSV written, journal removed)."""
    started.set()  # type: ignore[attr-defined]
    for i in range(count):
        files = SessionFiles(Path(directory), f"b-{i}", 8000, 1, {"session_id": f"b-{i}"}, record_audio=False)
        files.open()
        for n in range(ROWS):
            files.add_final(_row(f"b-{i}", n))
        files.close(None)


def test_recovery_races_with_sessions_finishing_in_another_process(tmp_path: Path) -> None:
    count = 300
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    other = context.Process(target=_finish_sessions, args=(str(tmp_path), count, started))
    other.start()
    started.wait(30)
    rounds = 0
    while other.is_alive():
        recover_journals(tmp_path)
        rounds += 1
    other.join()
    assert other.exitcode == 0
    for i in range(count):
        frame = pd.read_csv(tmp_path / f"b-{i}.csv", keep_default_na=False)
        assert len(frame) == ROWS, f"b-{i}.csv has {len(frame)} rows after {rounds} recovery rounds"
    assert not list(tmp_path.glob("*" + JOURNAL_SUFFIX)) and not list(tmp_path.glob(".*"))
    assert rounds > 10  # the race was run
    calls = pd.read_csv(tmp_path / "calls.csv", keep_default_na=False)
    assert sorted(calls["session_id"]) == sorted(f"b-{i}" for i in range(count))  # each once, none recovered
    assert set(calls["end_reason"]) == {"completed"}


def test_a_journal_gone_since_the_listing_is_never_recreated(tmp_path: Path) -> None:
    journal = tmp_path / "gone.journal.jsonl"
    assert recover_journal(journal) is None
    assert not journal.exists() and not (tmp_path / "gone.csv").exists()


def test_a_live_journal_is_locked_from_before_it_has_its_name(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path / "live.journal.jsonl")
    journal.append({"text": "hello"})
    assert recover_journal(journal.path) is None  # locked: another process's live session
    assert journal.path.exists()
    journal.close(remove=True)
    assert not journal.path.exists() and not list(tmp_path.iterdir())


def test_a_complete_csv_is_never_replaced_by_fewer_rows(tmp_path: Path) -> None:
    csv = TranscriptCsv(tmp_path / "done.csv")
    for n in range(ROWS):
        csv.add(_row("done", n))
    csv.write()
    # The session died after writing its CSV and before removing its journal, which has fewer lines.
    (tmp_path / "done.journal.jsonl").write_text('{"text": "only one"}\n')
    [result] = recover_journals(tmp_path)
    assert result.kept_existing
    assert len(pd.read_csv(tmp_path / "done.csv")) == ROWS
    assert not (tmp_path / "done.journal.jsonl").exists()


def test_an_unreadable_csv_is_kept_and_the_rows_go_beside_it(tmp_path: Path) -> None:
    (tmp_path / "odd.csv").write_bytes(b'"unterminated\n\x00\xff')
    (tmp_path / "odd.journal.jsonl").write_text('{"text": "kept"}\n')
    [result] = recover_journals(tmp_path)
    assert result.csv.name == "odd.recovered.csv"
    assert (tmp_path / "odd.csv").read_bytes() == b'"unterminated\n\x00\xff'
    assert list(pd.read_csv(result.csv, keep_default_na=False)["text"]) == ["kept"]


def test_an_abandoned_journal_becomes_its_csv(tmp_path: Path) -> None:
    (tmp_path / "dead.csv").write_text(CSV_HEADER)
    journal = journal_path(tmp_path / "dead.csv")
    with journal.open("w") as f:
        for n in range(ROWS):
            f.write(json.dumps(_row("dead", n).as_dict()) + "\n")
        f.write('{"torn": ')  # the process died mid-write
    [result] = recover_journals(tmp_path)
    frame = pd.read_csv(result.csv, keep_default_na=False)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == ROWS
    assert os.stat(result.csv).st_mode & 0o777 == 0o640
    assert time.time() - os.stat(result.csv).st_mtime < 60


# ---- the calls.csv row of a recovered session ------------------------------------------------------------


def _died_mid_call(directory: Path, session: str, rows: int = ROWS, record_audio: bool = True) -> SessionFiles:
    """A session as a killed server leaves it: opened, its finals journaled, never closed."""
    metadata = {"session_id": session, "dialect": "simple", "started_at": "2024-05-01T10:00:00.000+00:00"}
    files = SessionFiles(directory, session, 8000, 1, metadata, record_audio=record_audio)
    files.open()
    files.record(np.zeros((8000 * 3, 1), dtype=np.int16))
    for n in range(rows):
        files.add_final(_row(session, n))
    assert files.journal is not None and files.recording is not None
    files.journal._file.close()  # the process is gone: its lock with it
    files.recording.close()
    return files


def _calls(directory: Path) -> pd.DataFrame:
    return pd.read_csv(directory / "calls.csv", keep_default_na=False)


def test_a_recovered_session_gets_its_row_once(tmp_path: Path) -> None:
    _died_mid_call(tmp_path, "dead")
    journal = (tmp_path / "dead.journal.jsonl").read_bytes()
    [result] = recover_journals(tmp_path)
    assert result.logged == tmp_path / "calls.csv"
    calls = _calls(tmp_path)
    assert list(calls.columns) == list(CALL_COLUMNS) and len(calls) == 1
    row = calls.iloc[0]
    assert (row["session_id"], row["door"], row["end_reason"], row["utterances"]) == ("dead", "simple", "recovered", 3)
    assert (row["transcript_csv"], row["session_json"], row["recording_wav"]) == (
        "dead.csv",
        "dead.session.json",
        "dead.wav",
    )
    assert float(row["audio_s"]) == 3.0
    session = json.loads((tmp_path / "dead.session.json").read_text())
    assert session["end_reason"] == "recovered" and session["ended_at"].endswith("Z") and session["audio_s"] == 3.0
    assert session["duration_s"] > 0
    # The next start finds the journal again (this recovery was killed before removing it): no second row.
    (tmp_path / "dead.journal.jsonl").write_bytes(journal)
    [again] = recover_journals(tmp_path)
    assert again.kept_existing and again.logged is None
    assert len(_calls(tmp_path)) == 1
    assert recover_journals(tmp_path) == [] and len(_calls(tmp_path)) == 1


def test_a_session_that_died_after_writing_its_end_keeps_its_end_reason(tmp_path: Path) -> None:
    files = _died_mid_call(tmp_path, "late")
    record = json.loads((tmp_path / "late.session.json").read_text())
    record.update(ended_at="2024-05-01T10:05:00.000Z", duration_s=300.0, end_reason="drained", audio_s=3.0)
    (tmp_path / "late.session.json").write_text(json.dumps(record))
    assert files.csv is not None
    files.csv.write()  # the CSV was complete too
    [result] = recover_journals(tmp_path)
    assert result.kept_existing and result.logged is not None
    row = _calls(tmp_path).iloc[0]
    assert (row["end_reason"], row["ended_at"], float(row["duration_s"])) == (
        "drained",
        "2024-05-01T10:05:00.000Z",
        300.0,
    )


def test_a_live_capture_session_that_resumes_gets_no_row_yet(tmp_path: Path) -> None:
    _died_mid_call(tmp_path, "live_abc")
    (tmp_path / "live" / "live_abc").mkdir(parents=True)
    (tmp_path / "live" / "live_abc" / "state.json").write_text("{}")
    [result] = recover_journals(tmp_path)
    assert result.logged is None and not (tmp_path / "calls.csv").exists()


def test_an_old_journal_is_read_with_its_running_values(tmp_path: Path) -> None:
    # Written before the `running_` rename: the call-level values under the analysis names.
    old = {**_row("old", 0).as_dict(), "sentiment": "negative", "agent_score": 2, "summary": "it broke"}
    for key in ("running_sentiment", "running_agent_score", "running_summary"):
        old.pop(key)
    (tmp_path / "old.journal.jsonl").write_text(json.dumps(old) + "\n")
    [result] = recover_journals(tmp_path)
    frame = pd.read_csv(result.csv, keep_default_na=False)
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert (frame["running_sentiment"][0], frame["running_agent_score"][0]) == ("negative", 2)
    row = _calls(tmp_path).iloc[0]
    assert (row["sentiment"], row["agent_score"], row["summary"]) == ("negative", 2, "it broke")
    assert row["session_json"] == "" and row["end_reason"] == "recovered"
