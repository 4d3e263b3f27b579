"""Signing webhook deliveries: the signing secret at rest, and the signature receivers check.

The secret is stored encrypted with Fernet under a key derived from ``SECRET_KEY`` by
HKDF-SHA256 (keys from ``SECRET_KEY_FALLBACKS`` still decrypt). The signature is
``X-PLG-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, Stripe's
scheme; ``signature_verify`` checks one as a receiver would. See ``webhooks`` for delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings

SIGNATURE_HEADER = "X-PLG-Signature"
SIGNATURE_VERSION = "v1"
# Receivers should refuse signatures older than this (replays); ``signature_verify``'s default.
SIGNATURE_TOLERANCE_SECONDS = 300
_HKDF_INFO = b"plg-platform webhook signing secret v1"


# --- The secret at rest -----------------------------------------------------------------------


def _fernet_key(secret_key: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(derived)


def _fernet() -> Any:
    from cryptography.fernet import Fernet, MultiFernet

    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


# --- Signatures -------------------------------------------------------------------------------


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-PLG-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},{SIGNATURE_VERSION}={mac.hexdigest()}"


def signature_verify(
    *,
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Check a signature header as a receiver would: right key, right bytes, recent enough."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, header)
