"""RFC 9421 HTTP message signatures as Genesys AudioHook signs its WebSocket upgrade requests.

Pure computation: the caller passes the request's target, authority and headers, the configured
keys and the current time; nothing here reads a clock or a socket. Headers are parsed with
`http-sfv` (RFC 8941 structured fields) rather than by hand.

Rules (those of the AudioHook reference server):
- label `sig1`; covered components exactly `@request-target`, `@authority`,
  `audiohook-organization-id`, `audiohook-session-id`, `audiohook-correlation-id`, `x-api-key`;
- `alg="hmac-sha256"`, `keyid` equal to the `X-API-KEY` header, a `nonce` of at least 22 characters
  that was not seen before, `created` no older than `max_age` (plus clock skew) and not in the future,
  `expires` not passed;
- the HMAC key is the base64-decoded client secret; digests are compared in constant time;
- an unknown key fails exactly like a wrong one; an unsigned request passes only for a key configured
  without a secret.
The reason for a failure is returned for the server's log; the client only learns "unauthorized".

Replays: `check` verifies everything but whether the nonce was seen before and returns the nonce; the
caller remembers it for `nonce_ttl`. `verify` adds this verifier's own `NonceCache`. A deployment of
several replicas remembers nonces in a store they share instead (the server's `auth.nonces`), since a
nonce remembered by one process alone can be replayed once to each other one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList

from protocol.credentials import lookup_key

SIGNATURE_LABEL = "sig1"
REQUIRED_COMPONENTS = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
MIN_NONCE_LENGTH = 22


class SignatureError(Exception):
    """The request's signature (or its absence) is not acceptable; the message is for the log."""


def signature_base(components: Mapping[str, str], signature_params: str) -> bytes:
    """The RFC 9421 signature base: one `"name": value` line per component, then `@signature-params`."""
    lines = [f'"{name}": {value}' for name, value in components.items()]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("utf-8")


def sign(secret: bytes, base: bytes) -> str:
    """HMAC-SHA256 of the signature base, base64: what goes between the colons of `Signature`."""
    return base64.b64encode(hmac.new(secret, base, hashlib.sha256).digest()).decode("ascii")


@dataclass
class NonceCache:
    """Nonces seen within the acceptance window; a nonce seen twice is a replay."""

    ttl: float
    max_entries: int = 100_000
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def check_and_add(self, nonce: str, now: float) -> bool:
        """True when the nonce is new (and remember it), False when it is a replay."""
        while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) >= self.max_entries):
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now + self.ttl
        return True


@dataclass(frozen=True)
class CheckedSignature:
    """A request whose key and signature verified: the key, and the nonce to check for replays (None for an
    unsigned request of a key without a secret)."""

    api_key: str
    nonce: str | None


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs from the upgrade request."""

    request_target: str  # path and query, as sent
    authority: str  # the Host header, or the configured public authority behind a proxy
    headers: Mapping[str, str]  # case-insensitive lookup is the caller's job: pass lowercase names


@dataclass
class SignatureVerifier:
    """Checks X-API-KEY and, where the key has a secret, the request's signature."""

    secrets: Mapping[str, bytes | None]  # API key -> base64-decoded client secret (None: unsigned allowed)
    max_age: float = 10.0
    clock_skew: float = 3.0
    nonces: NonceCache = field(init=False)

    def __post_init__(self) -> None:
        self.nonces = NonceCache(ttl=self.nonce_ttl)

    @property
    def nonce_ttl(self) -> float:
        """How long a nonce must be remembered: as long as a signature carrying it is acceptable."""
        return self.max_age + 2 * self.clock_skew

    def verify(self, request: SignedRequest, now: float) -> str:
        """Return the authenticated API key, or raise SignatureError saying why not (replays included,
        remembered by this verifier only)."""
        checked = self.check(request, now)
        if checked.nonce is not None and not self.nonces.check_and_add(checked.nonce, now):
            raise SignatureError("nonce was already used (replay)")
        return checked.api_key

    def check(self, request: SignedRequest, now: float) -> CheckedSignature:
        """Everything but the replay check: the key, and the nonce to remember (None when unsigned)."""
        try:
            return self._check(request, now)
        except UnicodeError as exc:  # header values that are not text (lone surrogates)
            raise SignatureError("request headers are not valid text") from exc

    def _check(self, request: SignedRequest, now: float) -> CheckedSignature:
        headers = request.headers
        api_key = headers.get("x-api-key", "")
        known, secret = lookup_key(api_key, self.secrets.items())
        signature_input = headers.get("signature-input")
        signature = headers.get("signature")
        if signature_input is None and signature is None:
            if secret is None and known:
                return CheckedSignature(api_key, None)
            raise SignatureError("request is not signed, and the key requires a signature")
        if signature_input is None or signature is None:
            raise SignatureError("Signature and Signature-Input must both be present")

        params_member, digest = self._parse(signature_input, signature)
        params = params_member.params
        covered = [str(item.value) for item in params_member]
        if tuple(covered) != REQUIRED_COMPONENTS:
            raise SignatureError(f"covered components {covered} are not {list(REQUIRED_COMPONENTS)}")
        if params.get("alg") != "hmac-sha256":
            raise SignatureError(f"unsupported signature algorithm {params.get('alg')!r}")
        keyid = params.get("keyid")
        if not isinstance(keyid, str) or not hmac.compare_digest(keyid.encode(), api_key.encode()):
            raise SignatureError("keyid does not match X-API-KEY")
        nonce = params.get("nonce")
        if not isinstance(nonce, str) or len(nonce) < MIN_NONCE_LENGTH:
            raise SignatureError(f"nonce missing or shorter than {MIN_NONCE_LENGTH} characters")
        created, expires = params.get("created"), params.get("expires")
        if not isinstance(created, int) or isinstance(created, bool):
            raise SignatureError("signature has no 'created' time")
        if created > now + self.clock_skew:
            raise SignatureError(f"signature created {created - now:.0f} s in the future")
        if now - created > self.max_age + self.clock_skew:
            raise SignatureError(f"signature is {now - created:.0f} s old (limit {self.max_age:.0f} s)")
        if expires is not None and (not isinstance(expires, int) or expires < now - self.clock_skew):
            raise SignatureError("signature has expired")

        components = {
            "@request-target": request.request_target,
            "@authority": request.authority,
            **{name: headers.get(name, "") for name in REQUIRED_COMPONENTS[2:]},
        }
        expected = sign(secret or b"", signature_base(components, str(params_member)))
        # The digest is compared even for an unknown key (against a dummy secret): same work, same answer.
        valid = hmac.compare_digest(expected.encode(), base64.b64encode(digest))
        if secret is None or not valid:
            raise SignatureError("signature does not verify" if secret is not None else "unknown API key")
        return CheckedSignature(api_key, nonce)

    @staticmethod
    def _parse(signature_input: str, signature: str) -> tuple[InnerList, bytes]:
        try:
            inputs = Dictionary()
            inputs.parse(signature_input.encode("ascii"))
            signatures = Dictionary()
            signatures.parse(signature.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise SignatureError(f"malformed signature headers: {exc}") from exc
        if SIGNATURE_LABEL not in inputs or SIGNATURE_LABEL not in signatures:
            raise SignatureError(f"no '{SIGNATURE_LABEL}' signature")
        member = inputs[SIGNATURE_LABEL]
        digest = signatures[SIGNATURE_LABEL].value
        if not isinstance(member, InnerList) or not isinstance(digest, bytes):
            raise SignatureError("signature headers have the wrong structure")
        return member, digest
