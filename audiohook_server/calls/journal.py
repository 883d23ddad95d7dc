"""The per-call journal: every final's CSV row, fsynced the moment it exists, before the client sees it.

Nothing a caller said may be lost if the server dies mid-call: `<stem>.journal.jsonl` is append-only
JSON lines, one per final (O(1) per utterance), and is removed only once the CSV holding every row is
safely written. The file is held under an exclusive `flock` while the session lives, so that recovery
in another server process sharing the directory never mistakes a live session for a dead one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL_SUFFIX", "SessionJournal", "journal_path", "read_journal"]

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".journal.jsonl"


def journal_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name.removesuffix(".csv") + JOURNAL_SUFFIX)


class SessionJournal:
    """Append-only JSON lines, one per final transcript row, each fsynced before `append` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def append(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, remove: bool) -> None:
        """Close; `remove` once the CSV holding every row is safely written."""
        self._file.close()
        if remove:
            self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The rows of a journal; a torn last line (the process died mid-write) is skipped."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: line %d is incomplete, skipped", path, number)
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows
