"""The real server as a process, over the stand-in speech of tests/stand_in_speech.py, for tests that need
a server process (SIGKILL and restart, two replicas sharing a volume, its log output) but not the models:

    python -m tests.stand_in_server --port 0 --recordings-dir DIR --api-keys KEY [any server flag]

Everything is the production code path (settings, logging, the ASGI app, the doors, the call core, the
exports, recovery at start, the signal handling of `audiohook_server.server.cli`) except the speech
models. It prints `listening on PORT` on stdout once it serves.
"""

from __future__ import annotations

import asyncio
import sys

from audiohook_server.logs import configure_logging
from audiohook_server.server.app import AudioHookServer
from audiohook_server.server.cli import run_server
from audiohook_server.settings import parse_command_line
from tests.stand_in_speech import StandInSpeech


def main() -> int:
    settings, _ = parse_command_line(sys.argv[1:])
    configure_logging(settings.log_level, settings.log_format)
    server = AudioHookServer(settings, speech=StandInSpeech())

    async def serve() -> int:
        async def announce() -> None:
            while not server.engine.serving:
                await asyncio.sleep(0.02)
            print(f"listening on {server.port}", flush=True)

        task = asyncio.get_running_loop().create_task(announce())
        try:
            return await run_server(settings, server)
        finally:
            task.cancel()

    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
