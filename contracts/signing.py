"""HMAC-SHA256 signatures on HTTP bodies, as the payment gateway signs its callbacks, and the
replay guard every authenticated endpoint shares.

A signed request carries three headers (Stripe's scheme): ``X-Lienthong-Timestamp`` (Unix
seconds), ``X-Lienthong-Nonce`` (unique per request) and ``X-Lienthong-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<nonce>." + body>``. The receiver refuses a timestamp
outside its window and a nonce it has already accepted within that window, so a captured request
cannot be sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Mapping
from enum import StrEnum

SIGNATURE_HEADER = "X-Lienthong-Signature"
TIMESTAMP_HEADER = "X-Lienthong-Timestamp"
NONCE_HEADER = "X-Lienthong-Nonce"


class Check(StrEnum):
    """Why a signed request was refused."""

    SIGNATURE = "bad signature"
    STALE = "stale"
    REPLAYED = "replayed"
    BUSY = "too many requests"


def sign(secret: bytes, body: bytes, timestamp: int, nonce: str) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` with ``nonce``."""
    message = f"{timestamp}.{nonce}.".encode() + body
    return "sha256=" + hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: bytes, body: bytes, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The three headers of a signed request; a fresh nonce and the current time unless given."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(16)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, body, timestamp, nonce),
    }


class ReplayGuard:
    """Remembers accepted nonces for as long as their timestamps are fresh, in bounded memory.

    A request is fresh when its timestamp is within ``window_s`` of now (either side), so a nonce
    need only be remembered for ``2 * window_s`` after it was accepted; older ones are forgotten.
    When ``max_entries`` fresh nonces are held, further requests are refused (``BUSY``) rather than
    forgetting one early, which would let it be replayed.
    """

    def __init__(self, window_s: float = 300, max_entries: int = 100_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._expiry: deque[tuple[float, str]] = deque()  # in acceptance order, so expiries ascend
        self._seen: set[str] = set()

    def check(self, nonce: str, timestamp: float, now: float) -> Check | None:
        """Accept (remember ``nonce``, return None) or say which check the request fails."""
        if abs(now - timestamp) > self.window_s:
            return Check.STALE
        while self._expiry and self._expiry[0][0] <= now:
            self._seen.discard(self._expiry.popleft()[1])
        if nonce in self._seen:
            return Check.REPLAYED
        if len(self._seen) >= self.max_entries:
            return Check.BUSY
        self._seen.add(nonce)
        self._expiry.append((now + 2 * self.window_s, nonce))
        return None

    def forget(self, nonce: str) -> None:
        """Let ``nonce`` be used again: the request it came with was not carried out."""
        self._seen.discard(nonce)  # its expiry entry stays queued and is dropped when due


def verify(
    secret: bytes, body: bytes, headers: Mapping[str, str], guard: ReplayGuard, now: float | None = None
) -> tuple[Check, str] | None:
    """Check a signed request: None when it is accepted (its nonce is then remembered), else the
    failed check and a sentence for the caller. The signature is checked first, so an unsigned
    request learns nothing about timestamps and cannot fill the guard."""
    now = time.time() if now is None else now
    timestamp, nonce, signature = (headers.get(h) for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
    missing = [
        h for h, v in ((TIMESTAMP_HEADER, timestamp), (NONCE_HEADER, nonce), (SIGNATURE_HEADER, signature)) if not v
    ]
    if missing:
        return Check.SIGNATURE, f"{', '.join(missing)}: missing"
    assert timestamp and nonce and signature
    if not timestamp.isdigit():
        return Check.SIGNATURE, f"{TIMESTAMP_HEADER}: must be Unix seconds"
    if not hmac.compare_digest(sign(secret, body, int(timestamp), nonce), signature):
        return Check.SIGNATURE, f"{SIGNATURE_HEADER}: signature does not match the timestamp, nonce and body"
    failed = guard.check(nonce, int(timestamp), now)
    if failed is Check.STALE:
        return failed, f"{TIMESTAMP_HEADER}: {timestamp} is more than {guard.window_s:g} s from the receiver's clock"
    if failed is Check.REPLAYED:
        return failed, f"{NONCE_HEADER}: {nonce} was already used; a replayed request is refused"
    if failed is Check.BUSY:
        return failed, "too many requests within the replay window; try again later"
    return None
