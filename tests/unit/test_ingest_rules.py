"""Ingest's rules for contract envelopes: who may send what, and what is forwarded.

Written against the mutants of ``streams/ingest.py`` (``to_canonical`` and its helpers) that
survived a mutation run; ``register`` needs a Faust app and is covered by the integration tests.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from contracts.catalog import builtin_catalog
from contracts.envelope import Envelope
from contracts.errors import Rejected
from contracts.events import (
    DOSSIER_FILED,
    DOSSIER_WITHDRAWN,
    PAYMENT_NOTIFIED,
    STEP_REPLY,
    DossierFiled,
    DossierWithdrawn,
)
from streams.ingest import to_canonical
from tests.unit.test_normalize import FILING as NATIVE_BIRTH
from tests.unit.test_orchestrate import DOSSIER, FILINGS, T0

CATALOG = builtin_catalog()
LAND = FILINGS["land_transfer"]  # as the portal sends it: the receipt date in dd/mm/yyyy


def raw(type_: str, data: dict[str, Any], subject: str = DOSSIER) -> bytes:
    return Envelope(
        source="/agency/portal", type=type_, subject=subject, correlationid="corr-1", idempotencykey="k-1", data=data
    ).to_bytes()


def filing(**changes: Any) -> dict[str, Any]:
    return (
        DossierFiled(
            dossier_id=DOSSIER, procedure="land_transfer", received_at=T0, channel=2, filed_by="portal", filing=LAND
        ).model_dump(mode="json")
        | changes
    )


def rejection(agency: str, message: bytes) -> str:
    with pytest.raises(Rejected) as info:
        to_canonical(agency, message, CATALOG)
    return str(info.value)


def test_a_contract_filing_is_forwarded_with_its_filing_normalised():
    sent = raw(DOSSIER_FILED, filing())
    forwarded = to_canonical("portal", sent, CATALOG)
    original = Envelope.from_bytes(sent)
    assert forwarded.data["filing"]["complete_dossier_received_on"] == "2026-11-20"
    assert forwarded.data["received_at"] == original.data["received_at"]
    assert forwarded.model_dump(exclude={"data"}) == original.model_dump(exclude={"data"})
    assert DossierFiled.model_validate(forwarded.data).filing["parcel_no"] == LAND["parcel_no"]
    assert Envelope.from_bytes(forwarded.to_bytes()) == forwarded


@pytest.mark.parametrize(
    ("agency", "data", "subject", "reason"),
    [
        (
            "portal",
            filing(filed_by="onestop"),
            DOSSIER,
            "filing claims to come from 'onestop' but arrived on portal's outbox",
        ),
        (
            "portal",
            filing(),
            "000.00.31.H26-261120-0002",
            f"subject '000.00.31.H26-261120-0002' is not the dossier code '{DOSSIER}'",
        ),
        ("portal", filing(procedure="marriage"), DOSSIER, "invalid filing: procedure: unknown procedure 'marriage'"),
        ("portal", filing(filing=LAND | {"area_m2": -1}), DOSSIER, "invalid filing: area_m2"),
        ("portal", {"dossier_id": DOSSIER}, DOSSIER, "invalid filing: procedure: Field required"),
        (
            "population",
            filing(filed_by="population"),
            DOSSIER,
            "unexpected event type 'vn.lienthong.dossier.filed' on population's outbox",
        ),
        ("justice", filing(filed_by="justice"), DOSSIER, "justice may not file 'land_transfer' dossiers"),
    ],
)
def test_a_contract_filing_is_refused_with_the_reason(agency, data, subject, reason):
    assert rejection(agency, raw(DOSSIER_FILED, data, subject)).startswith(reason)


def test_citizen_requests_and_payments_are_forwarded_unchanged_from_those_allowed_to_send_them():
    withdrawal = raw(DOSSIER_WITHDRAWN, DossierWithdrawn(reason="moved").model_dump(mode="json"))
    assert to_canonical("portal", withdrawal, CATALOG) == Envelope.from_bytes(withdrawal)  # source /agency/portal
    payment = raw(
        PAYMENT_NOTIFIED,
        {
            "reference": f"{DOSSIER}/collect_fee",
            "transaction_id": "T",
            "amount_vnd": 1,
            "status": "paid",
            "paid_at": "2026-11-20T00:00:00Z",
        },
    )
    forwarded = to_canonical("payment", payment, CATALOG)
    assert forwarded == Envelope.from_bytes(payment).model_copy(update={"source": "/agency/payment"})
    assert rejection("tax", withdrawal) == "unexpected event type 'vn.lienthong.dossier.withdrawn' on tax's outbox"
    assert rejection("portal", payment) == "unexpected event type 'vn.lienthong.payment.notified' on portal's outbox"


def test_invalid_requests_and_replies_are_refused_naming_the_field():
    assert rejection("portal", raw(DOSSIER_WITHDRAWN, {"reason": "x" * 501})).startswith(
        "invalid vn.lienthong.dossier.withdrawn: reason:"
    )
    assert rejection("population", raw(STEP_REPLY, {"step": "verify_mother"})).startswith(
        "invalid step reply: action: Field required"
    )


def test_each_native_filing_opens_its_own_correlation_and_a_retranslation_is_recognisable():
    first = to_canonical("justice", json.dumps(NATIVE_BIRTH).encode(), CATALOG)
    other = to_canonical(
        "justice", json.dumps(NATIVE_BIRTH | {"ma_ho_so": "000.00.31.H26-261120-0002"}).encode(), CATALOG
    )
    assert UUID(first.correlationid) != UUID(other.correlationid) and first.id != other.id
    # The same record translated again (a worker restarted before committing it): the same envelope.
    again = to_canonical("justice", json.dumps(NATIVE_BIRTH).encode(), CATALOG)
    assert (again.id, again.correlationid) == (first.id, first.correlationid)
    assert first.data["received_at"] == "2026-11-20T15:30:00+07:00"
    assert first.data == json.loads(json.dumps(first.data))
