"""Per-session exports for QA teams: the transcript CSV, its journal, and the WAV recording.

Nothing a caller said may be lost, whatever ends the call:
- every final transcript row is appended to `<stem>.journal.jsonl` and fsynced the moment it is
  produced (O(1) per utterance);
- the CSV is written atomically (temporary file, fsync, rename) when the session ends, however it ends
  (close, dropped connection, protocol error, SIGTERM), and then the journal is removed;
- a journal still present when the server starts belongs to a session the server did not finish (it
  was killed, or the machine lost power): `recover_journals` turns it into that session's CSV.
The recording is appended as audio arrives and flushed per write; Python's `wave` writer patches the
header after every write, so the file is a valid WAV at any moment.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".journal.jsonl"

CSV_COLUMNS = (
    "session_id",
    "start",
    "end",
    "channel",
    "speaker",
    "text",
    "confidence",
    "utterance_sentiment",
    "utterance_emotion",
    "utterance_categories",
    "sentiment",
    "emotion",
    "agent_score",
    "summary",
    "process_issues",
    "repeated_problems",
    "marketing_mentions",
)

_UMASK = os.umask(0o022)
os.umask(_UMASK)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def reserve_session_files(session_id: str, directory: Path) -> tuple[Path, Path]:
    """Claim `<stem>.csv` (created empty, atomically) and `<stem>.wav` for a session id a client chose.

    The stem keeps only `A-Z a-z 0-9 . _ -` (no path tricks); if another session holds the name, `-2`,
    `-3`, … is appended. The exclusive create makes two sessions with the same id race safely.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = _UNSAFE.sub("_", session_id)[:100].lstrip(".") or "session"
    candidate, n = stem, 1
    while True:
        csv_path, wav_path = directory / f"{candidate}.csv", directory / f"{candidate}.wav"
        if not wav_path.exists():
            try:
                with csv_path.open("x", encoding="utf-8") as f:
                    f.write(",".join(CSV_COLUMNS) + "\n")  # never an empty file, even for a moment
                    return csv_path, wav_path
            except FileExistsError:
                pass
        n += 1
        candidate = f"{stem}-{n}"


def _replace_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: all or nothing."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644 & ~_UMASK)  # mkstemp makes 0600; QA tools reading the files need the usual mode
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, frame: pd.DataFrame) -> None:
    _replace_atomically(path, lambda f: frame.to_csv(f, index=False))


def write_json_atomically(path: Path, value: Any) -> None:
    _replace_atomically(path, lambda f: json.dump(value, f, indent=2, ensure_ascii=False, default=str))


@dataclass
class TranscriptCsv:
    """The rows of one session's CSV; `write()` replaces the file with all rows so far."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        missing = set(CSV_COLUMNS) - row.keys()
        if missing:
            raise ValueError(f"CSV row lacks columns {sorted(missing)}")
        self.rows.append({c: row[c] for c in CSV_COLUMNS})

    def write(self) -> None:
        write_atomically(self.path, pd.DataFrame(self.rows, columns=list(CSV_COLUMNS)))


def journal_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name.removesuffix(".csv") + JOURNAL_SUFFIX)


class SessionJournal:
    """Append-only JSON lines, one per final transcript row, each fsynced before `append` returns.

    The file is held under an exclusive `flock` while the session lives, so that recovery in another
    server process sharing the directory never mistakes a live session for a dead one.
    """

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


class RecordingWriter:
    """Appends a session's audio (all channels, at the received rate) to a PCM16 WAV.

    Each write is flushed to the operating system with the header already counting it, so a killed
    server leaves a valid WAV of everything received.
    """

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.path = path
        self._file = path.open("wb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self.frames = 0

    def write(self, samples: npt.NDArray[np.int16]) -> None:
        self._wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self._file.flush()
        self.frames += samples.shape[0]

    def close(self) -> None:
        self._wav.close()
        self._file.close()
