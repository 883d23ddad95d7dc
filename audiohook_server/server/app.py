"""The server process: recovery, models, listening, authentication at the handshake, drain and stop.

One ASGI application (`asgi.build_app`, FastAPI) served by uvicorn on one port, with one TLS
configuration: the WebSocket doors (`/audiohook`, `/ws/transcribe`), the HTTP routes, health and
metrics. uvicorn runs its WebSocket connections on the `websockets` library's sans-I/O protocol
(`websockets-sansio`) and HTTP/1.1 on h11, with a deadline on every request head
(`http_protocol.TimedH11Protocol`).

`AudioHookServer.start` turns the journals a killed process left behind into CSVs, starts listening
(`opened` must be answered at once, so sessions are accepted while the models still load) and loads
the models in a worker thread. Each upgrade request is routed (`routes`), authenticated
(`auth.handshake`), braked on repeated failures (`auth.brake`) and admitted (`admission`) before it
is accepted; each accepted connection gets a `WebSocketDoor`. `stop` drains: it stops accepting, lets
each live session send its last finals within the drain timeout, then cuts whatever is left (their
CSVs are still written) and releases the pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http
import logging
import socket
import ssl
import time
from collections.abc import Iterator

import uvicorn
from fastapi.responses import PlainTextResponse
from starlette.requests import Request
from starlette.websockets import WebSocket

from audiohook_server.auth.brake import AuthFailureLimiter
from audiohook_server.auth.handshake import Authenticator, Handshake
from audiohook_server.calls.ports import SpeechService
from audiohook_server.calls.recovery import recover_journals
from audiohook_server.metrics import ServerMetrics
from audiohook_server.server.admission import SessionLimits
from audiohook_server.server.asgi import build_app
from audiohook_server.server.capture import Caller, CaptureService
from audiohook_server.server.http_protocol import with_head_timeout
from audiohook_server.server.preflight import listening_socket, writable_directory
from audiohook_server.server.routes import ServerState
from audiohook_server.server.session_runner import CallServices
from audiohook_server.server.websocket_door import WebSocketDoor
from audiohook_server.settings import ConfigurationError, Settings, setting_names
from audiohook_server.speech.engine import ResolvedModels, SpeechEngine
from audiohook_server.ui.access import UiAccess
from audiohook_server.ui.floor import Floor
from protocol.capture import CaptureError

__all__ = ["AudioHookServer"]

AUTH_BACKOFF_DELAY_S = 1.0

log = logging.getLogger(__name__)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the process (server.cli) decides what SIGTERM means."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
        self.floor = Floor() if settings.ui else None  # the supervisor pages' live calls (ui/)
        self.calls = CallServices(settings, self.engine, self.metrics, self.floor)
        self.authenticator = Authenticator(settings)  # raises ConfigurationError for an unusable JWT key
        self.ui_access = UiAccess(settings, self.authenticator) if settings.ui else None
        self.limits = SessionLimits(settings.max_sessions, settings.max_sessions_per_key)
        self._ssl = tls_context(settings)
        self.capture = CaptureService(settings, self.engine, self.metrics, self.engine.stream_pool, self.floor)
        self.app = build_app(self)
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._serving: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._doors: set[WebSocketDoor] = set()
        self._admitted: list[Handshake] = []  # from the handshake until the door's handler ends
        self._auth_failures = AuthFailureLimiter(
            settings.auth_failures_per_minute, in_flight_limit=settings.auth_failures_in_flight
        )
        self._draining = False

    @property
    def port(self) -> int:
        assert self._socket is not None, "server not started"
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def live_sessions(self) -> int:
        return len(self._admitted)

    def _uvicorn_config(self) -> uvicorn.Config:
        s = self.settings
        tls = self._ssl
        return uvicorn.Config(
            self.app,
            host=s.host,
            port=s.port,
            http=with_head_timeout(s.handshake_timeout_s),
            ws="websockets-sansio",
            # Oversized frames up to this size reach the session, which answers them with a clear error;
            # beyond it the WebSocket layer closes with 1009 as soon as the frame header says so,
            # without reading the frame.
            ws_max_size=2 * max(s.max_frame_bytes, s.max_text_bytes),
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            lifespan="off",
            log_config=None,
            access_log=False,  # query strings carry API keys and tokens: never log them
            server_header=False,
            headers=[("server", "audiohook-server")],
            proxy_headers=False,  # X-Forwarded-For is not trusted (see docs/deployment.md)
            ssl_context_factory=(lambda _config, _default: tls) if tls is not None else None,
            ssl_certfile=str(s.tls_cert) if tls is not None else None,
            timeout_graceful_shutdown=max(1, round(s.drain_timeout_s)),
        )

    async def start(self) -> None:
        """Listen and load the models; ConfigurationError (one line: the setting and the fix) when the
        port cannot be bound or the recordings directory cannot be created or written."""
        # The port first: a second server started by mistake stops here, before it touches the
        # recordings of the one that holds the port.
        self._socket = listening_socket(self.settings)
        try:
            writable_directory(
                self.settings.recordings_dir, setting_names("recordings_dir", self.settings.recordings_dir)
            )
        except ConfigurationError:
            self._socket.close()
            self._socket = None
            raise
        # Sessions a previous process did not finish (killed, power loss) get their CSVs first.
        recovered = await asyncio.get_running_loop().run_in_executor(
            None, recover_journals, self.settings.recordings_dir, self.settings.file_mode
        )
        if recovered:
            log.warning("recovered %d session CSV(s) from journals of unfinished sessions", len(recovered))
        config = self._uvicorn_config()
        self._uvicorn = _EmbeddedUvicorn(config)
        self._serving = asyncio.create_task(self._uvicorn.serve(sockets=[self._socket]), name="uvicorn")
        while not self._uvicorn.started:
            if self._serving.done():
                self._serving.result()  # raises what stopped it
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        self._load_task = asyncio.create_task(self.engine.load(), name="load-models")
        await self.capture.start()  # live-capture sessions a killed process left resume
        scheme = "wss" if self._ssl else "ws"
        log.info("listening on %s://%s:%d/audiohook", scheme, self.settings.host, self.port)

    async def wait_ready(self) -> None:
        """Until the models are loaded; raises what loading raised."""
        assert self._load_task is not None
        await asyncio.shield(self._load_task)

    async def stop(self) -> None:
        """Drain: stop accepting; let each live session send its last finals and end (Genesys gets
        `disconnect` completed, the simple dialect a 1001 close) within the drain timeout; then cut
        whatever is left (their CSVs are still written); release the pools. HTTP live-capture sessions
        that are finishing finish; those still ingesting stay on disk and resume after the restart."""
        self._draining = True
        live = list(self._doors)
        drains = [asyncio.create_task(door.drain()) for door in live]
        drains.append(asyncio.create_task(self.capture.stop()))
        if live:
            log.info("draining %d live session(s)", len(live))
        _, pending = await asyncio.wait(drains, timeout=self.settings.drain_timeout_s)
        for task in pending:
            task.cancel()
        if self._uvicorn is not None and self._serving is not None:
            self._uvicorn.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        await self.authenticator.nonces.close()
        self.engine.close()

    def state(self) -> ServerState:
        """What the health, readiness and routing answers depend on now."""
        return ServerState(
            serving=self.engine.serving,
            draining=self._draining,
            at_capacity=len(self._admitted) >= self.settings.max_sessions,
            jwt_enabled=self.authenticator.jwt is not None,
            render_metrics=self.metrics.render,
        )

    async def serve_websocket(self, websocket: WebSocket, *, live: bool) -> None:
        """A WebSocket door's request: authenticate and admit it, then run its session."""
        if self._draining:
            self.metrics.refused.labels("draining").inc()
            await _deny(websocket, http.HTTPStatus.SERVICE_UNAVAILABLE, "server shutting down")
            return
        address = websocket.client.host if websocket.client else "unknown"
        if self._auth_failures.saturated(address):
            self.metrics.refused.labels("auth-in-flight").inc()
            await _deny(websocket, http.HTTPStatus.TOO_MANY_REQUESTS, "too many failing handshakes from this address")
            return
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in websocket.scope["headers"]]
        target = websocket.scope.get("raw_path", b"").decode("latin-1") or websocket.url.path
        query = websocket.scope.get("query_string", b"").decode("latin-1")
        if query:
            target = f"{target}?{query}"
        decision = await self.authenticator.authenticate(target, headers, live=live)
        if decision.refused:
            assert decision.error is not None
            log.warning("refused %s: %s", address, decision.error)
            self.metrics.auth_failures.labels(decision.kind).inc()
            if decision.status != http.HTTPStatus.SERVICE_UNAVAILABLE:  # our store failed, not the client
                await self._brake(address)
            if decision.reject_with_401:
                body = "unauthorized" if decision.kind == "genesys" else decision.error
                await _deny(websocket, http.HTTPStatus(decision.status), body)
                return
        refusal = self.limits.check(decision.handshake, self._admitted)
        if refusal is not None:
            self.metrics.refused.labels(refusal.label).inc()
            log.warning("refused %s: %s", websocket.client, refusal.reason)
            await _deny(websocket, refusal.status, refusal.reason)
            return
        self._admitted.append(decision.handshake)
        door = WebSocketDoor(websocket, self.settings, decision.handshake, self.calls.start_call, self.metrics)
        self._doors.add(door)
        try:
            await websocket.accept()
            await door.run()
        finally:
            self._doors.discard(door)
            door.mark_finished()  # also when the accept failed and `run` never ran: no drain waits on it
            self._admitted.remove(decision.handshake)

    async def authenticate_http(self, request: Request) -> Caller:
        """An HTTP API request's credentials, checked as the handshakes' are (brake included): who it
        is, or CaptureError 401 (400 for a doubled header, 429 while the address has too many failures
        waiting)."""
        address = request.client.host if request.client else "unknown"
        if self._auth_failures.saturated(address):
            self.metrics.refused.labels("auth-in-flight").inc()
            raise CaptureError(429, "too many failing requests from this address")
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.scope["headers"]]
        decision = await self.authenticator.authenticate_http(headers, request.url.query)
        if decision.refused:
            assert decision.error is not None
            log.warning("refused %s: %s", address, decision.error)
            self.metrics.auth_failures.labels(decision.kind).inc()
            await self._brake(address)
            raise CaptureError(decision.status, decision.error)
        handshake = decision.handshake
        owner = hashlib.sha256((handshake.principal or "").encode("utf-8", "surrogatepass")).hexdigest()
        return Caller(handshake.auth_details(), owner)

    def auth_saturated(self, address: str) -> bool:
        """Too many failing credentials from `address` are waiting: refuse at once (429)."""
        if self._auth_failures.saturated(address):
            self.metrics.refused.labels("auth-in-flight").inc()
            return True
        return False

    async def refuse_login(self, address: str, reason: str) -> None:
        """A failed login to the supervisor pages: counted and braked like a failed handshake."""
        log.warning("refused a supervisor login from %s: %s", address, reason)
        self.metrics.auth_failures.labels("ui").inc()
        await self._brake(address)

    async def _brake(self, address: str) -> None:
        """Failures beyond the limit get the same answer as any failure, only later."""
        brake = self._auth_failures
        now = time.monotonic()
        blocked = brake.blocked(address, now)
        brake.record_failure(address, now)
        if blocked:
            self.metrics.refused.labels("auth-backoff").inc()
            brake.hold(address)
            try:
                await asyncio.sleep(AUTH_BACKOFF_DELAY_S)
            finally:
                brake.release(address)


async def _deny(websocket: WebSocket, status: http.HTTPStatus, reason: str) -> None:
    """Refuse a WebSocket upgrade with a real HTTP answer (the ASGI denial response extension)."""
    await websocket.send_denial_response(PlainTextResponse(reason + "\n", status_code=status))
