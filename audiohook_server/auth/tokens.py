"""JWT bearer tokens at the WebSocket handshake: the live-transcription endpoint, and `/audiohook` as an
alternative to the API key.

A client presents its token as `Authorization: Bearer TOKEN` (preferred: query strings end up in proxy
logs) or `?token=TOKEN` (`token_from_request`). `JwtVerifier.verify` checks it and returns who it is
(`JwtIdentity`), or raises `JwtError` whose `reason` is short and safe to put in the HTTP 401 body.

Rules:
- Algorithms are allow-listed from what is configured: HS256 only when a shared secret is set, RS256 only
  when an RSA public key is set. `none` and every other algorithm are refused before any cryptography
  runs. Each algorithm has its own key, chosen by the server, never by the token: an RS256 public key is
  never used as an HS256 secret (the algorithm-confusion attack), because HS256 only ever gets the
  secret.
- `exp` is required. `exp`, `nbf` and `iat` are checked with `leeway_s` of clock skew (a token issued in
  the future beyond the leeway is refused), and must be numbers.
- `aud` and `iss` are checked when configured, and ignored when not (an operator who sets no audience
  accepts tokens minted for any audience: the server says so at start-up).
- A token whose `exp` is more than `max_age_s` (24 h by default) away is refused: a token that never
  expires is a stolen token that never expires.
- Key hygiene is enforced at start (`ConfigurationError`): an HS256 secret of at least 32 bytes
  (RFC 7518 §3.2) and an RSA public key (PEM, or an X.509 certificate) of at least 2048 bits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.exceptions import InvalidSubjectError

from audiohook_server.settings import ConfigurationError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "MIN_HS256_SECRET_BYTES",
    "MIN_RSA_KEY_BITS",
    "JwtConfig",
    "JwtError",
    "JwtIdentity",
    "JwtVerifier",
    "token_from_request",
]

MAX_TOKEN_LENGTH = 8192  # longer "tokens" are refused before any parsing
MIN_HS256_SECRET_BYTES = 32  # RFC 7518 §3.2: a key at least as long as the hash output
MIN_RSA_KEY_BITS = 2048
_TIME_CLAIMS = ("exp", "nbf", "iat")


class JwtError(Exception):
    """A token was refused; `reason` is short, says why, and is fit for the HTTP 401 body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JwtIdentity:
    """Who a verified token speaks for: its `sub` (None when it has none), all its claims, and the
    algorithm it was signed with. Recorded with the session."""

    subject: str | None
    claims: dict[str, Any]
    algorithm: str


@dataclass(frozen=True)
class JwtConfig:
    """What JWT verification accepts. Keys are bytes: the caller reads files (`from_settings` does)."""

    hs256_secret: bytes | None = field(default=None, repr=False)
    rs256_public_key_pem: bytes | None = field(default=None, repr=False)
    audience: str | None = None
    issuer: str | None = None
    leeway_s: float = 30.0
    max_age_s: float = 86400.0

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured (else JWT authentication is off)."""
        return self.hs256_secret is not None or self.rs256_public_key_pem is not None

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The allow-list: HS256 with a secret, RS256 with a public key."""
        allowed: list[str] = []
        if self.hs256_secret is not None:
            allowed.append("HS256")
        if self.rs256_public_key_pem is not None:
            allowed.append("RS256")
        return tuple(allowed)

    @classmethod
    def from_settings(
        cls,
        secret: str | None,
        public_key_path: Path | None,
        audience: str | None,
        issuer: str | None,
        leeway_s: float = 30.0,
        max_age_s: float = 86400.0,
    ) -> JwtConfig:
        """Build and validate the configuration from settings (`AUDIOHOOK_JWT_SECRET`,
        `AUDIOHOOK_JWT_PUBLIC_KEY`, ...); reads the public key file. Raises `ConfigurationError` with a
        message that says what to fix. With neither a secret nor a key the result has `enabled` False."""
        for name, value in (("--jwt-secret", secret), ("--jwt-audience", audience), ("--jwt-issuer", issuer)):
            if value is not None and not value:
                raise ConfigurationError(f"{name} is set but empty: give a value or leave it unset")
        pem: bytes | None = None
        if public_key_path is not None:
            pem = _read_key_file(public_key_path)
        config = cls(
            hs256_secret=secret.encode("utf-8") if secret is not None else None,
            rs256_public_key_pem=pem,
            audience=audience,
            issuer=issuer,
            leeway_s=leeway_s,
            max_age_s=max_age_s,
        )
        _validate(config, source=str(public_key_path) if public_key_path is not None else "the RS256 public key")
        return config


def _read_key_file(path: Path) -> bytes:
    where = f"--jwt-public-key / AUDIOHOOK_JWT_PUBLIC_KEY: {path}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{where} is a directory, not a PEM key file") from None
    except OSError as exc:
        raise ConfigurationError(f"{where} cannot be read: {exc.strerror or exc}") from None
    if not data.strip():
        raise ConfigurationError(f"{where} is empty")
    return data


def _validate(config: JwtConfig, source: str) -> dict[str, Any]:
    """Check a configuration and return its verification keys by algorithm."""
    if not (isinstance(config.leeway_s, int | float) and math.isfinite(config.leeway_s) and config.leeway_s >= 0):
        raise ConfigurationError(f"JWT leeway must be a number of seconds >= 0, got {config.leeway_s!r}")
    keys: dict[str, Any] = {}
    if config.hs256_secret is not None:
        if len(config.hs256_secret) < MIN_HS256_SECRET_BYTES:
            raise ConfigurationError(
                f"--jwt-secret / AUDIOHOOK_JWT_SECRET is {len(config.hs256_secret)} bytes: HS256 needs at least "
                f"{MIN_HS256_SECRET_BYTES} (e.g. `openssl rand -base64 48`)"
            )
        keys["HS256"] = config.hs256_secret
    if config.rs256_public_key_pem is not None:
        keys["RS256"] = _load_rsa_public_key(config.rs256_public_key_pem, source)
    return keys


def _load_rsa_public_key(pem: bytes, source: str) -> RSAPublicKey:
    """An RSA public key from a PEM public key (SPKI or PKCS#1) or an X.509 certificate."""
    if b"PRIVATE KEY" in pem:
        raise ConfigurationError(
            f"{source} holds a private key: give the server only the public key "
            "(`openssl rsa -in private.pem -pubout -out public.pem`)"
        )
    try:
        if b"-----BEGIN CERTIFICATE-----" in pem:
            key: object = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = load_pem_public_key(pem)
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not a PEM RSA public key or certificate: {exc}") from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigurationError(f"{source} is a {type(key).__name__.lstrip('_')}: RS256 needs an RSA public key")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ConfigurationError(f"{source} is a {key.key_size}-bit RSA key: RS256 needs at least {MIN_RSA_KEY_BITS}")
    return key


def _printable(value: object, limit: int = 40) -> str:
    """A token-controlled value made safe for a log line or a 401 body: printable ASCII, bounded."""
    text = str(value)[:limit]
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


class JwtVerifier:
    """Verifies tokens against a `JwtConfig`. Build it once at start: it raises `ConfigurationError` for
    a bad or missing key."""

    def __init__(self, config: JwtConfig) -> None:
        self.config = config
        self._keys = _validate(config, source="the RS256 public key")
        if not self._keys:
            raise ConfigurationError(
                "JWT authentication needs --jwt-secret (HS256) or --jwt-public-key (RS256), or both"
            )

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def verify(self, token: str | None, now: float | None = None) -> JwtIdentity:
        """The identity of a valid token; `JwtError` with the reason otherwise."""
        if not token:
            raise JwtError("missing token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise JwtError(f"malformed token: longer than {MAX_TOKEN_LENGTH} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise JwtError(f"malformed token: {_printable(exc, 80)}") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or not algorithm:
            raise JwtError("malformed token: no 'alg' in its header")
        # The key is chosen by the algorithm, and only configured algorithms have one: `none`, HS384,
        # ES256... and HS256 without a secret are refused here, before any cryptography.
        key = self._keys.get(algorithm)
        if key is None:
            allowed = ", ".join(self._keys)
            raise JwtError(f"algorithm {_printable(algorithm)} not allowed (allowed: {allowed})")
        config = self.config
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={
                    "require": ["exp"],
                    "verify_aud": config.audience is not None,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise JwtError(_reason(exc)) from None
        for claim in _TIME_CLAIMS:
            value = claims.get(claim)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise JwtError(f"malformed token: '{claim}' must be a number (seconds since the epoch)")
        remaining = float(claims["exp"]) - (time.time() if now is None else now)
        if remaining > config.max_age_s + config.leeway_s:
            raise JwtError(
                f"token lifetime too long: it expires in {remaining:.0f} s, more than the {config.max_age_s:.0f} s "
                "this server accepts"
            )
        subject = claims.get("sub")
        return JwtIdentity(subject if isinstance(subject, str) else None, claims, algorithm)


def _reason(exc: jwt.PyJWTError) -> str:
    """PyJWT's exception, as a short reason for the 401 body (most specific classes first)."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid (issued in the future)" if "(iat)" in str(exc) else "token not yet valid"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        if exc.claim == "aud":
            return "invalid audience: the token has no 'aud' claim"
        if exc.claim == "iss":
            return "invalid issuer: the token has no 'iss' claim"
        return f"missing required claim '{_printable(exc.claim)}'"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "invalid audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "invalid issuer"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "signature verification failed"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed"
    if isinstance(exc, jwt.InvalidIssuedAtError):
        return "malformed token: 'iat' must be a number (seconds since the epoch)"
    if isinstance(exc, InvalidSubjectError):
        return "malformed token: 'sub' must be a string"
    if isinstance(exc, jwt.InvalidKeyError):
        return "signature verification failed"
    return f"malformed token: {_printable(exc, 80)}"


def token_from_request(path_query: str, headers: Mapping[str, str]) -> str | None:
    """The bearer token of a handshake: `Authorization: Bearer TOKEN` (scheme case-insensitive) first,
    else `?token=TOKEN`. `path_query` is the request target (`/ws/transcribe?token=...`) or just its
    query string. None when neither carries a token."""
    authorization = _header(headers, "authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    query = urlsplit(path_query).query if "?" in path_query else path_query
    values = parse_qs(query, keep_blank_values=True).get("token")
    if values and values[0]:
        return values[0]
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from a plain dict or websockets' `Headers` (a header sent twice
    counts as absent: which one is meant is ambiguous)."""
    try:
        value = headers.get(name)
        if value is not None:
            return value
        found = [v for k, v in headers.items() if k.lower() == name]
    except LookupError:  # websockets' MultipleValuesError
        return None
    return found[0] if len(found) == 1 else None
