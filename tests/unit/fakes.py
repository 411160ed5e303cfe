"""Test doubles shared by the unit tests."""

from __future__ import annotations


class Outbox:
    """Stands in for the hub's producer (a ``contracts.topics.Send``): keeps what was sent."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))
