"""`calls.csv`: one row per finished call, appended by every session of every replica, never half a row.

A QA lead opens one spreadsheet for a day of calls; sessions end at the same moment in one process
(threads, the event loop) and in several replicas sharing the recordings directory. So each row is
appended with one `os.write` of the whole encoded row to a file opened `O_APPEND`, under an exclusive
`flock` of that file held across the header check and the write, then fsynced. The header is written
with the first row, in the same write, when the file is created or empty: a file never exists without
its header for longer than that write, and is never given two.

Every text cell goes through `safe_text.csv_cell` (no formula reaches a spreadsheet) and the csv module
quotes it (RFC 4180: commas, quotes, carriage returns and newlines inside a cell stay inside it); NULs,
which no spreadsheet shows and some CSV readers refuse, become U+FFFD. No client string can break a row.

Columns change between versions. A file whose header is not this version's is never written to: the
rows go to the first of `calls.v<VERSION>.csv`, `calls.v<VERSION>-2.csv`, … whose header is this
version's (or that is new), and a warning names the file once per process. Replicas of one version
therefore share one file, and a replica of an older version keeps its own.

A process killed in the middle of its write (power loss) can leave a last row without its line end:
the next append ends that row first, so only the torn row is damaged, never the next one.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from audiohook_server.calls.atomic_files import FILE_MODE
from audiohook_server.safe_text import csv_cell

__all__ = ["CALLS_CSV", "CallsCsv", "encode_row"]

log = logging.getLogger(__name__)

CALLS_CSV = "calls.csv"
LINE_END = "\r\n"
_READ_BLOCK = 1 << 16
_warned: set[Path] = set()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    cell = csv_cell(value)
    return cell.replace("\x00", "\ufffd") if isinstance(cell, str) else cell


def encode_row(values: Sequence[Any]) -> bytes:
    """One CSV record (RFC 4180, CRLF), every cell made safe, as the UTF-8 bytes one write appends."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_END).writerow([_cell(value) for value in values])
    return buffer.getvalue().encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # one write in practice; a short write (disk full) continues under the same lock
        written = os.write(fd, view)
        view = view[written:]


def _first_line(fd: int) -> bytes:
    data = b""
    while b"\n" not in data:
        block = os.pread(fd, _READ_BLOCK, len(data))
        if not block:
            break
        data += block
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _has_value(fd: int, column: str, value: str) -> bool:
    """Whether a row of the (locked) file has `value` in `column` (compared as written)."""
    chunks: list[bytes] = []
    offset = 0
    while block := os.pread(fd, _READ_BLOCK, offset):
        chunks.append(block)
        offset += len(block)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return any(row.get(column) == value for row in csv.DictReader(io.StringIO(text, newline="")))


class CallsCsv:
    """The call log of a recordings directory for one version of the columns."""

    def __init__(self, directory: Path, columns: Sequence[str], version: int, mode: int = FILE_MODE) -> None:
        self.directory = directory
        self.columns = tuple(columns)
        self.version = version
        self.mode = mode
        self._header = encode_row(self.columns)

    def candidates(self) -> Iterator[Path]:
        """The file names tried, in order: `calls.csv`, then this version's own names."""
        yield self.directory / CALLS_CSV
        yield self.directory / f"calls.v{self.version}.csv"
        n = 2
        while True:
            yield self.directory / f"calls.v{self.version}-{n}.csv"
            n += 1

    def append(self, values: Mapping[str, Any], *, unless_present: str | None = None) -> Path | None:
        """Append one row (`values` by column; missing columns are empty); the file it went to. With
        `unless_present` (a column), nothing is appended when a row already has this row's value there
        (checked under the lock: a session recovered twice gets one row): then None."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"calls.csv has no columns {sorted(unknown)}")
        row = encode_row([values.get(column, "") for column in self.columns])
        key = None
        if unless_present is not None:
            key = str(_cell(values.get(unless_present, "")))
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.candidates():
            ours, appended = self._append_to(path, row, unless_present, key)
            if ours:
                return appended
        raise AssertionError("unreachable: the candidates never end")

    def _append_to(self, path: Path, row: bytes, column: str | None, key: str | None) -> tuple[bool, Path | None]:
        """Append to `path`: (False, None) when its header is another version's, else (True, the path), or
        (True, None) when the row was already there."""
        while True:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not _same_file(fd, path):
                    continue  # renamed or removed (rotated) while we waited: open the name again
                size = os.fstat(fd).st_size
                if size == 0:
                    os.fchmod(fd, self.mode)  # exactly the mode, whatever the umask
                    data = self._header + row
                else:
                    if _first_line(fd) != self._header.rstrip(b"\r\n"):
                        if path not in _warned:
                            _warned.add(path)
                            log.warning(
                                "%s has the columns of another version: the calls of this version go to the next "
                                "file of %s, calls.v%d.csv, …",
                                path.name,
                                CALLS_CSV,
                                self.version,
                            )
                        return False, None
                    if column is not None and key is not None and _has_value(fd, column, key):
                        return True, None
                    data = row if os.pread(fd, 1, size - 1) == b"\n" else LINE_END.encode() + row
                _write_all(fd, data)
                os.fsync(fd)
                if size == 0:
                    _fsync_directory(path.parent)
                return True, path
            finally:
                os.close(fd)  # releases the lock


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
