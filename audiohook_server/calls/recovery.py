"""Recovery at start: the CSVs of sessions a previous process did not finish (killed, power loss).

A journal still present when the server starts belongs to a session that no process finished, unless
a live process holds its lock: replicas share one recordings volume, so another replica's live
sessions and sessions finishing *while this recovery runs* are in the same directory. The rules, so
that recovery can never destroy what another process wrote:

- a journal is opened without `O_CREAT`: one that vanished since the listing (its session finished
  and removed it) is skipped, never recreated;
- it is recovered only under its exclusive lock, and only if the path still names the very file that
  was locked (the same inode), so a journal removed or replaced in between is left alone;
- a CSV that already holds at least as many rows as the journal is complete (the session wrote it and
  died before removing its journal): it is kept, and only the journal goes;
- a CSV that cannot be read is never replaced: the recovered rows go to `<stem>.recovered.csv`;
- otherwise the CSV is written atomically from the journal, then the journal is removed while still
  locked.

A recovered session is a finished call too: before its journal goes, its `session.json` gains its end
(`end_reason` "recovered", `ended_at` the last time its journal or recording was written, the audio
length from its WAV), unless the session had already written it (it died after that: its own end is
kept), and `calls.csv` gets its row, unless calls.csv already has a row for its CSV (it died after
appending, or this recovery was cut short before removing the journal): a session gets one row,
however often recovery runs; its QA report (`<stem>.report.html`) is written from what was recovered.
A live-capture session that the server resumes (`live/<id>/state.json`)
is not finished: it gets its row when it ends. Journals written before the per-utterance CSV's
`running_` columns are read with their values moved there (`transcript_csv.upgrade_row`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from audiohook_server.calls.atomic_files import FILE_MODE, write_json_atomically
from audiohook_server.calls.call_record import CallFiles, call_row, calls_csv, ended_fields
from audiohook_server.calls.journal import JOURNAL_SUFFIX, read_journal
from audiohook_server.calls.transcript_csv import CSV_COLUMNS, TranscriptCsv, upgrade_row
from audiohook_server.ui.report import write_report

__all__ = ["Recovered", "recover_journal", "recover_journals"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    csv: Path
    rows: int
    kept_existing: bool  # the CSV was already complete: only the journal was removed
    logged: Path | None = None  # the calls.csv the call's row went to (None: it had one, or it resumes)


def _csv_rows(path: Path) -> int | None:
    """Rows of an existing CSV: 0 when there is none, None when it cannot be read."""
    if not path.exists():
        return 0
    try:
        return len(pd.read_csv(path, keep_default_na=False, dtype=str))
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def recover_journal(journal: Path, mode: int = FILE_MODE) -> Recovered | None:
    """Recover one journal if it is abandoned; None when it is not ours to touch (live, gone, replaced)."""
    try:
        fd = os.open(journal, os.O_RDWR)  # never O_CREAT: a journal that is gone stays gone
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as held:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live session of another server process
        try:
            now = os.stat(journal)
        except FileNotFoundError:
            return None  # its session finished and removed it while we waited
        mine = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
            return None  # the name now belongs to another file
        rows = [upgrade_row(row) for row in read_journal(journal, held.readlines())]
        session_csv = csv_path = journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX) + ".csv")
        existing = _csv_rows(csv_path)
        kept = existing is not None and existing >= len(rows)
        if not kept:
            target = csv_path if existing is not None else csv_path.with_suffix(".recovered.csv")
            csv = TranscriptCsv(target, mode=mode)
            for row in rows:
                csv.add({c: row.get(c, "") for c in CSV_COLUMNS})
            csv.write()
            csv_path = target
        logged = None
        if not _resumes(session_csv):
            logged = _log_call(session_csv, csv_path, rows, os.fstat(fd).st_mtime, mode)
            write_report(csv_path, mode, stem=session_csv)
        journal.unlink()  # still locked: nobody can find it unlocked
    return Recovered(csv_path, len(rows), kept, logged)


def _resumes(session_csv: Path) -> bool:
    """A live-capture session the server resumes at start (its state is kept under live/<id>/)."""
    return (session_csv.parent / "live" / session_csv.stem / "state.json").is_file()


def _audio_s(wav: Path) -> float | None:
    with contextlib.suppress(OSError, wave.Error, EOFError), wave.open(str(wav)) as audio:
        frames: int = audio.getnframes()
        rate: int = audio.getframerate()
        return frames / rate
    return None


def _log_call(
    session_csv: Path, transcript: Path, rows: list[dict[str, Any]], journal_mtime: float, mode: int
) -> Path | None:
    """The recovered session's end in its session.json (unless it wrote it) and its calls.csv row (once)."""
    record_path = session_csv.with_suffix(".session.json")
    metadata: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(record_path.read_text(encoding="utf-8"))
        metadata = loaded if isinstance(loaded, dict) else {}
    if not metadata.get("ended_at"):
        wav = session_csv.with_suffix(".wav")
        last_write = max([journal_mtime, *([wav.stat().st_mtime] if wav.exists() else [])])
        audio = _audio_s(wav) if wav.exists() else None
        metadata.update(ended_fields(metadata, last_write, "recovered", audio))
        if record_path.exists():
            write_json_atomically(record_path, metadata, mode)
    row = call_row(metadata, rows, CallFiles.beside(transcript, stem=session_csv))
    return calls_csv(session_csv.parent, mode).append(row.as_dict(), unless_present="transcript_csv")


def recover_journals(directory: Path, mode: int = FILE_MODE) -> list[Recovered]:
    """Recover every abandoned journal in `directory`; what was recovered."""
    recovered: list[Recovered] = []
    if not directory.is_dir():
        return recovered
    for journal in sorted(directory.glob("*" + JOURNAL_SUFFIX)):
        try:
            result = recover_journal(journal, mode)
        except OSError:
            log.exception("could not recover %s; it is left in place", journal)
            continue
        if result is None:
            continue
        if result.kept_existing:
            log.warning("%s was already complete (%d rows): removed its leftover journal", result.csv.name, result.rows)
        else:
            log.warning("recovered %s: %d final transcripts from an unfinished session", result.csv.name, result.rows)
        if result.logged is not None:
            log.warning("%s: added the row of the recovered session %s", result.logged.name, result.csv.name)
        recovered.append(result)
    return recovered
