"""Where models trained or assembled on this machine are kept, and the digests that key them.

One cache root for the whole project, ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/audiohook-server``:
the analysis models (the turn classifier, the embedding heads) live under ``analysis/``, the speech
models the server assembles under ``models/``. Cache keys are SHA-256 digests: ``text_sha256`` of
everything a trained model depends on (settings, training file, encoder fingerprint), ``file_sha256``
of a file's bytes (to verify an assembled model). Stdlib only, so the speech code can share it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["default_analysis_cache_dir", "default_cache_root", "file_sha256", "text_sha256"]


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
