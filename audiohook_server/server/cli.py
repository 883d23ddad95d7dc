"""`audiohook-server`: parse settings, find the models, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from analysis import ModelUnavailableError, prepare_analysis_backend
from audiohook_server.logs import configure_logging
from audiohook_server.server.app import AudioHookServer
from audiohook_server.settings import ConfigurationError, Settings, parse_command_line
from audiohook_server.speech.engine import ResolvedModels, resolve_models

log = logging.getLogger("audiohook_server")

# Time allowed after the drain timeout for cut sessions to write their CSVs.
STOP_GRACE_S = 8.0


async def run_server(settings: Settings, server: AudioHookServer) -> int:
    """Serve until SIGINT/SIGTERM (exit status 0), or until the models fail to load (1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
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
    try:
        settings, args = parse_command_line(argv)
    except ConfigurationError as exc:
        print(f"audiohook-server: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        models = resolve_models(settings)
        server = AudioHookServer(settings, models)
    except ConfigurationError as exc:
        print(f"audiohook-server: error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        try:  # trains the turn classifier once if it is not cached yet (the Docker build runs this)
            prepared = prepare_analysis_backend(settings.analysis)
        except (ModelUnavailableError, OSError) as exc:
            print(f"audiohook-server: error: analysis models: {exc}", file=sys.stderr)
            return 2
        print(describe(settings, models))
        print(f"  trained:       {prepared}")
        return 0
    return asyncio.run(run_server(settings, server))


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
