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
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audiohook_server.calls.atomic_files import FILE_MODE
from audiohook_server.calls.journal import JOURNAL_SUFFIX, read_journal
from audiohook_server.calls.transcript_csv import CSV_COLUMNS, TranscriptCsv

__all__ = ["Recovered", "recover_journal", "recover_journals"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    csv: Path
    rows: int
    kept_existing: bool  # the CSV was already complete: only the journal was removed


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
        rows = read_journal(journal, held.readlines())
        csv_path = journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX) + ".csv")
        existing = _csv_rows(csv_path)
        kept = existing is not None and existing >= len(rows)
        if not kept:
            target = csv_path if existing is not None else csv_path.with_suffix(".recovered.csv")
            csv = TranscriptCsv(target, mode=mode)
            for row in rows:
                csv.add({c: row.get(c, "") for c in CSV_COLUMNS})
            csv.write()
            csv_path = target
        journal.unlink()  # still locked: nobody can find it unlocked
    return Recovered(csv_path, len(rows), kept)


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
        recovered.append(result)
    return recovered
