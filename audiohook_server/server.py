"""The WebSocket server: routing, authentication at the handshake, health, start and stop.

Routes:
- `/ws/transcribe`: live transcription for JWT holders (HS256 secret and/or RS256 public key
  configured; the token in `Authorization: Bearer …` or `?token=`).
- `/audiohook` and `/`: the AudioHook endpoint, both dialects (a JWT is accepted instead of an API
  key). A request with `Audiohook-Session-Id` or `Audiohook-Organization-Id` headers (or every
  request, with `--dialect genesys`) is Genesys: its `X-API-KEY` and, when the key has a client
  secret, its RFC 9421 signature are verified. Otherwise it is the simple dialect: `?x-api-key=` or
  `X-API-KEY`, for keys without a secret (a key with a secret must sign, so it cannot be used
  unsigned through the other door).
- `/healthz`: 200 once the speech models are loaded and sessions can be served, 503 before (liveness).
- `/readyz`: 200 when a new session would be accepted: models loaded, not draining, below
  `--max-sessions` (readiness: a full or draining pod stops receiving calls).
- `/metrics`: Prometheus metrics (see metrics.py).
Failures get HTTP 401 before any session work (or, for Genesys with `--auth-failure disconnect`, an
accepted socket whose `open` is answered with `disconnect` reason `unauthorized`); unknown paths 404.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import logging
import ssl
import time
import weakref
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from audiohook_server.auth import AuthFailureLimiter, check_api_key, presented_api_key
from audiohook_server.config import Settings
from audiohook_server.connection import Connection, Handshake
from audiohook_server.engine import ResolvedModels, SpeechEngine
from audiohook_server.errors import ConfigurationError
from audiohook_server.exports import recover_journals
from audiohook_server.jwt_auth import JwtConfig, JwtError, JwtVerifier, token_from_request
from audiohook_server.metrics import ServerMetrics
from protocol.httpsig import SignatureError, SignatureVerifier, SignedRequest

WEBSOCKET_MAX_SIZE = 16 << 20
AUTH_BACKOFF_DELAY_S = 1.0
GENESYS_HEADERS = ("audiohook-session-id", "audiohook-organization-id")

log = logging.getLogger(__name__)

AUDIOHOOK_PATHS = frozenset({"/", "/audiohook"})
LIVE_PATH = "/ws/transcribe"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


class AudioHookServer:
    def __init__(self, settings: Settings, models: ResolvedModels) -> None:
        self.settings = settings
        self.metrics = ServerMetrics()
        self.engine = SpeechEngine(settings, models, self.metrics)
        self._server: Server | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._connections: set[Connection] = set()
        # Admitted at the handshake, until their handler ends: what the session limits count.
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, Handshake] = weakref.WeakKeyDictionary()
        self._auth_failures = AuthFailureLimiter(settings.auth_failures_per_minute)
        self._draining = False
        self._ssl = self._tls_context()  # a bad certificate is a configuration error, before serving
        jwt_config = JwtConfig.from_settings(
            settings.jwt_secret,
            settings.jwt_public_key,
            settings.jwt_audience,
            settings.jwt_issuer,
            settings.jwt_leeway_s,
        )  # raises ConfigurationError for an unusable key, before anything is served
        self.jwt = JwtVerifier(jwt_config) if jwt_config.enabled else None
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

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.settings.tls_cert is None or self.settings.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(f"cannot load the TLS certificate or key: {exc}") from exc
        return context

    @property
    def live_sessions(self) -> int:
        return len(self._handshakes)

    async def stop(self) -> None:
        """Drain: stop accepting; let each live session send its last finals and end (Genesys gets
        `disconnect` completed, the simple dialect a 1001 close) within the drain timeout; then cut
        whatever is left (their CSVs are still written); release the pools."""
        self._draining = True
        if self._server is not None:
            self._server.close(close_connections=False)
            live = list(self._connections)
            if live:
                log.info("draining %d live session(s)", len(live))
                drains = [asyncio.create_task(c.drain()) for c in live]
                _, pending = await asyncio.wait(drains, timeout=self.settings.drain_timeout_s)
                for task in pending:
                    task.cancel()
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self.engine.close()

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == HEALTH_PATH:
            if self.engine.serving:
                return connection.respond(http.HTTPStatus.OK, "ok\n")
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "loading models\n")
        if url.path == READY_PATH:
            # Readiness for load balancers: models loaded, not draining, and room for another session.
            if not self.engine.serving:
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "loading models\n")
            if self._draining:
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
            if len(self._handshakes) >= self.settings.max_sessions:
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "at capacity\n")
            return connection.respond(http.HTTPStatus.OK, "ready\n")
        if url.path == METRICS_PATH:
            return connection.respond(http.HTTPStatus.OK, self.metrics.render().decode("utf-8"))
        if url.path == LIVE_PATH and self.jwt is None:
            return connection.respond(
                http.HTTPStatus.NOT_FOUND,
                "live transcription is disabled: configure AUDIOHOOK_JWT_SECRET or AUDIOHOOK_JWT_PUBLIC_KEY\n",
            )
        if url.path not in AUDIOHOOK_PATHS and url.path != LIVE_PATH:
            return connection.respond(
                http.HTTPStatus.NOT_FOUND, f"no endpoint at {url.path}; use /audiohook or {LIVE_PATH}\n"
            )
        if self._draining:
            self.metrics.refused.labels("draining").inc()
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "server shutting down\n")
        address = str(connection.remote_address[0]) if connection.remote_address else "unknown"
        now = time.monotonic()
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        genesys = self.settings.dialect == "genesys" or (
            self.settings.dialect == "auto" and any(h in headers for h in GENESYS_HEADERS)
        )
        token = token_from_request(request.path, headers) if self.jwt is not None else None
        if url.path == LIVE_PATH:
            genesys = False
            handshake, error = self._authenticate_jwt(token, "live")
        elif genesys:
            handshake, error = self._authenticate_genesys(request.path, headers)
        elif token is not None:
            handshake, error = self._authenticate_jwt(token, "simple" if self.settings.dialect == "simple" else None)
        else:
            handshake, error = self._authenticate_simple(url.query, request)
        if error is not None:
            log.warning("refused %s: %s", connection.remote_address, error)
            self.metrics.auth_failures.labels("genesys" if genesys else "jwt" if token is not None else "api-key").inc()
            # Valid credentials always get in (behind a proxy every client shares one address).
            # Failures beyond the limit get the same answer as any failure (401, or disconnect), only
            # slower: that slows guessing without telling the guesser anything new.
            if self._auth_failures.blocked(address, now):
                self.metrics.refused.labels("auth-backoff").inc()
                await asyncio.sleep(AUTH_BACKOFF_DELAY_S)
            self._auth_failures.record_failure(address, now)
            if not (genesys and self.settings.auth_failure == "disconnect"):
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, "unauthorized\n" if genesys else error + "\n")
        refusal = self._admit(handshake)
        if refusal is not None:
            self.metrics.refused.labels("capacity" if refusal[0] == 503 else "per-key-limit").inc()
            log.warning("refused %s: %s", connection.remote_address, refusal[1])
            return connection.respond(refusal[0], refusal[1] + "\n")
        self._handshakes[connection] = handshake
        return None

    def _admit(self, handshake: Handshake) -> tuple[http.HTTPStatus, str] | None:
        """The session limits: per process (503) and per API key or subject (429)."""
        if len(self._handshakes) >= self.settings.max_sessions:
            return http.HTTPStatus.SERVICE_UNAVAILABLE, f"server at capacity ({self.settings.max_sessions} sessions)"
        principal = handshake.principal
        if principal is not None:
            same = sum(1 for h in self._handshakes.values() if h.principal == principal)
            if same >= self.settings.max_sessions_per_key:
                limit = self.settings.max_sessions_per_key
                return http.HTTPStatus.TOO_MANY_REQUESTS, f"these credentials already have {limit} live sessions"
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

    def _authenticate_jwt(self, token: str | None, dialect: str | None) -> tuple[Handshake, str | None]:
        """A JWT in `Authorization: Bearer …` or `?token=`: the live endpoint, or instead of an API key."""
        if self.settings.insecure_no_auth and token is None:
            return Handshake(dialect), None
        assert self.jwt is not None
        try:
            identity = self.jwt.verify(token)
        except JwtError as exc:
            return Handshake(dialect), f"unauthorized: {exc.reason}"
        return Handshake(dialect, jwt=identity), None

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
        handshake = self._handshakes.get(websocket, Handshake(None))
        connection = Connection(websocket, self.settings, self.engine, handshake)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            self._handshakes.pop(websocket, None)
