"""One call's files in the recordings directory: the export sink the call core writes to.

    <stem>.csv            the transcript, one row per final (header from the first moment)
    <stem>.journal.jsonl  every row fsynced as it is produced; removed once the CSV is complete
    <stem>.wav            the audio as received (optional)
    <stem>.session.json   what the session was: dialect, media, conversation, who authenticated
    <stem>.summary.json   the final analysis breakdown, written with the CSV

`open` runs before any audio is processed and `close` exactly once however the call ends, both in a
worker thread (they touch the disk). The journal line and the CSV row are added together, so the
journal always holds at least what the client was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis import CallAnalysis
from audiohook_server.calls.atomic_files import FILE_MODE, reserve_session_files, write_json_atomically
from audiohook_server.calls.journal import SessionJournal, journal_path
from audiohook_server.calls.recording import RecordingWriter
from audiohook_server.calls.transcript_csv import CSV_HEADER, TranscriptCsv, TranscriptRow

__all__ = ["SessionFiles"]


@dataclass
class SessionFiles:
    """The export sink of one call, in `directory`."""

    directory: Path
    session_id: str
    rate: int
    channels: int
    metadata: dict[str, Any]
    record_audio: bool = True
    mode: int = FILE_MODE  # every file of the call (they hold what customers said)
    # The server chose the id (HTTP sessions): its files are exactly `<id>.*`, replaced when the session is
    # resumed after a restart (it transcribes its upload again from the start), never `<id>-2.*`.
    exact_stem: bool = False
    csv: TranscriptCsv | None = field(default=None, init=False)
    journal: SessionJournal | None = field(default=None, init=False)
    recording: RecordingWriter | None = field(default=None, init=False)

    @property
    def csv_path(self) -> Path | None:
        return self.csv.path if self.csv else None

    def open(self) -> None:
        if self.exact_stem:
            csv_path, wav_path = self.directory / f"{self.session_id}.csv", self.directory / f"{self.session_id}.wav"
            self.directory.mkdir(parents=True, exist_ok=True)
            TranscriptCsv(csv_path, mode=self.mode).write()  # the header alone, until the rows come
            journal_path(csv_path).unlink(missing_ok=True)  # a killed run's: its rows are made again
        else:
            csv_path, wav_path = reserve_session_files(self.session_id, self.directory, CSV_HEADER, self.mode)
        self.csv = TranscriptCsv(csv_path, mode=self.mode)
        self.journal = SessionJournal(journal_path(csv_path), self.mode)
        write_json_atomically(csv_path.with_suffix(".session.json"), self.metadata, self.mode)
        if self.record_audio:
            self.recording = RecordingWriter(wav_path, self.rate, self.channels, self.mode)

    def record(self, samples: npt.NDArray[np.int16]) -> None:
        if self.recording is not None:
            self.recording.write(samples)

    def add_final(self, row: TranscriptRow) -> None:
        assert self.csv is not None and self.journal is not None, "open() first"
        self.csv.add(row)
        self.journal.append(row.as_dict())

    def close(self, analysis: CallAnalysis | None) -> None:
        """The final CSV and analysis summary; the journal goes once the CSV is on disk."""
        if self.recording is not None:
            self.recording.close()
            self.recording = None
        if self.csv is None:
            return
        self.csv.write()
        if analysis is not None:
            write_json_atomically(self.csv.path.with_suffix(".summary.json"), analysis.to_summary(), self.mode)
        if self.journal is not None:
            self.journal.close(remove=True)
            self.journal = None
