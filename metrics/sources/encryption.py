"""A source's secret (a warehouse password or token) at rest: encrypted, never stored plain.

The scheme of webhook signing secrets (``experiments.services.webhook_signing``): Fernet under
a key derived from ``SECRET_KEY`` by HKDF-SHA256, keys from ``SECRET_KEY_FALLBACKS`` still
decrypt. Its own HKDF label gives sources a key of their own, so a webhook secret's ciphertext
never decrypts as a source's and the other way round. A database dump alone reveals nothing.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings

_HKDF_INFO = b"plg-platform event source secret v1"


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
    """Return ``secret`` encrypted for the database ('' stays '': no secret)."""
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def secret_decrypt(token: str) -> str:
    """Return the plain secret of a stored token ('' for none)."""
    return _fernet().decrypt(token.encode()).decode() if token else ""
