"""Who may see the supervisor pages: a login with an API key or a JWT, then a signed session cookie.

The pages and their event streams show what customers said, so nothing under `/ui/` answers without a
login (the login page aside). A login exchanges a credential the server already trusts (an API key of
`--api-keys` allowed by `--ui-keys`, or a JWT the doors would accept) for a session cookie:

- **signed**, not stored: itsdangerous' `URLSafeTimedSerializer` (HMAC-SHA1 over the payload, with a
  timestamp checked against `--ui-session-s`), keyed by `--ui-secret` (random per process when unset:
  logins then end at a restart and do not cross replicas). The cookie holds the principal's name
  (`api-key:<key id>` or `jwt:<subject>`, never the key or the token), a random session id and the
  session's CSRF token;
- **HttpOnly** (no script reads it), **SameSite=Strict** (no other site's page sends it), `Secure` when
  the server speaks TLS itself or a TLS proxy in front says the browser did (`X-Forwarded-Proto`),
  `Path=/ui`;
- **CSRF-safe**: the two state-changing requests (login, logout) are POSTs that must come from a page
  of this server (`Origin`, else `Sec-Fetch-Site`, must say so), and logout must carry the session's
  CSRF token (the pages embed it); every other route is a GET that changes nothing;
- **revocable**: logout adds the session id to a revocation list kept until the cookie would have
  expired anyway (per process, like a random secret).

itsdangerous (Pallets, the signer Flask's and Starlette's sessions use) rather than hand-written HMAC
code: its timestamped serializer is the well-trodden way to do exactly this.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from audiohook_server.auth.api_keys import check_api_key, key_id
from audiohook_server.auth.tokens import JwtError

if TYPE_CHECKING:
    from starlette.requests import Request

    from audiohook_server.auth.handshake import Authenticator
    from audiohook_server.settings import Settings

__all__ = ["COOKIE_NAME", "UiAccess", "UiSession"]

log = logging.getLogger(__name__)

COOKIE_NAME = "audiohook_ui"
COOKIE_PATH = "/ui"
SALT = "audiohook-ui-session"
MAX_CREDENTIAL_CHARS = 8192


@dataclass(frozen=True)
class UiSession:
    principal: str  # api-key:<key id>, jwt:<subject> or none
    session_id: str
    csrf: str
    issued_at: float


class LoginRefused(Exception):
    """A login that failed: the message says why, without saying which keys exist."""


class UiAccess:
    def __init__(self, settings: Settings, authenticator: Authenticator) -> None:
        self.settings = settings
        self.authenticator = authenticator
        secret = settings.ui_secret
        if secret is None:
            secret = secrets.token_hex(32)  # logins last until this process stops (docs/ui.md)
        self._signer = URLSafeTimedSerializer(secret, salt=SALT)
        self.max_age_s = settings.ui_session_s
        self._revoked: dict[str, float] = {}  # session id -> when its cookie expires anyway

    # ---- logging in and out --------------------------------------------------------------------

    def login(self, credential: str) -> UiSession:
        """A new session for a valid credential; LoginRefused otherwise."""
        credential = credential.strip()
        if len(credential) > MAX_CREDENTIAL_CHARS:
            raise LoginRefused("invalid API key or token")
        principal = self._principal(credential)
        return UiSession(principal, secrets.token_urlsafe(16), secrets.token_urlsafe(24), time.time())

    def _principal(self, credential: str) -> str:
        if self.settings.insecure_no_auth and not credential:
            return "none"
        jwt = self.authenticator.jwt
        if (
            jwt is not None
            and credential.count(".") == 2
            and not any(k.key == credential for k in self.settings.api_keys)
        ):
            try:
                identity = jwt.verify(credential)
            except JwtError as exc:
                raise LoginRefused(f"the token was refused: {exc.reason}") from None
            return f"jwt:{identity.subject or 'unnamed'}"
        result = check_api_key(credential, self.settings.api_keys)
        if result.key is None:
            if self.settings.insecure_no_auth:
                return "none"
            raise LoginRefused("invalid API key or token")
        kid = key_id(result.key.key)
        allowed = self.settings.ui_key_ids
        if allowed is not None and kid not in allowed and kid not in self.settings.ui_only_key_ids:
            raise LoginRefused("this API key may not log into the supervisor pages")
        return f"api-key:{kid}"

    def cookie_value(self, session: UiSession) -> str:
        return self._signer.dumps([session.principal, session.session_id, session.csrf, session.issued_at])

    def logout(self, session: UiSession) -> None:
        now = time.time()
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        self._revoked[session.session_id] = session.issued_at + self.max_age_s

    # ---- each request --------------------------------------------------------------------------

    def session_of(self, request: Request) -> UiSession | None:
        """The request's valid, unexpired, not revoked session, or None."""
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie or len(cookie) > 4096:
            return None
        try:
            value = self._signer.loads(cookie, max_age=int(self.max_age_s))
        except BadSignature:  # includes SignatureExpired
            return None
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value[:3])):
            return None
        principal, session_id, csrf, issued = value
        if not isinstance(issued, int | float) or session_id in self._revoked:
            return None
        return UiSession(principal, session_id, csrf, float(issued))

    @staticmethod
    def csrf_matches(session: UiSession, token: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), token.encode("utf-8", "surrogatepass"))

    def same_origin(self, request: Request) -> bool:
        """A state-changing request came from one of this server's pages (not another site's form): its
        Origin is the Host it was sent to (or `--public-authority`, the name clients use behind a proxy)."""
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            hosts = {request.headers.get("host", ""), self.settings.public_authority or ""} - {""}
            return urlsplit(origin).netloc in hosts
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        return origin is None  # a client without either header (curl, a script) is not a browser's cross-site form

    def secure_cookie(self, request: Request) -> bool:
        """Whether the cookie is `Secure`: the server speaks TLS, or a TLS proxy in front says the browser
        did (X-Forwarded-Proto; trusting it costs nothing: a false claim only keeps the cookie off http)."""
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return self.settings.tls_cert is not None or request.url.scheme == "https" or forwarded == "https"
