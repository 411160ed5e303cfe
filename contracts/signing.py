"""HMAC-SHA256 signatures on HTTP bodies, as the payment gateway signs its callbacks.

The header is ``X-Lienthong-Signature: sha256=<hex HMAC-SHA256 of the body>``.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Lienthong-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``body``'s signature (compared in constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)
