"""The per-call journal: every final's CSV row, fsynced the moment it exists, before the client sees it.

Nothing a caller said may be lost if the server dies mid-call: `<stem>.journal.jsonl` is append-only
JSON lines, one per final (O(1) per utterance), and is removed only once the CSV holding every row is
safely written. The file is held under an exclusive `flock` from before it has its name until after it has lost it:
it is created under a temporary name, locked, then linked into place, and at the end it is unlinked
while still locked. So recovery in another server process sharing the directory (replicas on one
volume) can never take a live session's journal for a dead one's, nor find one that is not locked.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audiohook_server.safe_text import safe_json_value

__all__ = ["JOURNAL_SUFFIX", "SessionJournal", "journal_path", "read_journal"]

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".journal.jsonl"


def journal_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name.removesuffix(".csv") + JOURNAL_SUFFIX)


class SessionJournal:
    """Append-only JSON lines, one per final transcript row, each fsynced before `append` returns."""

    def __init__(self, path: Path, mode: int = 0o640) -> None:
        self.path = path
        staging = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.creating")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, mode)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
            os.link(staging, path)  # only now does the journal have its name, already locked
        except BaseException:
            os.close(fd)
            raise
        finally:
            staging.unlink(missing_ok=True)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def append(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(safe_json_value(row), ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, remove: bool) -> None:
        """Close; `remove` once the CSV holding every row is safely written (unlinked while still locked,
        so that no other process can find it unlocked)."""
        if remove:
            self.path.unlink(missing_ok=True)
        self._file.close()


def read_journal(path: Path, lines: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The rows of a journal (or of `lines` read from it); a torn last line (the process died mid-write)
    is skipped."""
    if lines is None:
        with path.open(encoding="utf-8", errors="replace") as f:
            return read_journal(path, f.readlines())
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s: line %d is incomplete, skipped", path, number)
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
