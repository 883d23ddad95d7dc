"""`audiohook-server`: parse settings, find the models, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from audiohook_server.config import Settings, load_settings
from audiohook_server.engine import resolve_models
from audiohook_server.errors import ConfigurationError
from audiohook_server.server import AudioHookServer

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
        settings = load_settings(argv)
    except ConfigurationError as exc:
        print(f"audiohook-server: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        # One line per connection and per utterance from these libraries is noise at INFO.
        logging.getLogger("websockets").setLevel(logging.WARNING)
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    try:
        server = AudioHookServer(settings, resolve_models(settings))
    except ConfigurationError as exc:
        print(f"audiohook-server: error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run_server(settings, server))


if __name__ == "__main__":
    sys.exit(main())
