"""Signed Kafka records: every party signs what it writes, every receiver verifies it.

A signed record carries three headers::

    lienthong-keyid      the signing key's id, from the agency registry (e.g. justice-1)
    lienthong-signed-at  when it was signed: integer milliseconds since the epoch, UTC
    lienthong-signature  base64 of the detached Ed25519 signature over
                         "<key id>\\n<signed-at>\\n" followed by the record value's exact bytes

The receiver checks the key id is one of the sender's (the registry says whose keys sign which
topic), the signature against the trust store's public key, and that the signing time is within
its window of now: a forged, unsigned, foreign-key or tampered record is refused with reason
``signature``, a replay of an old record with reason ``stale``.

Keys live in a keyring directory generated at setup (``lienthong keys <folder>``), never in the
repository: ``<key id>.pem`` (PKCS #8 private key, mode 0600) and ``trust.toml`` (key id →
base64 raw public key) for receivers.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.errors import SettingsError, SignatureRefused

KEYID_HEADER = "lienthong-keyid"
SIGNED_AT_HEADER = "lienthong-signed-at"
SIGNATURE_HEADER = "lienthong-signature"
SIGNATURE_HEADERS = (KEYID_HEADER, SIGNED_AT_HEADER, SIGNATURE_HEADER)
TRUST_FILE = "trust.toml"
Headers = Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None


def _signed_bytes(key_id: str, signed_at_ms: int, value: bytes) -> bytes:
    return f"{key_id}\n{signed_at_ms}\n".encode() + value


@dataclass(frozen=True)
class Signer:
    """Signs records with one private key."""

    key_id: str
    key: Ed25519PrivateKey

    @classmethod
    def load(cls, keyring: Path, key_id: str) -> Signer:
        path = keyring / f"{key_id}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SettingsError(f"signing key {key_id!r}: cannot read {path}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SettingsError(f"signing key {key_id!r}: {path} is not an Ed25519 private key")
        return cls(key_id, key)

    def headers(self, value: bytes, now: datetime | None = None) -> list[tuple[str, bytes]]:
        """The signature headers for a record whose value is ``value``."""
        signed_at = int((now or datetime.now(UTC)).timestamp() * 1000)
        signature = self.key.sign(_signed_bytes(self.key_id, signed_at, value))
        return [
            (KEYID_HEADER, self.key_id.encode()),
            (SIGNED_AT_HEADER, str(signed_at).encode()),
            (SIGNATURE_HEADER, base64.b64encode(signature)),
        ]


@dataclass(frozen=True)
class TrustStore:
    """The public keys a receiver verifies with, by key id."""

    keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def load(cls, keyring: Path) -> TrustStore:
        path = keyring / TRUST_FILE
        try:
            entries = tomllib.loads(path.read_text(encoding="utf-8")).get("keys", {})
            return cls({kid: Ed25519PublicKey.from_public_bytes(base64.b64decode(raw)) for kid, raw in entries.items()})
        except (OSError, tomllib.TOMLDecodeError, ValueError, binascii.Error) as exc:
            raise SettingsError(f"trust store {path}: {exc}") from None

    def verify(
        self,
        value: bytes | None,
        headers: Headers,
        senders_keys: Iterable[str],
        window: timedelta,
        now: datetime | None = None,
    ) -> str:
        """The key id that signed ``value``; raises SignatureRefused (code ``signature`` or ``stale``)."""
        if value is None:
            raise SignatureRefused("signature", "a record without a value (a tombstone) proves nothing")
        found = _header_map(headers)
        missing = [h for h in SIGNATURE_HEADERS if h not in found]
        if missing:
            raise SignatureRefused("signature", f"unsigned record: no {', '.join(missing)} header")
        key_id = found[KEYID_HEADER].decode(errors="replace")
        allowed = set(senders_keys)
        if key_id not in allowed:
            raise SignatureRefused(
                "signature", f"key {key_id!r} does not sign for this sender ({', '.join(sorted(allowed))})"
            )
        public = self.keys.get(key_id)
        if public is None:
            raise SignatureRefused("signature", f"key {key_id!r} is not in the trust store")
        try:
            signed_at = int(found[SIGNED_AT_HEADER])
            public.verify(
                base64.b64decode(found[SIGNATURE_HEADER], validate=True), _signed_bytes(key_id, signed_at, value)
            )
        except (ValueError, binascii.Error, InvalidSignature):
            raise SignatureRefused("signature", f"signature by {key_id!r} does not match the record") from None
        age = (now or datetime.now(UTC)) - datetime.fromtimestamp(signed_at / 1000, UTC)
        if abs(age) > window:
            raise SignatureRefused(
                "stale", f"signed {age.total_seconds():.0f} s ago, outside the {window.total_seconds():.0f} s window"
            )
        return key_id


def _header_map(headers: Headers) -> dict[str, bytes]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: v for k, v in items if k in SIGNATURE_HEADERS and isinstance(v, bytes)}


def generate_keys(folder: Path, key_ids: Iterable[str]) -> None:
    """Create a private key (``<key id>.pem``, mode 0600) for each of ``key_ids`` not yet in ``folder``."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key_id in key_ids:
        path = folder / f"{key_id}.pem"
        if path.exists():
            continue
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)


def public_key(folder: Path, key_id: str) -> str:
    """The base64 raw public key of the private key ``key_id`` in ``folder``."""
    raw = (
        Signer.load(folder, key_id)
        .key.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def trusted(keyring: Path) -> dict[str, str]:
    """The trust store's entries (key id -> base64 public key); none when it has no trust store yet."""
    path = keyring / TRUST_FILE
    if not path.exists():
        return {}
    try:
        return dict(tomllib.loads(path.read_text(encoding="utf-8")).get("keys", {}))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"trust store {path}: {exc}") from None


def trust(keyring: Path, entries: Mapping[str, str]) -> None:
    """Add ``entries`` (key id -> base64 public key) to the trust store, keeping the others. The
    file is replaced whole (a process loading it meanwhile reads the old one or the new one, never
    a half-written one)."""
    merged = trusted(keyring) | dict(entries)
    lines = ["# Public keys by key id (lienthong keys <folder>); receivers verify signatures with them.", "[keys]"]
    lines += [f'"{key_id}" = "{merged[key_id]}"' for key_id in sorted(merged)]
    keyring.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=keyring, prefix=f".{TRUST_FILE}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(staged, 0o644)  # public keys: readable by the receivers' processes
    os.replace(staged, keyring / TRUST_FILE)


def generate_keyring(keyring: Path, key_ids: Iterable[str]) -> None:
    """Create a private key for each of ``key_ids`` not yet in ``keyring`` and trust every private key
    there; entries for keys held elsewhere (an agency's, by ``lienthong agency add``) are kept, so a
    key is revoked by deleting its line."""
    generate_keys(keyring, key_ids)
    trust(keyring, {path.stem: public_key(keyring, path.stem) for path in sorted(keyring.glob("*.pem"))})
