"""Recovery at start: the CSVs of sessions a previous process did not finish (killed, power loss).

A journal still present when the server starts belongs to a session no process finished, unless
another live process holds its lock (replicas sharing one recordings volume): `recover_journals`
turns each unlocked journal into that session's CSV.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from audiohook_server.calls.journal import JOURNAL_SUFFIX, read_journal
from audiohook_server.calls.transcript_csv import CSV_COLUMNS, TranscriptCsv

__all__ = ["recover_journals"]

log = logging.getLogger(__name__)


def recover_journals(directory: Path) -> list[Path]:
    """Turn every journal left behind by an unfinished session into its CSV; return the CSVs written."""
    recovered: list[Path] = []
    if not directory.is_dir():
        return recovered
    for journal in sorted(directory.glob("*" + JOURNAL_SUFFIX)):
        csv_path = journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX) + ".csv")
        try:
            with journal.open("a") as held:
                try:
                    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live session of another server process
                rows = read_journal(journal)
                csv = TranscriptCsv(csv_path)
                for row in rows:
                    csv.add({c: row.get(c, "") for c in CSV_COLUMNS})
                csv.write()
                journal.unlink()
        except OSError:
            log.exception("could not recover %s; it is left in place", journal)
            continue
        log.warning("recovered %s: %d final transcripts from an unfinished session", csv_path.name, len(rows))
        recovered.append(csv_path)
    return recovered
