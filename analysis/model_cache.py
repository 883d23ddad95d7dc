"""Where models trained or assembled on this machine are kept, and the digests that key them.

One cache root for the whole project, ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/audiohook-server``:
the analysis models (the turn classifier, the embedding heads) live under ``analysis/``, the speech
models the server assembles under ``models/``. Cache keys are SHA-256 digests: ``text_sha256`` of
everything a trained model depends on (settings, training file, encoder fingerprint), ``file_sha256``
of a file's bytes (to verify an assembled model). ``save_arrays`` / ``load_arrays`` keep small fitted
models (a few numpy arrays) as ``.npz`` files, written atomically; a cache that cannot be written or read
is only logged: the model is fitted again.
Stdlib only at import (numpy is imported by the two array helpers), so the speech code can share it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

__all__ = [
    "default_analysis_cache_dir",
    "default_cache_root",
    "file_sha256",
    "load_arrays",
    "save_arrays",
    "text_sha256",
]

log = logging.getLogger(__name__)


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME`` (or ``~/.cache`` when it is unset or empty) ``/audiohook-server``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "audiohook-server"


def default_analysis_cache_dir() -> Path:
    """Where trained analysis models are cached by default: ``default_cache_root() / "analysis"``."""
    return default_cache_root() / "analysis"


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of the file's bytes (read in blocks, never whole into memory)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def text_sha256(*parts: str) -> str:
    """The SHA-256 hex digest of ``parts``, UTF-8 encoded, one after the other."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()


def save_arrays(path: Path, arrays: dict[str, Any]) -> bool:
    """Write numpy ``arrays`` to ``path`` (.npz) through a temporary file, so a reader never sees half of
    them; False (logged) when the cache cannot be written."""
    import numpy as np

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    except OSError as exc:
        log.warning("could not cache %s: %s", path, exc)
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        log.warning("could not cache %s: %s", path, exc)
        return False
    return True


def load_arrays(path: Path, names: tuple[str, ...]) -> dict[str, Any] | None:
    """The arrays ``names`` of the .npz file at ``path``; None when it is missing or unreadable (logged)."""
    import numpy as np

    try:
        with np.load(path) as data:
            return {name: np.asarray(data[name]) for name in names}
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated, empty, foreign
        log.warning("ignoring the cached model %s: %s", path, exc)
        return None
