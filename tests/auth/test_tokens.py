"""JWT verification for the live endpoint: real PyJWT, tokens minted here with keys generated here."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from audiohook_server.auth.tokens import (
    MAX_TOKEN_LENGTH,
    JwtConfig,
    JwtError,
    JwtIdentity,
    JwtVerifier,
    token_from_request,
)
from audiohook_server.settings import ConfigurationError

SECRET = b"s3cret-shared-between-issuer-and-server-0123456789"  # 50 bytes
OTHER_SECRET = b"another-secret-that-is-also-long-enough-0123456789"


def _public_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return _public_pem(rsa_key)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "agent-42", "iat": now, "exp": now + 600, "tenant": "acme"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs256(secret: bytes = SECRET, **overrides: Any) -> str:
    return jwt.encode(_claims(**overrides), secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _hand_signed_hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token made without PyJWT (which refuses PEM keys as HMAC secrets, as it should)."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _reason(verifier: JwtVerifier, token: str | None) -> str:
    with pytest.raises(JwtError) as caught:
        verifier.verify(token)
    return caught.value.reason


@pytest.fixture
def hs_verifier() -> JwtVerifier:
    return JwtVerifier(JwtConfig(hs256_secret=SECRET))


@pytest.fixture
def rs_verifier(public_pem: bytes) -> JwtVerifier:
    return JwtVerifier(JwtConfig(rs256_public_key_pem=public_pem))


# ---- valid tokens ------------------------------------------------------------------------------------


def test_hs256_token_gives_its_identity(hs_verifier: JwtVerifier) -> None:
    identity = hs_verifier.verify(_hs256())
    assert isinstance(identity, JwtIdentity)
    assert identity.subject == "agent-42" and identity.algorithm == "HS256"
    assert identity.claims["tenant"] == "acme" and "exp" in identity.claims


def test_rs256_token_gives_its_identity(rs_verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(_claims(sub="svc-transcriber"), rsa_key, algorithm="RS256")
    identity = rs_verifier.verify(token)
    assert identity.subject == "svc-transcriber" and identity.algorithm == "RS256"


def test_both_algorithms_when_both_keys_are_configured(public_pem: bytes, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JwtVerifier(JwtConfig(hs256_secret=SECRET, rs256_public_key_pem=public_pem))
    assert verifier.algorithms == ("HS256", "RS256")
    assert verifier.verify(_hs256()).algorithm == "HS256"
    assert verifier.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256")).algorithm == "RS256"


def test_token_without_subject_is_accepted_with_no_subject(hs_verifier: JwtVerifier) -> None:
    assert hs_verifier.verify(_hs256(sub=None)).subject is None


# ---- time claims -------------------------------------------------------------------------------------


def test_expired_token_is_refused(hs_verifier: JwtVerifier) -> None:
    now = int(time.time())
    assert _reason(hs_verifier, _hs256(iat=now - 7200, exp=now - 3600)) == "token expired"


def test_expiry_within_the_leeway_is_tolerated() -> None:
    now = int(time.time())
    token = _hs256(iat=now - 600, exp=now - 5)
    assert JwtVerifier(JwtConfig(hs256_secret=SECRET, leeway_s=60)).verify(token).subject == "agent-42"
    assert _reason(JwtVerifier(JwtConfig(hs256_secret=SECRET, leeway_s=0)), token) == "token expired"


def test_not_yet_valid_token_is_refused(hs_verifier: JwtVerifier) -> None:
    now = int(time.time())
    assert _reason(hs_verifier, _hs256(nbf=now + 3600, exp=now + 7200)) == "token not yet valid"
    assert hs_verifier.verify(_hs256(nbf=now + 5)).subject == "agent-42"  # within the 30 s leeway


def test_token_issued_in_the_future_is_refused(hs_verifier: JwtVerifier) -> None:
    now = int(time.time())
    reason = _reason(hs_verifier, _hs256(iat=now + 3600, exp=now + 7200))
    assert reason.startswith("token not yet valid") and "issued in the future" in reason


def test_exp_is_required(hs_verifier: JwtVerifier) -> None:
    assert _reason(hs_verifier, _hs256(exp=None)) == "missing required claim 'exp'"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(hs_verifier: JwtVerifier, claim: str) -> None:
    value = str(int(time.time()) + 600 if claim == "exp" else int(time.time()) - 10)
    token = jwt.encode(_claims(**{claim: value}), SECRET, algorithm="HS256")
    assert _reason(hs_verifier, token).startswith("malformed token")


# ---- audience and issuer -----------------------------------------------------------------------------


def test_audience_is_checked_when_configured() -> None:
    verifier = JwtVerifier(JwtConfig(hs256_secret=SECRET, audience="audiohook"))
    assert verifier.verify(_hs256(aud="audiohook")).subject == "agent-42"
    assert verifier.verify(_hs256(aud=["billing", "audiohook"])).subject == "agent-42"
    assert _reason(verifier, _hs256(aud="billing")) == "invalid audience"
    assert _reason(verifier, _hs256()).startswith("invalid audience")  # no aud claim


def test_audience_is_not_checked_when_not_configured(hs_verifier: JwtVerifier) -> None:
    assert hs_verifier.verify(_hs256(aud="anything")).subject == "agent-42"


def test_issuer_is_checked_when_configured() -> None:
    verifier = JwtVerifier(JwtConfig(hs256_secret=SECRET, issuer="https://idp.example"))
    assert verifier.verify(_hs256(iss="https://idp.example")).subject == "agent-42"
    assert _reason(verifier, _hs256(iss="https://evil.example")) == "invalid issuer"
    assert _reason(verifier, _hs256()).startswith("invalid issuer")  # no iss claim


def test_issuer_is_not_checked_when_not_configured(hs_verifier: JwtVerifier) -> None:
    assert hs_verifier.verify(_hs256(iss="https://whoever.example")).subject == "agent-42"


# ---- forgeries ---------------------------------------------------------------------------------------


def test_hs256_signed_with_another_secret_is_refused(hs_verifier: JwtVerifier) -> None:
    assert _reason(hs_verifier, _hs256(secret=OTHER_SECRET)) == "signature verification failed"


def test_rs256_signed_with_another_key_is_refused(rs_verifier: JwtVerifier, other_rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(_claims(), other_rsa_key, algorithm="RS256")
    assert _reason(rs_verifier, token) == "signature verification failed"


def test_tampered_payload_is_refused(hs_verifier: JwtVerifier) -> None:
    header, _, signature = _hs256().split(".")
    forged = f"{header}.{_segment(_claims(sub='admin'))}.{signature}"
    assert _reason(hs_verifier, forged) == "signature verification failed"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(hs_verifier: JwtVerifier, rs_verifier: JwtVerifier, alg: str) -> None:
    token = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(_claims())}."
    assert _reason(hs_verifier, token) == f"algorithm {alg} not allowed (allowed: HS256)"
    assert _reason(rs_verifier, token) == f"algorithm {alg} not allowed (allowed: RS256)"


def test_rs256_public_key_is_never_an_hs256_secret(
    rs_verifier: JwtVerifier, public_pem: bytes, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The algorithm-confusion attack: an HS256 token 'signed' with the server's public key as secret."""
    token = _hand_signed_hs256({"alg": "HS256", "typ": "JWT"}, _claims(sub="admin"), public_pem)
    # RS256 only: HS256 is not on the allow-list at all.
    assert _reason(rs_verifier, token) == "algorithm HS256 not allowed (allowed: RS256)"
    # Both configured: HS256 is checked against the shared secret, never against the public key.
    both = JwtVerifier(JwtConfig(hs256_secret=SECRET, rs256_public_key_pem=public_pem))
    assert _reason(both, token) == "signature verification failed"
    # The hand-made signing is right: the same construction with the real secret is accepted.
    genuine = _hand_signed_hs256({"alg": "HS256", "typ": "JWT"}, _claims(sub="admin"), SECRET)
    assert both.verify(genuine).subject == "admin"


def test_algorithms_not_configured_are_refused(hs_verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert _reason(hs_verifier, jwt.encode(_claims(), SECRET, algorithm="HS384")).startswith(
        "algorithm HS384 not allowed"
    )
    assert _reason(hs_verifier, jwt.encode(_claims(), rsa_key, algorithm="RS256")).startswith(
        "algorithm RS256 not allowed"
    )
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert _reason(hs_verifier, jwt.encode(_claims(), ec_key, algorithm="ES256")).startswith(
        "algorithm ES256 not allowed"
    )


def test_algorithm_in_the_reason_is_sanitized(hs_verifier: JwtVerifier) -> None:
    header = _segment({"alg": "x\r\nSet-Cookie: a=b" + "y" * 100})
    token = f"{header}.{_segment(_claims())}."
    reason = _reason(hs_verifier, token)
    assert "\r" not in reason and "\n" not in reason and len(reason) < 100


# ---- garbage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(hs_verifier: JwtVerifier, token: str | None) -> None:
    assert _reason(hs_verifier, token) == "missing token"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "a.b.c",
        "a.b",
        "....",
        "eyJhbGciOiJIUzI1NiJ9",
        f"{_b64(b'[1,2]')}.{_segment({'sub': 'x'})}.sig",  # header not an object
        f"{_segment({'typ': 'JWT'})}.{_segment({'sub': 'x'})}.sig",  # no alg
        "x" * (MAX_TOKEN_LENGTH + 1),
    ],
)
def test_garbage_is_a_malformed_token(hs_verifier: JwtVerifier, token: str) -> None:
    assert _reason(hs_verifier, token).startswith("malformed token")


def test_payload_that_is_not_json_is_malformed(hs_verifier: JwtVerifier) -> None:
    header = _segment({"alg": "HS256", "typ": "JWT"})
    payload = _b64(b"not json")
    signature = _b64(hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert _reason(hs_verifier, f"{header}.{payload}.{signature}").startswith("malformed token")


# ---- token extraction --------------------------------------------------------------------------------


def test_token_from_the_authorization_header() -> None:
    assert token_from_request("/ws/transcribe", {"Authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"
    assert token_from_request("/ws/transcribe", {"authorization": "bearer  abc.def.ghi "}) == "abc.def.ghi"
    assert token_from_request("/ws/transcribe", {"AUTHORIZATION": "BEARER abc"}) == "abc"


def test_token_from_the_query_string() -> None:
    assert token_from_request("/ws/transcribe?token=abc.def.ghi", {}) == "abc.def.ghi"
    assert token_from_request("/ws/transcribe?lang=en&token=abc", {}) == "abc"
    assert token_from_request("token=abc&x=1", {}) == "abc"  # a bare query string works too


def test_header_wins_over_the_query() -> None:
    assert token_from_request("/ws/transcribe?token=from-query", {"Authorization": "Bearer from-header"}) == (
        "from-header"
    )


def test_other_schemes_and_empty_values_are_no_token() -> None:
    assert token_from_request("/ws/transcribe", {"Authorization": "Basic dXNlcjpwYXNz"}) is None
    assert token_from_request("/ws/transcribe", {"Authorization": "Bearer "}) is None
    assert token_from_request("/ws/transcribe?token=", {}) is None
    assert token_from_request("/ws/transcribe?x-api-key=k", {}) is None
    # A non-Bearer header does not hide a query token.
    assert token_from_request("/ws/transcribe?token=q", {"Authorization": "Basic dXNlcjpwYXNz"}) == "q"


def test_token_from_websockets_headers() -> None:
    from websockets.datastructures import Headers

    assert token_from_request("/ws/transcribe", Headers({"Authorization": "Bearer abc"})) == "abc"
    twice = Headers([("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    assert token_from_request("/ws/transcribe", twice) is None  # ambiguous: refused as missing


# ---- configuration -----------------------------------------------------------------------------------


def test_from_settings_reads_the_public_key(tmp_path: Path, public_pem: bytes, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public_pem)
    config = JwtConfig.from_settings("x" * 32, key_file, "audiohook", "https://idp.example", leeway_s=10)
    assert config.enabled and config.algorithms == ("HS256", "RS256")
    assert config.rs256_public_key_pem == public_pem and config.hs256_secret == b"x" * 32
    assert (config.audience, config.issuer, config.leeway_s) == ("audiohook", "https://idp.example", 10)
    token = jwt.encode(_claims(aud="audiohook", iss="https://idp.example"), rsa_key, algorithm="RS256")
    assert JwtVerifier(config).verify(token).subject == "agent-42"


def test_from_settings_with_nothing_configured_is_disabled() -> None:
    config = JwtConfig.from_settings(None, None, None, None)
    assert not config.enabled and config.algorithms == ()
    with pytest.raises(ConfigurationError, match="--jwt-secret"):
        JwtVerifier(config)


def test_secret_is_not_in_the_repr() -> None:
    assert SECRET.decode() not in repr(JwtConfig(hs256_secret=SECRET))


def test_a_certificate_is_accepted_as_the_rs256_key(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    cert_file = tmp_path / "idp.crt"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    verifier = JwtVerifier(JwtConfig.from_settings(None, cert_file, None, None))
    assert verifier.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256")).algorithm == "RS256"


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        JwtConfig.from_settings(None, tmp_path / "nope.pem", None, None)


def test_key_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        JwtConfig.from_settings(None, tmp_path, None, None)


def test_unreadable_key_file(tmp_path: Path, public_pem: bytes) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public_pem)
    # A path through a regular file cannot be opened, whoever runs the tests (root reads any mode).
    with pytest.raises(ConfigurationError, match="cannot be read"):
        JwtConfig.from_settings(None, key_file / "public.pem", None, None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"this is not a key\n", "not a PEM RSA public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM RSA public key"),
    ],
)
def test_invalid_key_files(tmp_path: Path, content: bytes, message: str) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(content)
    with pytest.raises(ConfigurationError, match=message):
        JwtConfig.from_settings(None, key_file, None, None)


def test_private_key_file_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "private.pem"
    key_file.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigurationError, match="private key"):
        JwtConfig.from_settings(None, key_file, None, None)


def test_non_rsa_and_small_rsa_keys_are_refused(tmp_path: Path) -> None:
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigurationError, match="RS256 needs an RSA public key"):
        JwtConfig.from_settings(None, ec_file, None, None)
    small = tmp_path / "small.pem"
    small.write_bytes(_public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    with pytest.raises(ConfigurationError, match="1024-bit"):
        JwtConfig.from_settings(None, small, None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": "too-short"}, "at least 32"),
        ({"secret": ""}, "--jwt-secret is set but empty"),
        ({"secret": "x" * 32, "audience": ""}, "--jwt-audience is set but empty"),
        ({"secret": "x" * 32, "issuer": ""}, "--jwt-issuer is set but empty"),
        ({"secret": "x" * 32, "leeway_s": -1}, "leeway"),
        ({"secret": "x" * 32, "leeway_s": float("nan")}, "leeway"),
    ],
)
def test_invalid_settings(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"secret": None, "public_key_path": None, "audience": None, "issuer": None}
    settings.update(kwargs)
    with pytest.raises(ConfigurationError, match=message):
        JwtConfig.from_settings(**settings)


def test_verifier_checks_a_config_built_by_hand() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        JwtVerifier(JwtConfig(hs256_secret=b"short"))
    with pytest.raises(ConfigurationError, match="not a PEM RSA public key"):
        JwtVerifier(JwtConfig(rs256_public_key_pem=b"garbage"))
