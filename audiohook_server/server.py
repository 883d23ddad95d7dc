"""The WebSocket server: routing, authentication at the handshake, health, start and stop.

Routes:
- `/audiohook` and `/`: the AudioHook endpoint (API key in `?x-api-key=` or `X-API-KEY`).
- `/healthz`: 200 once the speech models are loaded and sessions can be served, 503 before.
A missing or wrong key is refused with HTTP 401 before any session work; an unknown path gets 404.
"""

from __future__ import annotations

import asyncio
import http
import logging
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from audiohook_server.auth import check_api_key, presented_api_key
from audiohook_server.config import Settings
from audiohook_server.connection import Connection
from audiohook_server.engine import ResolvedModels, SpeechEngine

log = logging.getLogger(__name__)

AUDIOHOOK_PATHS = frozenset({"/", "/audiohook"})
HEALTH_PATH = "/healthz"


class AudioHookServer:
    def __init__(self, settings: Settings, models: ResolvedModels) -> None:
        self.settings = settings
        self.engine = SpeechEngine(settings, models)
        self._server: Server | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._connections: set[Connection] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def start(self) -> None:
        self.settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            max_size=self.settings.max_message_bytes,
            server_header="audiohook-server",
        )
        self._load_task = asyncio.create_task(self.engine.load(), name="load-models")
        log.info("listening on ws://%s:%d/audiohook", self.settings.host, self.port)

    async def wait_ready(self) -> None:
        """Until the models are loaded; raises what loading raised."""
        assert self._load_task is not None
        await asyncio.shield(self._load_task)

    async def stop(self) -> None:
        """Stop accepting, close live connections (each one finishes its CSV), release the pools."""
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self.engine.close()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == HEALTH_PATH:
            if self.engine.ready and self.engine.load_error is None:
                return connection.respond(http.HTTPStatus.OK, "ok\n")
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "loading models\n")
        if url.path not in AUDIOHOOK_PATHS:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no endpoint at {url.path}; use /audiohook\n")
        if self.settings.insecure_no_auth:
            return None
        result = check_api_key(presented_api_key(url.query, request.headers), self.settings.api_keys)
        if result.error is not None:
            log.warning("refused %s: %s", connection.remote_address, result.error)
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, result.error + "\n")
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        connection = Connection(websocket, self.settings, self.engine)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
