"""The WebSocket server: routing, authentication at the handshake, health, start and stop.

Routes:
- `/audiohook` and `/`: the AudioHook endpoint, both dialects. A request with `Audiohook-Session-Id` or
  `Audiohook-Organization-Id` headers (or every request, with `--dialect genesys`) is Genesys: its
  `X-API-KEY` and, when the key has a client secret, its RFC 9421 signature are verified. Otherwise it
  is the simple dialect: `?x-api-key=` or `X-API-KEY`, for keys without a secret (a key with a secret
  must sign, so it cannot be used unsigned through the other door).
- `/healthz`: 200 once the speech models are loaded and sessions can be served, 503 before.
Failures get HTTP 401 before any session work (or, for Genesys with `--auth-failure disconnect`, an
accepted socket whose `open` is answered with `disconnect` reason `unauthorized`); unknown paths 404.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import logging
import time
import weakref
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from audiohook_server.auth import check_api_key, presented_api_key
from audiohook_server.config import Settings
from audiohook_server.connection import Connection, Handshake
from audiohook_server.engine import ResolvedModels, SpeechEngine
from protocol.httpsig import SignatureError, SignatureVerifier, SignedRequest

GENESYS_HEADERS = ("audiohook-session-id", "audiohook-organization-id")

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
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, Handshake] = weakref.WeakKeyDictionary()
        self.verifier = SignatureVerifier(
            {k.key: k.secret for k in settings.api_keys},
            max_age=settings.signature_max_age_s,
            clock_skew=settings.signature_clock_skew_s,
        )

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
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        genesys = self.settings.dialect == "genesys" or (
            self.settings.dialect == "auto" and any(h in headers for h in GENESYS_HEADERS)
        )
        if genesys:
            handshake, error = self._authenticate_genesys(request.path, headers)
        else:
            handshake, error = self._authenticate_simple(url.query, request)
        if error is not None:
            log.warning("refused %s: %s", connection.remote_address, error)
            if not (genesys and self.settings.auth_failure == "disconnect"):
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, "unauthorized\n" if genesys else error + "\n")
        self._handshakes[connection] = handshake
        return None

    def _authenticate_genesys(self, target: str, headers: dict[str, str]) -> tuple[Handshake, str | None]:
        handshake = Handshake(
            "genesys",
            api_key=headers.get("x-api-key"),
            session_id=headers.get("audiohook-session-id"),
            organization_id=headers.get("audiohook-organization-id"),
            correlation_id=headers.get("audiohook-correlation-id"),
        )
        if self.settings.insecure_no_auth:
            return handshake, None
        authority = self.settings.public_authority or headers.get("host", "")
        try:
            self.verifier.verify(SignedRequest(target, authority, headers), now=time.time())
        except SignatureError as exc:
            reason = f"Genesys authentication failed: {exc}"
            return dataclasses.replace(handshake, unauthorized_reason=reason), reason
        return handshake, None

    def _authenticate_simple(self, query: str, request: Request) -> tuple[Handshake, str | None]:
        dialect = "simple" if self.settings.dialect == "simple" else None
        if self.settings.insecure_no_auth:
            return Handshake(dialect), None
        result = check_api_key(presented_api_key(query, request.headers), self.settings.api_keys)
        if result.error is not None:
            return Handshake(dialect), result.error
        assert result.key is not None
        if result.key.secret is not None:
            return Handshake(dialect), "this API key has a client secret: its requests must be signed (Genesys)"
        return Handshake(dialect, api_key=result.key.key), None

    async def _handle(self, websocket: ServerConnection) -> None:
        handshake = self._handshakes.pop(websocket, Handshake(None))
        connection = Connection(websocket, self.settings, self.engine, handshake)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
