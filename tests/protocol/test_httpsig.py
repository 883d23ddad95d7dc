"""RFC 9421 signature verification: the spec's golden vector and every rejection rule."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pytest

from protocol.httpsig import (
    NonceCache,
    SignatureError,
    SignatureVerifier,
    SignedRequest,
    sign,
    signature_base,
)

# The golden vector from the AudioHook protocol reference (verified against the reference implementation).
API_KEY = "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"
SECRET = base64.b64decode("TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=")
PATH = "/api/v1/voicebiometrics/ws"
HOST = "audiohook.example.com"
HEADERS = {
    "audiohook-organization-id": "d7934305-0972-4844-938e-9060eef73d05",
    "audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    "audiohook-correlation-id": "e160e428-53e2-487c-977d-96989bf5c99d",
    "x-api-key": API_KEY,
}
COMPONENTS = '("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" "audiohook-correlation-id" "x-api-key")'  # noqa: E501
PARAMS = f'{COMPONENTS};keyid="{API_KEY}";nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430'  # noqa: E501
DIGEST = "NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4="
CREATED = 1641013200


def _request(params: str = PARAMS, digest: str = DIGEST, **overrides: str) -> SignedRequest:
    headers = {**HEADERS, "signature-input": f"sig1={params}", "signature": f"sig1=:{digest}:"}
    headers.update(overrides)
    return SignedRequest(PATH, HOST, {k: v for k, v in headers.items() if v is not None})


def _verifier(secrets: Mapping[str, bytes | None] | None = None) -> SignatureVerifier:
    return SignatureVerifier(secrets if secrets is not None else {API_KEY: SECRET})


def _signed(params: str, *, target: str = PATH, authority: str = HOST, secret: bytes = SECRET) -> SignedRequest:
    components = {"@request-target": target, "@authority": authority, **{k: HEADERS[k] for k in list(HEADERS)}}
    digest = sign(secret, signature_base(components, params))
    return SignedRequest(
        target, authority, {**HEADERS, "signature-input": f"sig1={params}", "signature": f"sig1=:{digest}:"}
    )


def test_golden_vector_digest() -> None:
    components = {"@request-target": PATH, "@authority": HOST, **HEADERS}
    assert sign(SECRET, signature_base(components, PARAMS)) == DIGEST


def test_golden_vector_verifies() -> None:
    assert _verifier().verify(_request(), now=CREATED + 1) == API_KEY


def test_replayed_nonce_is_refused() -> None:
    verifier = _verifier()
    verifier.verify(_request(), now=CREATED + 1)
    with pytest.raises(SignatureError, match="replay"):
        verifier.verify(_request(), now=CREATED + 2)


@pytest.mark.parametrize(
    ("now", "fragment"),
    [(CREATED + 14, "s old"), (CREATED - 10, "in the future")],
)
def test_created_window(now: float, fragment: str) -> None:
    with pytest.raises(SignatureError, match=fragment):
        _verifier().verify(_request(), now=now)


def test_clock_skew_is_tolerated() -> None:
    _verifier().verify(_request(), now=CREATED + 12)  # 10 s window + 3 s skew
    _verifier().verify(_request(), now=CREATED - 2)


def test_expired_signature() -> None:
    params = PARAMS.replace("expires=3282026430", f"expires={CREATED + 5}")
    with pytest.raises(SignatureError, match="expired"):
        _verifier().verify(_signed(params), now=CREATED + 9)


def test_tampered_header_or_target_fails() -> None:
    tampered = _request()
    headers = dict(tampered.headers, **{"audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c1"})
    with pytest.raises(SignatureError, match="does not verify"):
        _verifier().verify(SignedRequest(PATH, HOST, headers), now=CREATED + 1)
    with pytest.raises(SignatureError, match="does not verify"):
        _verifier().verify(SignedRequest(PATH + "?x=1", HOST, _request().headers), now=CREATED + 1)
    with pytest.raises(SignatureError, match="does not verify"):
        _verifier().verify(SignedRequest(PATH, "proxy.internal:8080", _request().headers), now=CREATED + 1)


def test_wrong_digest_fails() -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        _verifier().verify(_request(digest=base64.b64encode(b"x" * 32).decode()), now=CREATED + 1)


def test_unknown_key_fails_like_a_wrong_one() -> None:
    verifier = _verifier({"another-key": SECRET})
    with pytest.raises(SignatureError) as info:
        verifier.verify(_request(), now=CREATED + 1)
    assert "unknown API key" in str(info.value)


def test_unsigned_requests_only_for_keys_without_secret() -> None:
    unsigned = SignedRequest(PATH, HOST, dict(HEADERS))
    assert _verifier({API_KEY: None}).verify(unsigned, now=0) == API_KEY
    with pytest.raises(SignatureError, match="not signed"):
        _verifier().verify(unsigned, now=0)
    with pytest.raises(SignatureError, match="not signed"):
        _verifier({"other": None}).verify(unsigned, now=0)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (PARAMS.replace(' "x-api-key")', ")"), "covered components"),
        (PARAMS.replace("hmac-sha256", "rsa-pss-sha512"), "unsupported signature algorithm"),
        (PARAMS.replace(f'keyid="{API_KEY}"', 'keyid="someone-else"'), "keyid does not match"),
        (PARAMS.replace("VGhpc0lzQVVuaXF1ZU5vbmNl", "short"), "nonce"),
        (PARAMS.replace(";created=1641013200", ""), "no 'created'"),
    ],
)
def test_signature_parameter_rules(params: str, fragment: str) -> None:
    with pytest.raises(SignatureError, match=fragment):
        _verifier().verify(_signed(params), now=CREATED + 1)


@pytest.mark.parametrize(
    "overrides",
    [
        {"signature-input": "sig1=(unterminated"},
        {"signature": "sig1=not-bytes"},
        {"signature-input": f"sig2={PARAMS}"},
    ],
)
def test_malformed_signature_headers(overrides: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        _verifier().verify(_request(**overrides), now=CREATED + 1)


def test_half_a_signature_is_refused() -> None:
    headers = {k: v for k, v in _request().headers.items() if k != "signature"}
    with pytest.raises(SignatureError, match="both"):
        _verifier().verify(SignedRequest(PATH, HOST, headers), now=CREATED + 1)


def test_nonce_cache_forgets_after_its_window() -> None:
    cache = NonceCache(ttl=10)
    assert cache.check_and_add("n" * 22, now=0)
    assert not cache.check_and_add("n" * 22, now=5)
    assert cache.check_and_add("n" * 22, now=11)
