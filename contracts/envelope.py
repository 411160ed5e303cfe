"""The envelope every hub message travels in: CloudEvents 1.0 attribute names plus extensions.

``subject`` is the dossier code and also the Kafka key, so one partition sees one dossier in order.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.events import DOSSIER_FILED, DossierFiled
from contracts.identifiers import DossierCode

M = TypeVar("M", bound=BaseModel)

SPEC_VERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE_HEADER = "content-type"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
"""The CloudEvents Kafka binding's structured content mode: the whole event is the record value."""

Headers = list[tuple[str, bytes]]


def envelope_headers() -> Headers:
    """The Kafka headers of every record whose value is an :class:`Envelope` (producers add them
    all; the signature headers are appended next to the content type)."""
    return [(CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE.encode())]


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode JSON event with lienthong's extension attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(default_factory=lambda: str(uuid4()), min_length=1)
    source: str = Field(min_length=1, description="URI-reference of the producer, e.g. /hub/orchestrate")
    type: str = Field(min_length=1, description="Reverse-DNS event type, e.g. vn.lienthong.step.command")
    subject: DossierCode = Field(description="The dossier code (mã hồ sơ); also the Kafka key")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(min_length=1, description="Shared by every event of one dossier")
    causationid: str | None = Field(default=None, description="id of the event that caused this one")
    idempotencykey: str | None = Field(default=None, description="Receivers perform the effect at most once per key")
    data: dict[str, Any]

    def payload(self, model: builtins.type[M]) -> M:
        """Validate ``data`` as ``model``."""
        return model.model_validate(self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    def caused(
        self, *, source: str, type: str, data: BaseModel, idempotencykey: str | None = None, nth: int | None = None
    ) -> Envelope:
        """A new event caused by this one: same subject and correlation, causation = this id. Given
        ``nth`` (its place among the events this one causes), its id is derived from this id and
        ``nth``, so processing this event again after a crash emits records with the same ids."""
        return Envelope(
            id=derived_id(self.id, str(nth)) if nth is not None else str(uuid4()),
            source=source,
            type=type,
            subject=self.subject,
            correlationid=self.correlationid,
            causationid=self.id,
            idempotencykey=idempotencykey,
            data=data.model_dump(mode="json"),
        )


ID_NAMESPACE = UUID("6b1f1f9e-4c1e-5a3e-9d1b-6c69656e7468")
"""The UUID namespace of ids derived from their cause (RFC 9562, version 5)."""


def derived_id(*parts: str) -> str:
    """A stable id for the record ``parts`` identify: the same parts give the same id."""
    return str(uuid5(ID_NAMESPACE, "/".join(parts)))


def filing_envelope(filed: DossierFiled, source: str, seed: str | None = None) -> Envelope:
    """A new dossier as ``source`` files it: a new correlation id, and the idempotency key
    ``filing/<dossier code>`` by which a repeated filing is recognised. Given ``seed`` (what
    identifies the record it was translated from), the id and correlation id derive from it, so a
    record translated again after a crash gives the same envelope."""
    return Envelope(
        id=derived_id("filing", source, seed) if seed else str(uuid4()),
        source=source,
        type=DOSSIER_FILED,
        subject=filed.dossier_id,
        correlationid=derived_id("correlation", source, seed) if seed else str(uuid4()),
        idempotencykey=f"filing/{filed.dossier_id}",
        data=filed.model_dump(mode="json"),
    )


def describe_error(exc: ValidationError) -> str:
    """One line naming each failing field and its rule, e.g. ``mother.personal_id: must be 12 digits``."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
