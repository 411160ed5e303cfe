import json

import pytest

from contracts.catalog import builtin_catalog
from contracts.envelope import Envelope
from contracts.errors import Rejected
from contracts.events import DOSSIER_FILED, STEP_COMMAND, STEP_REPLY, Outcome, StepReply
from streams.ingest import to_canonical
from tests.unit.test_normalize import FILING

DOSSIER = FILING["ma_ho_so"]
CATALOG = builtin_catalog()


def reply_envelope(agency="population", type_=STEP_REPLY) -> bytes:
    data = StepReply(
        step="verify_mother", action="verify_citizen", agency=agency, outcome=Outcome.REJECTED, reason="unknown"
    )
    return Envelope(
        source="/connector/population",
        type=type_,
        subject=DOSSIER,
        correlationid="c",
        data=data.model_dump(mode="json"),
    ).to_bytes()


def test_native_filing_becomes_a_filed_event_keyed_by_dossier():
    envelope = to_canonical("justice", json.dumps(FILING).encode(), CATALOG)
    assert envelope.type == DOSSIER_FILED and envelope.subject == DOSSIER
    assert envelope.idempotencykey == f"filing/{DOSSIER}"


def test_replies_are_forwarded_unchanged_but_for_the_source_which_names_the_outbox():
    raw = reply_envelope()  # written by the population bridge as /connector/population
    forwarded = to_canonical("population", raw, CATALOG)
    assert forwarded == Envelope.from_bytes(raw).model_copy(update={"source": "/agency/population"})


@pytest.mark.parametrize(
    ("agency", "raw", "reason"),
    [
        ("justice", b'{"loai_ho_so": "khai_sinh", "ma_ho_so": ', "not JSON"),
        ("justice", b"\xff\xfe", "not JSON"),
        ("justice", b"[1, 2]", "expected a JSON object, got list"),
        (
            "justice",
            json.dumps(FILING | {"so_dinh_danh_me": "1"}).encode(),
            "invalid filing: so_dinh_danh_me: personal ID number must be 12 digits",
        ),
        ("insurance", reply_envelope(), "reply claims to come from 'population' but arrived on insurance's outbox"),
        ("population", reply_envelope(type_=STEP_COMMAND), "unexpected event type 'vn.lienthong.step.command'"),
        ("population", b'{"specversion": "1.0"}', "invalid envelope: source: Field required"),
        ("population", json.dumps(FILING).encode(), "not an envelope, and population has no native filing format"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(agency, raw, reason):
    with pytest.raises(Rejected) as info:
        to_canonical(agency, raw, CATALOG)
    assert reason in str(info.value)
