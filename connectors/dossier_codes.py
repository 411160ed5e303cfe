"""Dossier codes for the SOAP filing gateway, claimed on one single-partition topic.

Before a filing is written, its code is *claimed*: the gateway appends a :class:`Claim` to
``agency.onestop.sequence`` (one partition, so one order for everybody) and reads the log up to the
offset the broker gave it. What the log says decides, the same way for every gateway instance
and after any restart, with no store but Kafka:

* a claim without a code is issued ``<prefix>-<yyMMdd>-<NNNN>``, ``NNNN`` one more than the
  highest number claimed before it under that prefix and day (so at most 9999 a day);
* a claim of a given code is the first if no earlier claim has that code; otherwise it repeats
  the earlier filing (same content digest) or conflicts with it.

A crash between claim and filing leaves a gap in the sequence, never a second use of a number.
:class:`CodeLedger` is Kafka-free: it reads and writes through a :class:`ClaimLog`, a Kafka topic
in the gateway and a list in the tests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol

_LAST_SEQUENCE = 9999


class Outcome(StrEnum):
    NEW = "new"
    REPEAT = "repeat"  # the code was filed before with the same content
    CONFLICT = "conflict"  # the code was filed before with other content
    EXHAUSTED = "exhausted"  # no sequence number left for the prefix that day


@dataclass(frozen=True)
class Claim:
    """One record of the claim log: who wants which code (None: the next one) for what content."""

    prefix: str
    day: str  # yyMMdd
    digest: str  # SHA-256 of the filing's content: no personal data on the topic
    code: str | None = None
    ledger: str = ""  # which CodeLedger appended it, so it knows its own claims when it reads them

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, value: bytes) -> Claim:
        return cls(**json.loads(value))


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    code: str


class ClaimLog(Protocol):
    async def append(self, value: bytes) -> int:
        """Write one record; its offset once durably written."""

    async def read(self, start: int) -> list[tuple[int, bytes]]:
        """Records (offset, value) from ``start`` on, as many as are at hand (possibly none yet)."""


class CodeBook:
    """The claim log folded in offset order: every code claimed (its digest) and, per prefix and
    day, the highest sequence number used."""

    def __init__(self) -> None:
        self.next_offset = 0
        self._digests: dict[str, str] = {}
        self._highest: dict[tuple[str, str], int] = {}

    def apply(self, offset: int, claim: Claim) -> Resolution:
        self.next_offset = offset + 1
        code = claim.code
        if code is None:
            number = self._highest.get((claim.prefix, claim.day), 0) + 1
            if number > _LAST_SEQUENCE:
                return Resolution(Outcome.EXHAUSTED, f"{claim.prefix}-{claim.day}-????")
            code = f"{claim.prefix}-{claim.day}-{number:04d}"
        if (earlier := self._digests.get(code)) is not None:
            return Resolution(Outcome.REPEAT if earlier == claim.digest else Outcome.CONFLICT, code)
        self._digests[code] = claim.digest
        number = int(code.rsplit("-", 1)[1])
        key = (claim.prefix, claim.day)
        self._highest[key] = max(self._highest.get(key, 0), number)
        return Resolution(Outcome.NEW, code)


class CodeLedger:
    """Claims codes on a :class:`ClaimLog` and says how each claim was resolved."""

    def __init__(self, log: ClaimLog) -> None:
        self._log = log
        self._id = uuid.uuid4().hex
        self._book = CodeBook()
        self._mine: dict[int, Resolution] = {}  # this ledger's claims, read but not yet collected
        self._reading = asyncio.Lock()

    async def claim(self, prefix: str, day: str, digest: str, code: str | None = None) -> Resolution:
        offset = await self._log.append(Claim(prefix, day, digest, code, self._id).to_bytes())
        async with self._reading:
            while self._book.next_offset <= offset:
                for at, value in await self._log.read(self._book.next_offset):
                    try:
                        claim = Claim.from_bytes(value)
                    except (ValueError, TypeError):  # not a claim: it claims nothing
                        self._book.next_offset = at + 1
                        continue
                    resolution = self._book.apply(at, claim)
                    if claim.ledger == self._id:
                        self._mine[at] = resolution
        return self._mine.pop(offset)


class MemoryClaimLog:
    """A claim log in a list: what one single-partition topic is to every ledger reading it."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    async def append(self, value: bytes) -> int:
        self.records.append(value)
        return len(self.records) - 1

    async def read(self, start: int) -> list[tuple[int, bytes]]:
        return list(enumerate(self.records))[start:]
