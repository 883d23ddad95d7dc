"""`audiohook-server`: parse settings, find the models, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis import ModelUnavailableError, prepare_analysis_backend
from analysis.model_cache import default_analysis_cache_dir
from audiohook_server.logs import configure_logging
from audiohook_server.safe_text import log_text
from audiohook_server.server.app import AudioHookServer
from audiohook_server.server.preflight import check_port, directory_problem, writable_directory
from audiohook_server.settings import ConfigurationError, Settings, parse_command_line, setting_names
from audiohook_server.speech.engine import ResolvedModels, resolve_models
from audiohook_server.speech.model_files import default_cache_dir

log = logging.getLogger("audiohook_server")

# Time allowed after the drain timeout for cut sessions to write their CSVs.
STOP_GRACE_S = 8.0


async def run_server(settings: Settings, server: AudioHookServer) -> int:
    """Serve until SIGINT/SIGTERM (exit status 0), or until the models fail to load (1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except ConfigurationError:
        await server.stop()  # the pools the server made; nothing was served
        raise
    try:
        try:
            await server.wait_ready()
        except Exception as exc:
            log.error("speech models failed to load, shutting down: %s", exc)
            return 1
        await stop.wait()
        log.info("shutting down: draining live sessions and writing their CSVs")
    finally:
        try:
            await asyncio.wait_for(server.stop(), settings.drain_timeout_s + STOP_GRACE_S)
        except TimeoutError:
            # Whatever was still being transcribed is in the sessions' journals: the next start
            # turns them into CSVs.
            log.error("shutdown took longer than %.0f s; exiting anyway", settings.drain_timeout_s + STOP_GRACE_S)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command: 0 after a clean stop (or a passed --check-config), 1 when the models fail to load,
    2 for a configuration error, which is one line on stderr: what is wrong, the setting, the fix."""
    try:
        settings, args = parse_command_line(argv)
        configure_logging(settings.log_level, settings.log_format)
        if args.check_config:
            return check_config(settings)
        models = resolve(settings)
        server = AudioHookServer(settings, models)
        return asyncio.run(run_server(settings, server))
    except ConfigurationError as exc:
        return configuration_error(exc)


def configuration_error(exc: ConfigurationError) -> int:
    """Say what is wrong in one line on stderr (whatever the message holds); exit status 2."""
    print(f"audiohook-server: error: {log_text(str(exc))}", file=sys.stderr)
    return 2


def resolve(settings: Settings) -> ResolvedModels:
    """The models the settings name; a model cache that cannot be written is a configuration error."""
    try:
        return resolve_models(settings)
    except OSError as exc:
        cache = settings.model_cache_dir or default_cache_dir()
        problem = directory_problem(cache) or f"cannot hold the assembled model ({exc.strerror or exc})"
        raise ConfigurationError(f"{_cache_setting(settings, cache, 'model_cache_dir')} {problem}") from None


def check_config(settings: Settings) -> int:
    """--check-config: the settings (already valid here), the port (bound, then released), the
    recordings directory (created, written), the models (found, the turn classifier trained once) and
    the model caches (created, written); prints the summary and returns 0, or raises ConfigurationError."""
    check_port(settings)
    writable_directory(settings.recordings_dir, setting_names("recordings_dir", settings.recordings_dir))
    caches = {
        _cache_setting(settings, cache, "model_cache_dir"): cache
        for cache in (settings.model_cache_dir or default_cache_dir(), settings.analysis.cache_dir or
                      default_analysis_cache_dir())
    }  # fmt: skip
    for setting, cache in caches.items():
        if not cache.is_dir():  # created now (a file, or a parent that is one, is reported)
            writable_directory(cache, setting)
    models = resolve(settings)
    AudioHookServer(settings, models).engine.close()  # TLS files, JWT keys: what the server checks as it starts
    try:  # trains the turn classifier once if it is not cached yet (the Docker build runs this)
        prepared = prepare_analysis_backend(settings.analysis)
    except (ModelUnavailableError, OSError) as exc:
        cache = settings.analysis.cache_dir or default_analysis_cache_dir()
        problem = directory_problem(cache) if isinstance(exc, OSError) else None
        if problem is not None:
            raise ConfigurationError(f"{_cache_setting(settings, cache, 'model_cache_dir')} {problem}") from None
        raise ConfigurationError(f"analysis models: {exc}") from None
    read_only = []
    for cache in caches.values():
        # A cache that holds what these settings need may be read-only (the image's /opt/audiohook/models
        # under a read-only root file system): the models were found above, nothing will be written.
        if directory_problem(cache) is not None:
            read_only.append(f"{cache} (read-only; it holds the models these settings need)")
    print(describe(settings, models))
    print(f"  trained:       {prepared}")
    print(f"  model caches:  {', '.join(read_only or [str(cache) for cache in caches.values()])}")
    return 0


def _cache_setting(settings: Settings, cache: Path, name: str) -> str:
    """How an error names a model cache: the setting that chose it, or the default it came from."""
    if settings.model_cache_dir is not None:
        return f"the model cache {cache} ({setting_names(name, settings.model_cache_dir)})"
    return (
        f"the model cache {cache} (the default under $XDG_CACHE_HOME or ~/.cache; "
        f"{setting_names(name)} chooses another)"
    )


def describe(settings: Settings, models: ResolvedModels) -> str:
    """What --check-config prints: the effective configuration, without secrets."""
    scheme = "wss" if settings.tls_cert else "ws"
    signed = sum(1 for key in settings.api_keys if key.secret)
    lines = [
        "configuration OK",
        f"  listen:        {scheme}://{settings.host}:{settings.port}/audiohook (dialect {settings.dialect})",
        f"  api keys:      {len(settings.api_keys)} ({signed} with a Genesys client secret); "
        f"nonces: {settings.nonce_store.split('@')[-1]}",
        f"  jwt:           {'on (/ws/transcribe)' if settings.jwt_enabled else 'off'}",
        f"  recordings:    {settings.recordings_dir.resolve()} (audio {'on' if settings.record_audio else 'off'})",
        f"  whisper:       {settings.whisper_backend}: {models.whisper_dir} ({settings.whisper_device})",
        f"  partials:      {settings.partials_mode.value}" + (f" ({models.vosk_dir})" if models.vosk_dir else ""),
        f"  analysis:      sentiment {settings.analysis.sentiment_backend}, "
        f"emotion {settings.analysis.emotion_backend}",
        f"  ingest:        {settings.max_ingest_rate:g}x real time after a {settings.ingest_burst_s:g} s burst, "
        f"{settings.max_queued_final_s:g} s of speech waiting per session",
        f"  limits:        {settings.max_sessions} sessions, {settings.max_sessions_per_key} per key, "
        f"idle {settings.idle_timeout_s:.0f} s, drain {settings.drain_timeout_s:.0f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
