"""`audiohook_server.client.tls`: the trust `--cafile` and `--insecure` give, and the reasons a handshake failed.

The handshakes themselves run against a real TLS server in test_doors.py; here, the contexts and the
sentences built from real `ssl` errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from audiohook_server.client.tls import client_ssl_context, describe_tls_failure, find_ssl_error, websocket_ssl
from tests.deploy.deploy_helpers import make_pki


def test_contexts(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    trusted = client_ssl_context(pki.ca_cert)
    assert trusted.verify_mode == ssl.CERT_REQUIRED and trusted.check_hostname
    assert any("audiohook-server test CA" in str(cert.get("subject")) for cert in trusted.get_ca_certs())
    insecure = client_ssl_context(insecure=True)
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    with pytest.raises(ValueError, match="no such file"):
        client_ssl_context(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="not a PEM file of CA certificates"):
        client_ssl_context(tmp_path / "junk.pem")
    assert websocket_ssl("ws://h/x", trusted) is None
    assert websocket_ssl("wss://h/x", None) is True and websocket_ssl("WSS://h/x", trusted) is trusted


def test_failures_name_the_cause_and_the_flag() -> None:
    refused = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    refused.verify_message, refused.verify_code = "self-signed certificate", 18
    wrapped = OSError("handshake failed")
    wrapped.__cause__ = refused
    assert find_ssl_error(wrapped) is refused
    assert find_ssl_error(OSError("refused")) is None
    text = describe_tls_failure(refused, "wss://h:1/audiohook")
    assert text == (
        "TLS handshake with wss://h:1/audiohook failed: the server's certificate was refused "
        "(self-signed certificate); trust its CA with --cafile CA.pem (or, for a test only, --insecure)"
    )
    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_message, mismatch.verify_code = "Hostname mismatch, certificate is not valid for 'x'.", 62
    assert "connect with the name the certificate was issued for" in describe_tls_failure(mismatch, "h")
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    plain.reason = "WRONG_VERSION_NUMBER"
    assert "does not speak TLS there" in describe_tls_failure(plain, "h")
