"""Signed records: what each receiver accepts and refuses, with the reason code it gives."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.errors import SettingsError, SignatureRefused
from contracts.record_signing import SIGNATURE_HEADER, Signer, TrustStore, generate_keyring

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
VALUE = b'{"specversion": "1.0", "type": "vn.lienthong.step.reply"}'


@pytest.fixture(scope="module")
def keyring(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys")
    generate_keyring(path, ["tax-1", "justice-1", "hub-1"])
    return path


def refusal(keyring: Path, value: bytes, headers, keys=("tax-1",), now=NOW) -> tuple[str, str]:
    with pytest.raises(SignatureRefused) as info:
        TrustStore.load(keyring).verify(value, headers, keys, WINDOW, now)
    return info.value.code, str(info.value)


def test_a_record_signed_by_one_of_the_senders_keys_is_accepted(keyring):
    headers = Signer.load(keyring, "tax-1").headers(VALUE, NOW - timedelta(minutes=14))
    assert TrustStore.load(keyring).verify(VALUE, headers, ["tax-1"], WINDOW, NOW) == "tax-1"
    assert TrustStore.load(keyring).verify(VALUE, dict(headers), ["tax-1"], WINDOW, NOW) == "tax-1"


def test_unsigned_tampered_foreign_and_unknown_key_records_are_refused_as_signature(keyring):
    tax = Signer.load(keyring, "tax-1").headers(VALUE, NOW)
    assert refusal(keyring, VALUE, None) == (
        "signature",
        "signature: unsigned record: no lienthong-keyid, lienthong-signed-at, lienthong-signature header",
    )
    assert refusal(keyring, VALUE.replace(b"reply", b"REPLY"), tax)[1].endswith(
        "signature by 'tax-1' does not match the record"
    )
    justice = Signer.load(keyring, "justice-1").headers(VALUE, NOW)
    assert refusal(keyring, VALUE, justice)[1].endswith("key 'justice-1' does not sign for this sender (tax-1)")
    forged = [(k, b"AAAA" if k == SIGNATURE_HEADER else v) for k, v in tax]
    assert refusal(keyring, VALUE, forged)[0] == "signature"
    later = [(k, v.replace(b"0", b"1") if k == "lienthong-signed-at" else v) for k, v in tax]
    assert refusal(keyring, VALUE, later)[0] == "signature"  # the signing time is signed too


def test_a_key_missing_from_the_trust_store_is_refused(keyring, tmp_path):
    other = tmp_path / "other"
    generate_keyring(other, ["tax-2"])
    headers = Signer.load(other, "tax-2").headers(VALUE, NOW)
    assert refusal(keyring, VALUE, headers, keys=("tax-1", "tax-2")) == (
        "signature",
        "signature: key 'tax-2' is not in the trust store",
    )


def test_a_record_signed_exactly_the_window_ago_is_still_accepted(keyring):
    headers = Signer.load(keyring, "tax-1").headers(VALUE, NOW - WINDOW)
    assert TrustStore.load(keyring).verify(VALUE, headers, ["tax-1"], WINDOW, NOW) == "tax-1"


def test_an_old_record_replayed_is_refused_as_stale(keyring):
    headers = Signer.load(keyring, "tax-1").headers(VALUE, NOW - timedelta(minutes=16))
    code, message = refusal(keyring, VALUE, headers)
    assert code == "stale" and message == "stale: signed 960 s ago, outside the 900 s window"


def test_keys_are_private_to_their_owner_and_generation_keeps_existing_keys(keyring):
    pem = keyring / "tax-1.pem"
    assert pem.stat().st_mode & 0o777 == 0o600
    before = pem.read_bytes()
    generate_keyring(keyring, ["tax-1", "portal-1"])
    assert pem.read_bytes() == before and (keyring / "portal-1.pem").exists()
    assert set(TrustStore.load(keyring).keys) == {"tax-1", "justice-1", "hub-1", "portal-1"}


def test_a_missing_key_or_trust_store_is_a_settings_error_naming_the_file(tmp_path):
    with pytest.raises(SettingsError, match=r"signing key .hub-1.: cannot read .*hub-1\.pem"):
        Signer.load(tmp_path, "hub-1")
    with pytest.raises(SettingsError, match=r"trust store .*trust\.toml"):
        TrustStore.load(tmp_path)


def test_a_trust_store_being_rewritten_is_never_read_half_written(tmp_path):
    """``lienthong agency add`` rewrites the hub's trust store while a worker may be loading it."""
    import threading

    from contracts.record_signing import TrustStore, generate_keyring, trust

    generate_keyring(tmp_path, [f"party-{n}" for n in range(40)])
    expected = set(TrustStore.load(tmp_path).keys)
    seen: list[int] = []
    done = threading.Event()

    def load_repeatedly() -> None:
        while not done.is_set():
            seen.append(len(TrustStore.load(tmp_path).keys))

    reader = threading.Thread(target=load_repeatedly)
    reader.start()
    try:
        for _ in range(120):
            trust(tmp_path, {})
    finally:
        done.set()
        reader.join()
    assert seen and set(seen) == {len(expected)}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing staged is left


def test_a_tombstone_or_a_signature_that_is_not_base64_proves_nothing(keyring):
    tax = Signer.load(keyring, "tax-1").headers(VALUE, NOW)
    with pytest.raises(SignatureRefused) as info:
        TrustStore.load(keyring).verify(None, tax, ["tax-1"], WINDOW, NOW)
    assert (info.value.code, str(info.value)) == (
        "signature",
        "signature: a record without a value (a tombstone) proves nothing",
    )
    padded = [(k, b"!" + v if k == SIGNATURE_HEADER else v) for k, v in tax]  # junk a lax decoder skips
    assert refusal(keyring, VALUE, padded) == (
        "signature",
        "signature: signature by 'tax-1' does not match the record",
    )


def test_the_keyring_is_its_owners_and_the_trust_store_readable_by_receivers(tmp_path):
    keyring = tmp_path / "etc" / "lienthong" / "keyring"  # its parents made too
    generate_keyring(keyring, ["tax-1"])
    assert keyring.stat().st_mode & 0o777 == 0o700
    assert (keyring / "tax-1.pem").stat().st_mode & 0o777 == 0o600
    assert (keyring / "trust.toml").stat().st_mode & 0o777 == 0o644
