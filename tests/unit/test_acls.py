"""The broker ACLs derived from the agency registry: who may read and write which topic."""

from __future__ import annotations

from contracts.agencies import REGISTRY
from contracts.topics import Topics
from infra.acls import AclBinding, Operation, Pattern, Resource, acl_bindings

TOPICS = Topics(namespace="ns.")
BINDINGS = acl_bindings(REGISTRY, TOPICS, "ns.lienthong-hub")
READ, WRITE = Operation.READ, Operation.WRITE


def topics_of(principal: str, operation: Operation) -> set[str]:
    return {
        b.name
        for b in BINDINGS
        if b.principal == principal
        and b.operation is operation
        and b.resource is Resource.TOPIC
        and b.pattern is Pattern.LITERAL
    }


def test_an_agency_writes_its_own_outbox_and_reads_its_own_inbox_only():
    for code in ("justice", "tax", "portal"):
        assert topics_of(code, WRITE) == {f"ns.agency.{code}.outbox"}
        assert topics_of(code, READ) == {f"ns.agency.{code}.inbox"}
        assert {b for b in BINDINGS if b.principal == code and b.resource is Resource.GROUP} == {
            AclBinding(code, READ, Resource.GROUP, f"ns.agency.{code}.", Pattern.PREFIXED)
        }
        assert not any(
            b.principal == code and b.pattern is Pattern.PREFIXED and b.resource is Resource.TOPIC for b in BINDINGS
        )


def test_the_onestop_gateway_also_keeps_its_code_ledger():
    assert topics_of("onestop", WRITE) == {"ns.agency.onestop.outbox", "ns.agency.onestop.sequence"}
    assert topics_of("onestop", READ) == {"ns.agency.onestop.inbox", "ns.agency.onestop.sequence"}


def test_the_hub_writes_every_inbox_the_bridged_outboxes_and_its_own_topics():
    bridged = {"population", "insurance", "payment"}
    assert topics_of("hub", WRITE) == (
        {f"ns.agency.{code}.inbox" for code in REGISTRY.agencies}
        | {f"ns.agency.{code}.outbox" for code in bridged}
        | {"ns.hub.dossier.events", "ns.hub.deadletter", "ns.hub.monitor.transitions", "ns.hub.audit"}
        | {"ns.hub.monitor.exchanges", "ns.hub.monitor.agencies", "ns.hub.monitor.alerts"}
    )
    assert topics_of("hub", READ) == (
        {f"ns.agency.{code}.outbox" for code in REGISTRY.agencies}
        | {f"ns.agency.{code}.inbox" for code in bridged}
        | {"ns.hub.dossier.events", "ns.hub.audit"}  # the audit chain's head is read back
        | {"ns.hub.monitor.exchanges"}  # agency health is computed from the exchanges
    )
    prefixed = {
        (b.resource, b.operation, b.name) for b in BINDINGS if b.principal == "hub" and b.pattern is Pattern.PREFIXED
    }
    assert prefixed == {(Resource.TOPIC, op, "ns.lienthong-hub-") for op in (READ, WRITE, Operation.CREATE)} | {
        (Resource.TRANSACTIONAL_ID, op, "ns.lienthong-hub-") for op in (WRITE, Operation.DESCRIBE)
    }  # its Faust topics (the table changelog), and transactional ids for exactly-once
    assert AclBinding("hub", READ, Resource.GROUP, "ns.lienthong-hub") in BINDINGS


def test_the_operator_reads_everything_and_writes_only_where_dead_letters_are_replayed():
    assert topics_of("operator", READ) == {spec.name for spec in TOPICS.specs()}
    assert topics_of("operator", WRITE) == {f"ns.agency.{code}.outbox" for code in REGISTRY.agencies} | {
        "ns.hub.dossier.events"
    }


def test_nobody_else_gets_anything_and_only_the_namespace_is_named():
    principals = {REGISTRY.hub.principal, REGISTRY.operator.principal} | {
        a.principal for a in REGISTRY.agencies.values() if a.principal
    }
    assert {b.principal for b in BINDINGS} == principals
    assert all(b.name.startswith("ns.") for b in BINDINGS)
    assert acl_bindings(REGISTRY, Topics(namespace="other."), "other.lienthong-hub").isdisjoint(BINDINGS)


def test_a_binding_reads_as_kafka_acls_would_print_it():
    binding = AclBinding("justice", READ, Resource.GROUP, "ns.agency.justice.", Pattern.PREFIXED)
    assert str(binding) == "User:justice READ group ns.agency.justice.*"
