"""The server process: recovery, models, listening, authentication at the handshake, drain and stop.

`AudioHookServer.start` turns the journals a killed process left behind into CSVs, starts listening
(`opened` must be answered at once, so sessions are accepted while the models still load) and loads
the models in a worker thread. Each upgrade request is routed (`routes`), authenticated
(`auth.handshake`), braked on repeated failures (`auth.brake`) and admitted (`admission`) before any
session work; each accepted connection gets a `WebSocketDoor`. `stop` drains: it stops accepting, lets
each live session send its last finals within the drain timeout, then cuts whatever is left (their
CSVs are still written) and releases the pools.
"""

from __future__ import annotations

import asyncio
import http
import logging
import ssl
import time
import weakref
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from audiohook_server.auth.brake import AuthFailureLimiter
from audiohook_server.auth.handshake import Authenticator, Handshake
from audiohook_server.calls.ports import SpeechService
from audiohook_server.calls.recovery import recover_journals
from audiohook_server.metrics import ServerMetrics
from audiohook_server.server.admission import SessionLimits
from audiohook_server.server.routes import Door, HttpAnswer, ServerState, route
from audiohook_server.server.session_runner import CallServices
from audiohook_server.server.websocket_door import WebSocketDoor
from audiohook_server.settings import ConfigurationError, Settings
from audiohook_server.speech.engine import ResolvedModels, SpeechEngine

__all__ = ["AudioHookServer"]

WEBSOCKET_MAX_SIZE = 16 << 20
AUTH_BACKOFF_DELAY_S = 1.0

log = logging.getLogger(__name__)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for `--tls-cert`/`--tls-key`; a bad certificate is a configuration error."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"cannot load the TLS certificate or key: {exc}") from exc
    return context


class AudioHookServer:
    """The server; `speech` replaces the speech engine built from `models` (tests of the doors and the
    client run the real server over a stand-in)."""

    def __init__(
        self, settings: Settings, models: ResolvedModels | None = None, *, speech: SpeechService | None = None
    ) -> None:
        self.settings = settings
        self.metrics = ServerMetrics()
        if speech is None:
            if models is None:
                raise ValueError("AudioHookServer needs the resolved models or a speech service")
            speech = SpeechEngine(settings, models, self.metrics)
        self.engine = speech
        self.calls = CallServices(settings, self.engine, self.metrics)
        self.authenticator = Authenticator(settings)  # raises ConfigurationError for an unusable JWT key
        self.limits = SessionLimits(settings.max_sessions, settings.max_sessions_per_key)
        self._ssl = tls_context(settings)
        self._server: Server | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._doors: set[WebSocketDoor] = set()
        # Admitted at the handshake, until their handler ends: what the session limits count.
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, Handshake] = weakref.WeakKeyDictionary()
        self._auth_failures = AuthFailureLimiter(settings.auth_failures_per_minute)
        self._draining = False

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def live_sessions(self) -> int:
        return len(self._handshakes)

    async def start(self) -> None:
        self.settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        # Sessions a previous process did not finish (killed, power loss) get their CSVs first.
        recovered = await asyncio.get_running_loop().run_in_executor(
            None, recover_journals, self.settings.recordings_dir
        )
        if recovered:
            log.warning("recovered %d session CSV(s) from journals of unfinished sessions", len(recovered))
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            # Oversized frames up to this size reach the session, which answers them with a clear
            # error; beyond it the WebSocket layer closes with 1009 without buffering them.
            max_size=max(WEBSOCKET_MAX_SIZE, 2 * self.settings.max_frame_bytes, 2 * self.settings.max_text_bytes),
            open_timeout=self.settings.handshake_timeout_s,
            server_header="audiohook-server",
            ssl=self._ssl,
        )
        self._load_task = asyncio.create_task(self.engine.load(), name="load-models")
        scheme = "wss" if self.settings.tls_cert else "ws"
        log.info("listening on %s://%s:%d/audiohook", scheme, self.settings.host, self.port)

    async def wait_ready(self) -> None:
        """Until the models are loaded; raises what loading raised."""
        assert self._load_task is not None
        await asyncio.shield(self._load_task)

    async def stop(self) -> None:
        """Drain: stop accepting; let each live session send its last finals and end (Genesys gets
        `disconnect` completed, the simple dialect a 1001 close) within the drain timeout; then cut
        whatever is left (their CSVs are still written); release the pools."""
        self._draining = True
        if self._server is not None:
            self._server.close(close_connections=False)
            live = list(self._doors)
            if live:
                log.info("draining %d live session(s)", len(live))
                drains = [asyncio.create_task(door.drain()) for door in live]
                _, pending = await asyncio.wait(drains, timeout=self.settings.drain_timeout_s)
                for task in pending:
                    task.cancel()
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self.engine.close()

    def _state(self) -> ServerState:
        return ServerState(
            serving=self.engine.serving,
            draining=self._draining,
            at_capacity=len(self._handshakes) >= self.settings.max_sessions,
            jwt_enabled=self.authenticator.jwt is not None,
            render_metrics=self.metrics.render,
        )

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        target = route(urlsplit(request.path).path, self._state())
        if isinstance(target, HttpAnswer):
            return connection.respond(target.status, target.body)
        if self._draining:
            self.metrics.refused.labels("draining").inc()
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "server shutting down\n")
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        decision = self.authenticator.authenticate(request.path, headers, live=target is Door.LIVE)
        if decision.refused:
            assert decision.error is not None
            log.warning("refused %s: %s", connection.remote_address, decision.error)
            self.metrics.auth_failures.labels(decision.kind).inc()
            await self._brake(connection)
            if decision.reject_with_401:
                body = "unauthorized\n" if decision.kind == "genesys" else decision.error + "\n"
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, body)
        refusal = self.limits.check(decision.handshake, self._handshakes.values())
        if refusal is not None:
            self.metrics.refused.labels(refusal.label).inc()
            log.warning("refused %s: %s", connection.remote_address, refusal.reason)
            return connection.respond(refusal.status, refusal.reason + "\n")
        self._handshakes[connection] = decision.handshake
        return None

    async def _brake(self, connection: ServerConnection) -> None:
        """Failures beyond the limit get the same answer as any failure, only later."""
        address = str(connection.remote_address[0]) if connection.remote_address else "unknown"
        now = time.monotonic()
        if self._auth_failures.blocked(address, now):
            self.metrics.refused.labels("auth-backoff").inc()
            await asyncio.sleep(AUTH_BACKOFF_DELAY_S)
        self._auth_failures.record_failure(address, now)

    async def _handle(self, websocket: ServerConnection) -> None:
        handshake = self._handshakes.get(websocket, Handshake(None))
        door = WebSocketDoor(websocket, self.settings, handshake, self.calls.start_call, self.metrics)
        self._doors.add(door)
        try:
            await door.run()
        finally:
            self._doors.discard(door)
            self._handshakes.pop(websocket, None)
