"""The decision for one upgrade request: which dialect it speaks, who it is, or why it is refused.

The rules, for `/audiohook` (and `/`):
- a request with `Audiohook-Session-Id` or `Audiohook-Organization-Id` headers (or every request, with
  `--dialect genesys`) is Genesys: its `X-API-KEY` and, when the key has a client secret, its RFC 9421
  signature are verified (`protocol.httpsig`);
- otherwise a bearer token (`Authorization: Bearer …` or `?token=`) is checked as a JWT;
- otherwise it is the simple dialect: `?x-api-key=` or `X-API-KEY`, for keys without a secret (a key
  with a secret must sign, so it cannot be used unsigned through the other door).
`/ws/transcribe` takes JWTs only. `--insecure-no-auth` lets everything in (development only).
A request that carries a credential header twice (`X-API-KEY`, `Authorization`, the signature and
`Audiohook-*` headers, `Host`) is refused with 400: which copy is meant is ambiguous, and an
ambiguity in what is authenticated is an attack, not a client to guess for.

Nothing here touches a socket: the transport passes the request's target and headers and carries out
the decision (a 401, or for Genesys in `--auth-failure disconnect` mode, an accepted socket whose
`open` is answered with `disconnect` reason `unauthorized`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from audiohook_server.auth.api_keys import check_api_key, key_id, presented_api_key
from audiohook_server.auth.nonces import NonceStoreUnavailable, nonce_store
from audiohook_server.auth.tokens import JwtConfig, JwtError, JwtIdentity, JwtVerifier, token_from_request
from audiohook_server.settings import Settings
from protocol.httpsig import SignatureError, SignatureVerifier, SignedRequest

__all__ = ["GENESYS_HEADERS", "AuthDecision", "Authenticator", "Handshake"]

GENESYS_HEADERS = ("audiohook-session-id", "audiohook-organization-id")
CREDENTIAL_HEADERS = frozenset(
    {
        "x-api-key",
        "authorization",
        "signature",
        "signature-input",
        "audiohook-organization-id",
        "audiohook-session-id",
        "audiohook-correlation-id",
        "host",
    }
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handshake:
    """What the upgrade request told the server about this connection."""

    dialect: str | None  # "simple", "genesys", "live", or None: decide on the first message
    api_key: str | None = None
    jwt: JwtIdentity | None = None
    session_id: str | None = None  # Audiohook-Session-Id
    organization_id: str | None = None  # Audiohook-Organization-Id
    correlation_id: str | None = None
    unauthorized_reason: str | None = None  # Genesys auth failed, answered with disconnect(unauthorized)

    @property
    def principal(self) -> str | None:
        """Who the session limits count this connection against: the API key or the JWT subject."""
        if self.jwt is not None:
            return f"jwt:{self.jwt.subject}"
        return self.api_key

    def auth_details(self) -> dict[str, Any]:
        """Recorded with the session: how the client authenticated (never the key or token itself);
        `authenticated_by` is `jwt:<subject>`, `api-key:<key id>` (`api_keys.key_id`) or `none`."""
        if self.jwt is not None:
            return {
                "auth": "jwt",
                "authenticated_by": f"jwt:{self.jwt.subject}",
                "subject": self.jwt.subject,
                "claims": self.jwt.claims,
                "algorithm": self.jwt.algorithm,
            }
        if self.api_key is not None:
            kid = key_id(self.api_key)
            details: dict[str, Any] = {"auth": "api-key", "authenticated_by": f"api-key:{kid}", "key_id": kid}
            return {**details, "correlationId": self.correlation_id} if self.correlation_id else details
        return {"auth": "none", "authenticated_by": "none"}


@dataclass(frozen=True)
class AuthDecision:
    """The outcome: the handshake (always), and when refused why (`error`, for the log and the 401 body),
    which credential kind failed (for the metrics) and whether to answer with HTTP 401 at once."""

    handshake: Handshake
    error: str | None = None
    kind: str = "api-key"  # "genesys", "jwt" or "api-key"
    reject_with_401: bool = True  # answer at once (else: accept, and let the session say `unauthorized`)
    status: int = 401

    @property
    def refused(self) -> bool:
        return self.error is not None


def _single_valued(raw_headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str], str | None]:
    """The headers by lowercase name, and the first credential header that appears more than once."""
    headers: dict[str, str] = {}
    repeated: str | None = None
    for name, value in raw_headers:
        key = name.lower()
        if key in headers and key in CREDENTIAL_HEADERS and repeated is None:
            repeated = key
        headers[key] = value
    return headers, repeated


class Authenticator:
    """Checks upgrade requests against the configured API keys, client secrets and JWT keys."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        jwt_config = JwtConfig.from_settings(
            settings.jwt_secret,
            settings.jwt_public_key,
            settings.jwt_audience,
            settings.jwt_issuer,
            settings.jwt_leeway_s,
            settings.jwt_max_age_s,
        )  # raises ConfigurationError for an unusable key, before anything is served
        self.jwt = JwtVerifier(jwt_config) if jwt_config.enabled else None
        if self.jwt is not None and settings.jwt_audience is None:
            log.warning(
                "JWTs are accepted for any audience: set --jwt-audience (AUDIOHOOK_JWT_AUDIENCE) to accept only "
                "tokens minted for this server"
            )
        self.signatures = SignatureVerifier(
            {k.key: k.secret for k in settings.api_keys},
            max_age=settings.signature_max_age_s,
            clock_skew=settings.signature_clock_skew_s,
        )
        self.nonces = nonce_store(settings.nonce_store, self.signatures.nonce_ttl)

    def is_genesys(self, headers: Mapping[str, str]) -> bool:
        dialect = self.settings.dialect
        return dialect == "genesys" or (dialect == "auto" and any(h in headers for h in GENESYS_HEADERS))

    async def authenticate(self, target: str, raw_headers: Iterable[tuple[str, str]], *, live: bool) -> AuthDecision:
        """Decide on a request for `target` (path and query, as sent) with its headers as sent (any case,
        in order); `live` for `/ws/transcribe`."""
        headers, repeated = _single_valued(raw_headers)
        if repeated is not None:
            name = repeated.title() if repeated != "x-api-key" else "X-API-KEY"
            return AuthDecision(Handshake(None), f"the {name} header appears more than once", "duplicate", status=400)
        token = token_from_request(target, headers) if self.jwt is not None else None
        if live:
            return self._jwt(token, "live")
        if self.is_genesys(headers):
            return await self._genesys(target, headers)
        if token is not None:
            return self._jwt(token, "simple" if self.settings.dialect == "simple" else None)
        return self._api_key(urlsplit(target).query, headers)

    async def authenticate_http(self, raw_headers: Iterable[tuple[str, str]], query: str) -> AuthDecision:
        """An HTTP API request: its API key in `X-API-Key` (or `?api_key=`, `?x-api-key=`), or a bearer JWT."""
        headers, repeated = _single_valued(raw_headers)
        if repeated is not None:
            name = repeated.title() if repeated != "x-api-key" else "X-API-KEY"
            return AuthDecision(Handshake(None), f"the {name} header appears more than once", "duplicate", status=400)
        if self.jwt is not None and (token := token_from_request(query, headers)) is not None:
            return self._jwt(token, "http")
        if "x-api-key" not in headers:
            values = parse_qs(query, keep_blank_values=True).get("api_key")
            if values:
                headers["x-api-key"] = values[0]
        return self._api_key(query, headers)

    async def _genesys(self, target: str, headers: Mapping[str, str]) -> AuthDecision:
        handshake = Handshake(
            "genesys",
            api_key=headers.get("x-api-key"),
            session_id=headers.get("audiohook-session-id"),
            organization_id=headers.get("audiohook-organization-id"),
            correlation_id=headers.get("audiohook-correlation-id"),
        )
        if self.settings.insecure_no_auth:
            return AuthDecision(handshake, kind="genesys")
        authority = self.settings.public_authority or headers.get("host", "")
        try:
            checked = self.signatures.check(SignedRequest(target, authority, headers), now=time.time())
            if checked.nonce is not None and not await self.nonces.first_use(checked.nonce, self.signatures.nonce_ttl):
                raise SignatureError("nonce was already used (replay)")
        except SignatureError as exc:
            reason = f"Genesys authentication failed: {exc}"
            return AuthDecision(
                dataclasses.replace(handshake, unauthorized_reason=reason),
                reason,
                "genesys",
                reject_with_401=self.settings.auth_failure != "disconnect",
            )
        except NonceStoreUnavailable as exc:
            log.error("refusing a Genesys handshake: %s (%s)", exc, self.settings.nonce_store.split("@")[-1])
            return AuthDecision(handshake, f"{exc}: try again", "nonce-store", status=503)
        if handshake.api_key is not None and key_id(handshake.api_key) in self.settings.ui_only_key_ids:
            reason = "Genesys authentication failed: this API key may only log into the supervisor pages"
            return AuthDecision(
                dataclasses.replace(handshake, unauthorized_reason=reason),
                reason,
                "genesys",
                reject_with_401=self.settings.auth_failure != "disconnect",
            )
        return AuthDecision(handshake, kind="genesys")

    def _jwt(self, token: str | None, dialect: str | None) -> AuthDecision:
        """A JWT in `Authorization: Bearer …` or `?token=`: the live endpoint, or instead of an API key."""
        if self.settings.insecure_no_auth and token is None:
            return AuthDecision(Handshake(dialect), kind="jwt")
        if self.jwt is None:
            return AuthDecision(Handshake(dialect), "unauthorized: JWT authentication is not configured", "jwt")
        try:
            identity = self.jwt.verify(token)
        except JwtError as exc:
            return AuthDecision(Handshake(dialect), f"unauthorized: {exc.reason}", "jwt")
        return AuthDecision(Handshake(dialect, jwt=identity), kind="jwt")

    def _api_key(self, query: str, headers: Mapping[str, str]) -> AuthDecision:
        dialect = "simple" if self.settings.dialect == "simple" else None
        if self.settings.insecure_no_auth:
            return AuthDecision(Handshake(dialect))
        result = check_api_key(presented_api_key(query, headers), self.settings.api_keys)
        if result.error is not None:
            return AuthDecision(Handshake(dialect), result.error)
        assert result.key is not None
        if result.key.secret is not None:
            # A key with a secret must sign (Genesys). Its unsigned use gets the same answer as an unknown
            # key, so that the answer does not tell which keys exist; the log says what happened.
            log.warning("an API key with a client secret was used unsigned (the simple dialect): refused")
            return AuthDecision(Handshake(dialect), "invalid API key")
        if key_id(result.key.key) in self.settings.ui_only_key_ids:
            return AuthDecision(Handshake(dialect), "this API key may only log into the supervisor pages (/ui/)")
        return AuthDecision(Handshake(dialect, api_key=result.key.key))
