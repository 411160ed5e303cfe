"""Test doubles shared by the unit tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

from contracts.agencies import REGISTRY
from contracts.record_signing import generate_keyring
from contracts.retry import RetryPolicy


class Outbox:
    """Stands in for the hub's producer (a ``contracts.topics.Send``): keeps what was sent."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))


def retry_policies(**policy: float) -> dict[str, RetryPolicy]:
    """One retry policy (the defaults with ``policy``) for every agency of the registry."""
    return {code: RetryPolicy.model_validate(policy) for code in REGISTRY.agencies}


def keyring() -> Path:
    """A keyring with every key of the registry, generated once per test session."""
    global _KEYRING
    if _KEYRING is None:
        _KEYRING = Path(tempfile.mkdtemp(prefix="lienthong-keys-"))
        generate_keyring(_KEYRING, list(REGISTRY.hub.keys) + [k for a in REGISTRY.agencies.values() for k in a.keys])
    return _KEYRING


_KEYRING: Path | None = None
