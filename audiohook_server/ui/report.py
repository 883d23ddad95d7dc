"""`<stem>.report.html`: the QA report written beside a call's CSV when the call ends.

One self-contained file (`ui.pages.report_html`: the call view with its scripts, styles and data
inlined) that a QA team opens or mails: the transcript coloured by speaker, the valence curve per
speaker, alerts and moments on the timeline, the agent score's components and the summary, read from
the call's files (`ui.call_files`), so it says exactly what the CSV says. Its player plays the WAV
beside it. Written atomically with the files' mode; a report that cannot be written is logged and
never costs the call its other files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TextIO

from audiohook_server.calls.atomic_files import FILE_MODE, replace_atomically
from audiohook_server.ui.call_files import read_call
from audiohook_server.ui.pages import report_html

__all__ = ["REPORT_SUFFIX", "report_path", "write_report"]

log = logging.getLogger(__name__)

REPORT_SUFFIX = ".report.html"


def _write(handle: TextIO, text: str) -> None:
    handle.write(text)


def report_path(stem: Path) -> Path:
    return stem.with_name(stem.stem + REPORT_SUFFIX)


def write_report(csv_path: Path, mode: int = FILE_MODE, stem: Path | None = None) -> Path | None:
    """Write the report of the finished call whose transcript is `csv_path`; its path, or None when it
    could not be written (logged)."""
    base = stem or csv_path
    target = report_path(base)
    try:
        call = read_call(csv_path, stem)
        wav = base.with_suffix(".wav")
        page = report_html(call.to_json(), wav.name if wav.is_file() else None)
        replace_atomically(target, lambda handle: _write(handle, page), mode)
    except Exception:
        log.exception("cannot write the QA report %s", target.name)
        return None
    return target
