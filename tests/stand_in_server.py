"""The real server as a process, over the stand-in speech of tests/stand_in_speech.py, for tests that need
a server process (SIGKILL and restart, two replicas sharing a volume, its log output) but not the models:

    python -m tests.stand_in_server --port 0 --recordings-dir DIR --api-keys KEY [any server flag]

Everything is the production code path (settings, logging, the ASGI app, the doors, the call core, the
exports, recovery at start, the signal handling of `audiohook_server.server.cli`) except the speech
models. It prints `listening on PORT` on stdout once it serves.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from audiohook_server.logs import configure_logging
from audiohook_server.server.app import AudioHookServer
from audiohook_server.server.cli import run_server
from audiohook_server.settings import parse_command_line
from tests.stand_in_speech import StandInSpeech

ROOT = Path(__file__).resolve().parent.parent


class StandInServerProcess:
    """This module run as a server process for a test: started on `port` (a free one by default) with
    `keys` as AUDIOHOOK_API_KEYS and any server flags, ready once it says it listens; SIGKILL or SIGTERM."""

    def __init__(
        self, recordings: Path, log: Path, *, keys: str, port: int | None = None, flags: Sequence[str] = ()
    ) -> None:
        from tests.conftest import free_port

        self.port = free_port() if port is None else port
        self.recordings = recordings
        self.log = log
        env = {**os.environ, "AUDIOHOOK_API_KEYS": keys, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "tests.stand_in_server", "--port", str(self.port)]
        command += ["--recordings-dir", str(recordings), *flags]
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while f"listening on {self.port}" not in log.read_text():
            assert self.process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


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
