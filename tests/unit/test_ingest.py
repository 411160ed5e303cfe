import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from structlog.testing import capture_logs

from contracts.catalog import builtin_catalog
from contracts.envelope import Envelope, filing_envelope
from contracts.errors import InvalidFiling, Rejected, SignatureRefused
from contracts.events import DOSSIER_FILED, STEP_COMMAND, STEP_REPLY, Outcome, StepReply
from contracts.record_signing import Signer, TrustStore
from streams.ingest import admit, to_canonical
from streams.normalize import justice_birth
from tests.unit.fakes import keyring
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


ARABIC_INDIC_ID = "093١٩٥٠٠٠١٢٣"  # 093195000123 with Arabic-Indic digits


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"so_dinh_danh_me": ARABIC_INDIC_ID}, "so_dinh_danh_me: personal ID number must be 12 digits"),
        ({"ma_ho_so": FILING["ma_ho_so"].replace("1", "１")}, "ma_ho_so: dossier code must look like"),
        ({"ma_xa": "３１３５９"}, "ma_xa: String should match pattern"),
        ({"ho_ten_me": "\u200b\u200b"}, "ho_ten_me: must not contain control or invisible characters (found U+200B)"),
        ({"ho_ten_me": "Trần\x00Lan"}, "ho_ten_me: must not contain control or invisible characters (found U+0000)"),
        ({"ho_ten_me": "- -"}, "ho_ten_me: a personal name must contain letters"),
        ({"ma_tinh": ["92"]}, "ma_tinh: Input should be a valid string"),
        ({"ngay_tiep_nhan": "31/12/9999 23:00"}, "ngay_tiep_nhan: a dossier is received between 2000 and now"),
    ],
)
def test_input_that_used_to_slip_through_is_refused_naming_the_field(change, reason):
    with pytest.raises(Rejected) as info:
        to_canonical("justice", json.dumps(FILING | change, ensure_ascii=False).encode(), CATALOG)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not JSON: nested too deeply"),
        (b'{"loai_ho_so": "khai_sinh", "so_giay_chung_sinh": NaN}', "not JSON: NaN is not a number JSON allows"),
        (b'{"area_m2": Infinity}', "not JSON: Infinity is not a number JSON allows"),
    ],
)
def test_json_a_parser_would_choke_on_or_that_is_not_strict_is_refused(raw, reason):
    with pytest.raises(Rejected) as info:
        to_canonical("justice", raw, CATALOG)
    assert str(info.value) == reason


# --- admission: what a record on an outbox must be before the saga sees it -------------------------

NATIVE_FILING = json.dumps(FILING).encode()
WINDOW_S = 900


def hub(max_record_bytes: int = 262_144):
    """What ``admit`` reads of the hub: its limits, trust store and catalog."""
    settings = SimpleNamespace(max_record_bytes=max_record_bytes, signature_window_s=WINDOW_S)
    return SimpleNamespace(settings=settings, trust=TrustStore.load(keyring()), catalog=CATALOG)


def record(value: bytes, key_id: str | None = "justice-1", signed_at: datetime | None = None):
    """A consumed record as Faust hands it to the agent, signed by ``key_id`` at ``signed_at``."""
    headers = Signer.load(keyring(), key_id).headers(value, signed_at) if key_id else []
    return SimpleNamespace(value=value, message=SimpleNamespace(headers=headers))


def test_a_signed_filing_on_the_filers_outbox_is_admitted_and_logged_without_personal_data():
    with capture_logs() as logs:
        envelope = admit(hub(), "justice", record(NATIVE_FILING))
    assert (envelope.type, envelope.subject, envelope.source) == (DOSSIER_FILED, DOSSIER, "/agency/justice")
    (line,) = [entry for entry in logs if entry["event"] == "dossier filed"]
    assert (line["agency"], line["dossier_id"], line["correlation_id"]) == ("justice", DOSSIER, envelope.correlationid)
    assert FILING["so_dinh_danh_me"] not in repr(logs) and FILING["ho_ten_me"] not in repr(logs)


def test_a_record_up_to_the_size_limit_is_admitted_and_one_byte_more_is_refused_unread():
    size = len(NATIVE_FILING)
    assert admit(hub(max_record_bytes=size), "justice", record(NATIVE_FILING)).subject == DOSSIER
    with pytest.raises(Rejected) as info:
        admit(hub(max_record_bytes=size - 1), "justice", record(NATIVE_FILING, key_id=None))  # size comes first
    assert str(info.value) == f"record of {size} bytes is over the {size - 1}-byte limit"


@pytest.mark.parametrize(
    ("key_id", "reason"),
    [
        (None, "signature: unsigned record"),
        ("tax-1", "signature: key 'tax-1' does not sign for this sender (justice-1)"),
        ("hub-1", "signature: key 'hub-1' does not sign for this sender (justice-1)"),
    ],
)
def test_a_record_not_signed_by_the_outboxs_agency_is_refused(key_id, reason):
    with pytest.raises(SignatureRefused) as info:
        admit(hub(), "justice", record(NATIVE_FILING, key_id))
    assert str(info.value).startswith(reason)


def test_a_record_signed_within_the_window_is_admitted_and_one_signed_before_it_is_refused_as_stale():
    now = datetime.now(UTC)
    inside = record(NATIVE_FILING, signed_at=now - timedelta(seconds=WINDOW_S - 30))
    assert admit(hub(), "justice", inside).subject == DOSSIER
    with pytest.raises(SignatureRefused) as info:
        admit(hub(), "justice", record(NATIVE_FILING, signed_at=now - timedelta(seconds=WINDOW_S + 30)))
    assert info.value.code == "stale" and f"outside the {WINDOW_S} s window" in str(info.value)


def test_a_valid_record_on_another_agencys_outbox_is_refused_there():
    with pytest.raises(SignatureRefused, match="does not sign for this sender"):
        admit(hub(), "tax", record(NATIVE_FILING))


def test_a_filing_refused_on_its_content_names_its_dossier_code_so_the_filer_can_be_told():
    with pytest.raises(InvalidFiling) as info:
        to_canonical("justice", json.dumps(FILING | {"so_dinh_danh_me": "1"}).encode(), CATALOG)
    assert (info.value.dossier_id, info.value.procedure) == (DOSSIER, "birth_bundle")
    assert str(info.value).startswith("invalid filing: so_dinh_danh_me: personal ID number must be 12 digits")


def test_a_filing_whose_dossier_code_is_unreadable_is_only_dead_lettered():
    with pytest.raises(Rejected) as info:
        to_canonical("justice", json.dumps(FILING | {"ma_ho_so": "0001", "so_dinh_danh_me": "1"}).encode(), CATALOG)
    assert not isinstance(info.value, InvalidFiling)


def test_an_envelope_filing_refused_on_its_content_keeps_its_correlation_for_the_notice():
    filed = justice_birth(FILING)
    bad = filed.model_copy(update={"filing": filed.filing | {"birth_notice_no": ""}, "filed_by": "portal"})
    filed_on_outbox = filing_envelope(bad, "/agency/portal")
    with pytest.raises(InvalidFiling) as info:
        to_canonical("portal", filed_on_outbox.to_bytes(), CATALOG)
    assert (info.value.dossier_id, info.value.procedure, info.value.correlation_id) == (
        DOSSIER,
        "birth_bundle",
        filed_on_outbox.correlationid,
    )
    assert "birth_notice_no" in str(info.value)


def test_a_filing_for_a_procedure_its_filer_may_not_file_is_refused_to_it():
    filed = justice_birth(FILING).model_copy(update={"procedure": "land_transfer"})  # justice files no land
    filed_on_outbox = filing_envelope(filed, "/agency/justice")
    with pytest.raises(InvalidFiling) as info:
        to_canonical("justice", filed_on_outbox.to_bytes(), CATALOG)
    assert str(info.value) == "justice may not file 'land_transfer' dossiers"
    assert (info.value.dossier_id, info.value.procedure, info.value.correlation_id) == (
        DOSSIER,
        "land_transfer",
        filed_on_outbox.correlationid,
    )
