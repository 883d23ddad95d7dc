"""Writing files that readers (QA tools, another replica, a crash) may see at any moment.

`replace_atomically` writes beside the target, fsyncs, then renames over it: a reader sees the old file
or the new one, never half of one. `reserve_session_files` claims a call's file names (created
exclusively, so two sessions with the same id race safely) from an id a client chose: only
`A-Z a-z 0-9 . _ -` survive, so no id can reach outside the recordings directory.

The files hold what customers said: they are created with `FILE_MODE` (0640: the owner and its group,
such as the QA tools' or the shipping job's, not everyone on the machine) unless `--recordings-file-mode`
says otherwise. JSON is written with lone surrogates replaced (`safe_text`), so a client string can
never make a call's files fail to write.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from audiohook_server.safe_text import safe_json_value

__all__ = ["FILE_MODE", "replace_atomically", "reserve_session_files", "safe_stem", "write_json_atomically"]

FILE_MODE = 0o640

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_stem(session_id: str) -> str:
    """A file name stem for a client's session id: safe characters only, at most 100, never hidden."""
    return _UNSAFE.sub("_", session_id)[:100].lstrip(".") or "session"


def _call_log_name(stem: str) -> bool:
    """`calls`, `calls.v1`, …: the stems of calls.csv and its later versions (calls_csv)."""
    return stem == "calls" or stem.startswith("calls.")


def reserve_session_files(session_id: str, directory: Path, header: str, mode: int = FILE_MODE) -> tuple[Path, Path]:
    """Claim `<stem>.csv` (created with its `header` line, atomically) and `<stem>.wav` for a session.

    If another session holds the name, `-2`, `-3`, … is appended. The exclusive create makes two
    sessions with the same id race safely, and the CSV is never empty, even for a moment. The names of
    the call log (`calls.csv`, `calls.v1.csv`, …) are never a session's: a session `calls` gets `calls_`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(session_id)
    if _call_log_name(stem):
        stem = "calls_" + stem.removeprefix("calls")
    candidate, n = stem, 1
    while True:
        csv_path, wav_path = directory / f"{candidate}.csv", directory / f"{candidate}.wav"
        if not wav_path.exists():
            try:
                fd = os.open(csv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError:
                pass
            else:
                os.fchmod(fd, mode)  # exactly the mode, whatever the umask
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(header)
                return csv_path, wav_path
        n += 1
        candidate = f"{stem}-{n}"


def replace_atomically(path: Path, write: Callable[[TextIO], None], mode: int = FILE_MODE) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: all or nothing."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600; QA tools reading the files may need their group
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomically(path: Path, value: Any, mode: int = FILE_MODE) -> None:
    safe = safe_json_value(value)
    replace_atomically(path, lambda f: json.dump(safe, f, indent=2, ensure_ascii=False, default=str), mode)
