"""The audit chain without Kafka: links, pseudonyms, signed checkpoints, and the writer's head
after a restart."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.actions import RegisterBirth
from contracts.audit import GENESIS, ChainCheck, Problem, entry_hash, personal_ids, subject_ref
from contracts.events import AuditRecord
from streams.audit import AuditLog

AT = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
MOTHER, FATHER = "093195000123", "093092000456"


def sign(data: bytes) -> tuple[str, bytes]:
    return "hub-1", KEY.sign(data)


def verify(key_id: str, data: bytes, signature: bytes) -> bool:
    try:
        KEY.public_key().verify(signature, data)
    except InvalidSignature:
        return False
    return key_id == "hub-1"


def record(n: int) -> bytes:
    return (
        AuditRecord(kind="command", dossier_id="000.00.31.H26-261120-0001", agency="justice", fields=[f"f{n}"], at=AT)
        .model_dump_json()
        .encode()
    )


class Partition:
    """One audit partition in memory, written through an :class:`AuditLog`."""

    def __init__(self, every: int = 1000) -> None:
        self.values: list[bytes] = []
        self.log = self.writer(every)

    def writer(self, every: int = 1000) -> AuditLog:
        """A fresh writer (a restarted worker): it knows nothing but the log."""
        return AuditLog(self._send, self._last, sign, lambda: AT, every)

    async def _send(self, partition: int, key: bytes | None, value: bytes) -> None:
        self.values.append(value)

    async def _last(self, partition: int) -> bytes | None:
        return self.values[-1] if self.values else None

    def entries(self) -> list[dict]:
        return [json.loads(v) for v in self.values]


def check(values: list[bytes], every: int = 4) -> Problem | None:
    chain = ChainCheck(0, verify, every)
    for offset, value in enumerate(values):
        chain.feed(offset, value)
    return chain.problem


async def chain_of(n: int, every: int = 1000) -> Partition:
    partition = Partition(every)
    for i in range(n):
        await partition.log.append(0, b"k", [record(i)])
    return partition


async def test_each_entry_links_to_the_one_before_and_a_checkpoint_signs_every_n():
    partition = await chain_of(7, every=3)
    entries = partition.entries()
    assert [e["kind"] for e in entries] == ["exchanges"] * 3 + ["checkpoint"] + ["exchanges"] * 3 + ["checkpoint"] + [
        "exchanges"
    ]
    assert entries[0]["prev"] == GENESIS and [e["seq"] for e in entries] == list(range(9))
    assert all(e["prev"] == before["hash"] for before, e in itertools.pairwise(entries))
    chain = ChainCheck(0, verify, 3)
    assert [chain.feed(i, v) for i, v in enumerate(partition.values)] == [None] * 9
    assert (chain.entries, chain.checkpoints) == (9, 2)


def edited(value: bytes) -> bytes:
    entry = json.loads(value)
    entry["exchanges"][0]["agency"] = "tax"
    return json.dumps(entry).encode()


def rehashed(value: bytes, prev: str) -> bytes:
    """An entry re-linked after ``prev`` with a correct hash: what a forger who knows the scheme writes."""
    entry = json.loads(value)
    entry["prev"] = prev
    entry["hash"] = entry_hash(entry)
    return json.dumps(entry).encode()


@pytest.mark.parametrize(
    ("tamper", "offset", "what"),
    [
        (lambda v: [*v[:2], edited(v[2]), *v[3:]], 2, "content does not match its hash"),
        (lambda v: v[:2] + v[3:], 2, "link broken"),
        (lambda v: [*v[:2], v[3], v[2], *v[4:]], 2, "link broken"),
        (lambda v: [*v[:2], v[1], *v[2:]], 2, "link broken"),
        (lambda v: v[1:], 0, "link broken"),
        (lambda v: [*v[:2], b"{}", *v[3:]], 2, "not an audit entry"),
        (lambda v: [*v[:5], rehashed(edited(v[5]), json.loads(v[4])["hash"]), *v[6:]], 6, "link broken"),
    ],
    ids=["edited", "deleted", "swapped", "inserted", "first deleted", "garbage", "edited and rehashed"],
)
async def test_any_edit_deletion_insertion_or_swap_is_named_at_the_first_broken_link(tamper, offset, what):
    values = (await chain_of(8, every=4)).values
    assert check(values) is None
    problem = check(tamper(values))
    assert problem is not None and problem.offset == offset and what in problem.what, problem


async def test_a_rewritten_chain_fails_at_the_checkpoint_it_cannot_sign():
    values = (await chain_of(8, every=4)).values  # checkpoint at offset 4
    forged, prev = [], GENESIS
    for value in values[:4]:
        forged.append(rehashed(edited(value), prev))
        prev = json.loads(forged[-1])["hash"]
    forged.append(rehashed(values[4], prev))
    problem = check(forged)
    assert problem is not None and problem.offset == 4 and "signature" in problem.what


async def test_a_chain_rebuilt_without_the_key_is_caught_by_its_missing_checkpoints():
    forged, prev = [], GENESIS
    for value in (await chain_of(6, every=1000)).values:
        forged.append(rehashed(edited(value), prev))
        prev = json.loads(forged[-1])["hash"]
    assert check(forged, every=6) is None
    problem = check(forged, every=4)
    assert problem is not None and problem.offset == 4 and "without a signed checkpoint" in problem.what


async def test_a_restarted_writer_continues_the_chain_from_the_log_and_a_redelivered_record_does_not_fork():
    partition = await chain_of(3)
    redelivered = record(2)
    partition.log = partition.writer()  # the worker crashed after writing record 2, before committing
    await partition.log.append(0, b"k", [redelivered])
    await partition.log.append(0, b"k", [record(3)])
    assert check(partition.values, every=1000) is None
    entries = partition.entries()
    assert [e["exchanges"][0]["fields"] for e in entries if e["kind"] == "exchanges"] == [
        ["f0"],
        ["f1"],
        ["f2"],
        ["f2"],
        ["f3"],
    ]
    # it cannot know how many entries the last checkpoint is behind, so it signs at once
    assert [e["kind"] for e in entries[3:]] == ["exchanges", "checkpoint", "exchanges"]


async def test_a_writer_that_forgets_its_heads_on_a_rebalance_rereads_the_log():
    partition = await chain_of(2)
    partition.values += await _foreign_entries(partition)  # another worker owned the partition meanwhile
    partition.log.forget()
    await partition.log.append(0, b"k", [record(9)])
    assert check(partition.values) is None


async def _foreign_entries(partition: Partition) -> list[bytes]:
    other = Partition()
    other.values = list(partition.values)
    other.log = other.writer()
    await other.log.append(0, b"k", [record(5)])
    return other.values[len(partition.values) :]


async def test_the_timer_signs_only_partitions_with_unsigned_entries():
    partition = await chain_of(2, every=1000)
    await partition.log.checkpoint()
    await partition.log.checkpoint()
    assert [e["kind"] for e in partition.entries()] == ["exchanges", "exchanges", "checkpoint"]
    assert check(partition.values) is None


def test_personal_ids_are_found_by_type_in_nested_params_and_named_only_by_keyed_hash():
    params = {
        "birth_notice_no": "GCS-1",
        "child_full_name": "Lê Minh An",
        "mother": {"full_name": "Trần Thị Lan", "personal_id": MOTHER},
        "father": {"full_name": "Lê Văn Hùng", "personal_id": FATHER},
        "commune_code": "31360",
    }
    assert personal_ids(RegisterBirth, params) == [MOTHER, FATHER]
    assert personal_ids(RegisterBirth, params | {"father": None}) == [MOTHER]
    ref = subject_ref(b"key", MOTHER)
    assert len(ref) == 64 and MOTHER not in ref
    assert ref == subject_ref(b"key", f" {MOTHER} ") != subject_ref(b"other key", MOTHER)
