"""The cache root and the digests that key trained models (analysis.model_cache)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from analysis.model_cache import (
    default_analysis_cache_dir,
    default_cache_root,
    file_sha256,
    load_arrays,
    save_arrays,
    text_sha256,
)


def test_cache_root_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_root() == tmp_path / "audiohook-server"
    assert default_analysis_cache_dir() == tmp_path / "audiohook-server" / "analysis"
    for unset in (True, False):
        if unset:
            monkeypatch.delenv("XDG_CACHE_HOME")
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty counts as unset
        assert default_cache_root() == Path.home() / ".cache" / "audiohook-server"


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 9000  # larger than one read block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_text_sha256_digests_the_parts_in_order() -> None:
    assert text_sha256("ab", "c\u00e9") == hashlib.sha256("abc\u00e9".encode()).hexdigest()
    assert text_sha256() == hashlib.sha256().hexdigest()
    assert text_sha256("a", "b") != text_sha256("b", "a")


def test_a_truncated_or_empty_array_file_is_no_cache(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    assert save_arrays(path, {"weights": np.arange(1000.0)})
    loaded = load_arrays(path, ("weights",))
    assert loaded is not None and loaded["weights"][-1] == 999.0
    path.write_bytes(path.read_bytes()[:200])  # a write cut short by a crash (another process's)
    assert load_arrays(path, ("weights",)) is None
    path.write_bytes(b"")
    assert load_arrays(path, ("weights",)) is None
    assert load_arrays(tmp_path / "missing.npz", ("weights",)) is None
    assert load_arrays(tmp_path / "model.npz", ("other",)) is None
