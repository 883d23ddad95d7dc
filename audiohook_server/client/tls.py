"""TLS for the client: which certificates it trusts (`--cafile`, `--insecure`) and why a handshake failed.

An evaluator or admin usually first meets the server behind a test certificate (self-signed, or from
a private CA), where the default trust store refuses it. The client takes the CA file to trust, or
for a test only, no verification at all; every door (WebSocket and HTTP) gets the same context.

When the handshake fails, Python's `ssl` errors say little (`[SSL: CERTIFICATE_VERIFY_FAILED]`) and
websockets wraps some of them so that no reason is left at all. `describe_tls_failure` finds the
`ssl` error in an exception's chain and turns it into one sentence naming the cause and the flag
that fixes it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_ssl_context", "describe_tls_failure", "find_ssl_error", "websocket_ssl"]


def client_ssl_context(cafile: str | Path | None = None, *, insecure: bool = False) -> ssl.SSLContext:
    """The context for `wss://` and `https://`: the system's trust, plus `cafile`; none at all if `insecure`.

    Raises `ValueError` naming the file when `cafile` cannot be read or holds no certificate.
    """
    context = ssl.create_default_context()
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=str(cafile))
        except FileNotFoundError:
            raise ValueError(f"--cafile {cafile}: no such file") from None
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise ValueError(f"--cafile {cafile}: not a PEM file of CA certificates ({reason})") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def websocket_ssl(url: str, context: ssl.SSLContext | None) -> ssl.SSLContext | bool | None:
    """websockets' `ssl` argument: the context (or the default trust) for wss://, none for ws:// (which refuses one)."""
    if url.lower().startswith("wss:"):
        return context if context is not None else True
    return None


def find_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The `ssl.SSLError` that caused `exc` (itself, or one in its `__cause__`/`__context__` chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_tls_failure(error: ssl.SSLError, where: str) -> str:
    """One sentence: what went wrong in the TLS handshake with `where`, and which flag helps."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or error.reason or "certificate verify failed"
        if "hostname" in str(detail).lower() or error.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            fix = "connect with the name the certificate was issued for"
        else:
            fix = "trust its CA with --cafile CA.pem (or, for a test only, --insecure)"
        return f"TLS handshake with {where} failed: the server's certificate was refused ({detail}); {fix}"
    reason = error.reason or str(error)
    if reason and "WRONG_VERSION_NUMBER" in str(reason).upper():
        return f"TLS handshake with {where} failed: the server does not speak TLS there (use ws:// or http://)"
    return f"TLS handshake with {where} failed: {reason}"
