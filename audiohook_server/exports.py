"""Per-session exports for QA teams: the transcript CSV and the WAV recording.

The CSV is rewritten atomically (temporary file, then rename) after every final utterance, so a
call that ends abruptly, or a server that dies, leaves a complete CSV of everything finalized so
far, never a half-written one. The recording is appended as audio arrives; Python's `wave` writer
patches the header after every write, so the file is a valid WAV at any moment.
"""

from __future__ import annotations

import os
import re
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

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
                with csv_path.open("x"):
                    return csv_path, wav_path
            except FileExistsError:
                pass
        n += 1
        candidate = f"{stem}-{n}"


def write_atomically(path: Path, frame: pd.DataFrame) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644 & ~_UMASK)  # mkstemp makes 0600; QA tools reading the CSVs need the usual mode
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            frame.to_csv(f, index=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
