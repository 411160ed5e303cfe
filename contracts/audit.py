"""The audit log's hash chain: canonical encoding, links, signed checkpoints, verification.

Each partition of ``hub.audit`` is one chain. Every entry carries its position (``seq``, from 0),
the hash of the entry before it (``prev``; :data:`GENESIS` for the first) and its own ``hash``,
SHA-256 over the canonical encoding (:func:`canonical`) of everything else in it, so editing,
deleting, inserting or reordering an entry breaks a link (Certificate Transparency's idea,
RFC 6962, without the Merkle tree). Every so often the writer appends a *checkpoint* entry: the
hub's Ed25519 signature over the partition, the count of entries before it and their head hash
(:func:`checkpoint_message`), so a rewritten chain no longer matches a signed head.

People are named only by a pseudonym, :func:`subject_ref`: HMAC-SHA256 of the personal ID under
the audit key, which only the hub and the operator answering a citizen's request hold.

Everything here is pure: the writer (``streams.audit``) and ``lienthong audit verify``
(``infra.audit``) share it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.events import AuditRecord
from contracts.identifiers import check_personal_id

GENESIS = "0" * 64
"""The ``prev`` of a partition's first entry."""
CHECKPOINT_DOMAIN = b"lienthong audit checkpoint\n"
Signer = Callable[[bytes], tuple[str, bytes]]
"""Signs checkpoint bytes: returns (key id, Ed25519 signature)."""
Verifier = Callable[[str, bytes, bytes], bool]
"""Whether a signature by key id over the bytes is valid."""


class Checkpoint(BaseModel):
    """A signed head: ``key_id``'s signature over :func:`checkpoint_message` of its entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    signature: str  # base64
    at: datetime


class AuditEntry(BaseModel):
    """One link of a partition's chain: the exchanges of personal data one event caused, or a checkpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    prev: str
    hash: str
    kind: Literal["exchanges", "checkpoint"]
    exchanges: list[AuditRecord] | None = Field(default=None, min_length=1)
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class Head:
    """Where a partition's chain ends: the next entry's ``seq`` and ``prev``."""

    seq: int = 0
    hash: str = GENESIS


def canonical(value: Any) -> bytes:
    """The bytes a hash or signature covers: JSON, keys sorted, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical encoding without its ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def link(body: Mapping[str, Any], head: Head) -> dict[str, Any]:
    """``body`` (``kind`` and its content) as the entry that follows ``head``."""
    entry = {**body, "seq": head.seq, "prev": head.hash}
    entry["hash"] = entry_hash(entry)
    return entry


def head_after(entry: Mapping[str, Any]) -> Head:
    """The head once ``entry`` (as stored) is the last of its chain."""
    return Head(int(entry["seq"]) + 1, str(entry["hash"]))


def checkpoint_message(partition: int, head: Head) -> bytes:
    """What a checkpoint signs: its partition, the count of entries before it and their head
    (prefixed, so the signature means nothing as any other message signed with the same key)."""
    return CHECKPOINT_DOMAIN + canonical({"partition": partition, "count": head.seq, "head": head.hash})


def checkpoint_body(partition: int, head: Head, at: datetime, sign: Signer) -> dict[str, Any]:
    """The body of a checkpoint appended after ``head``."""
    key_id, signature = sign(checkpoint_message(partition, head))
    checkpoint = Checkpoint(key_id=key_id, signature=base64.b64encode(signature).decode(), at=at)
    return {"kind": "checkpoint", "checkpoint": checkpoint.model_dump(mode="json")}


def subject_ref(audit_key: bytes, personal_id: str) -> str:
    """The pseudonym of a person in the audit: HMAC-SHA256 (hex) of the personal ID."""
    return hmac.new(audit_key, personal_id.strip().encode(), hashlib.sha256).hexdigest()


def personal_ids(model: type[BaseModel], data: Mapping[str, Any]) -> list[str]:
    """The values of ``data`` typed ``PersonalIdNumber`` in ``model``, nested models included."""
    found = []
    for name, info in model.model_fields.items():
        value = data.get(name)
        if value is None:
            continue
        if any(getattr(m, "func", None) is check_personal_id for m in info.metadata):
            found.append(str(value))
        elif (nested := _model_of(info.annotation)) is not None and isinstance(value, Mapping):
            found += personal_ids(nested, value)
    return found


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in ``annotation`` (looking through ``X | None``), if any."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = models[0] if len(models) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


@dataclass(frozen=True)
class Problem:
    partition: int
    offset: int
    what: str

    def __str__(self) -> str:
        return f"partition {self.partition} offset {self.offset}: {self.what}"


class ChainCheck:
    """Checks one partition's entries in offset order; :attr:`problem` is the first broken link.

    ``max_unsigned`` is the most entries the writer lets follow a checkpoint before the next one
    (its ``checkpoint_every``): a longer unsigned run means a chain rebuilt without the hub's key."""

    def __init__(self, partition: int, verify: Verifier, max_unsigned: int) -> None:
        self.partition, self._verify, self._max_unsigned = partition, verify, max_unsigned
        self.head = Head()
        self.entries = self.checkpoints = self.unsigned = 0
        self.problem: Problem | None = None

    def feed(self, offset: int, value: bytes | None) -> Problem | None:
        """Check the entry at ``offset``; after a problem, further entries are ignored."""
        if self.problem is None:
            what = self._check(value)
            self.problem = Problem(self.partition, offset, what) if what else None
        return self.problem

    def _check(self, value: bytes | None) -> str | None:
        try:
            raw = json.loads(value or b"")
            entry = AuditEntry.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            return f"not an audit entry ({type(exc).__name__})"
        if (entry.kind == "checkpoint") != (entry.checkpoint is not None) or (entry.exchanges is None) == (
            entry.checkpoint is None
        ):
            return f"a {entry.kind} entry must carry exactly its {entry.kind}"
        if entry_hash(raw) != entry.hash:
            return "content does not match its hash (entry edited)"
        if entry.prev != self.head.hash:
            return (
                f"link broken: prev {entry.prev[:12]}… is not the hash of the entry before it "
                f"({self.head.hash[:12]}…): an entry was deleted, inserted, reordered or rewritten"
            )
        if entry.seq != self.head.seq:
            return f"sequence number {entry.seq} where {self.head.seq} was expected"
        if entry.checkpoint is not None:
            cp = entry.checkpoint
            message = checkpoint_message(self.partition, self.head)
            if not self._signature_valid(cp, message):
                return f"checkpoint signature by key {cp.key_id!r} is not valid"
            self.checkpoints, self.unsigned = self.checkpoints + 1, -1
        elif self.unsigned >= self._max_unsigned:
            return f"more than {self._max_unsigned} entries without a signed checkpoint"
        self.head = head_after(raw)
        self.entries, self.unsigned = self.entries + 1, self.unsigned + 1
        return None

    def _signature_valid(self, checkpoint: Checkpoint, message: bytes) -> bool:
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
        except ValueError:
            return False
        return self._verify(checkpoint.key_id, message, signature)
