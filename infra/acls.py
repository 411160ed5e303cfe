"""Broker ACLs derived from the agency registry, and applying them (``lienthong topics``).

:func:`acl_bindings` is the whole policy, a pure function of the registry, the deployment's topics
and the hub's consumer group (its Faust app id). Nothing is allowed that it does not list; the
broker denies everything else (``allow.everyone.if.no.acl.found=false``):

- an agency with a principal writes its own outbox and reads its own inbox, in consumer groups
  named ``<namespace>agency.<code>.*``;
- the hub reads every outbox, the bridged agencies' inboxes, ``hub.dossier.events``,
  ``hub.audit`` (each audit chain's head) and ``hub.monitor.exchanges`` (agency health); writes
  every inbox, the bridged agencies' outboxes (it plays their part) and every ``hub.*`` topic;
  and owns its Faust group and internal topics (``<group id>-*``: the saga table's changelog) and
  transactional ids (``<group id>-*``, for ``LIENTHONG_PROCESSING_GUARANTEE=exactly_once``);
- the one-stop SOAP gateway (principal of agency ``onestop``) also reads and writes its dossier-code
  ledger, ``agency.onestop.sequence``;
- the operator reads every topic (``dlq list``, ``watch``, ``lag`` and the hub group's offsets), in
  consumer groups named ``<namespace>operator.*`` if any, and writes the outboxes and
  ``hub.dossier.events`` (``dlq replay``).

Topics are named LITERAL (the namespace is part of every name); only consumer groups and the hub's
Faust topics are PREFIXED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request

from connectors.kafka_client import KafkaClient
from contracts.agencies import Registry
from contracts.topics import Topics


class Operation(IntEnum):  # Kafka's AclOperation codes
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


class Resource(IntEnum):  # Kafka's ResourceType codes
    TOPIC = 2
    GROUP = 3
    TRANSACTIONAL_ID = 5


class Pattern(IntEnum):  # Kafka's PatternType codes
    LITERAL = 3
    PREFIXED = 4


_ANY = 1  # the wildcard of every filter enum
_ALLOW = 3
_EVERY_HOST = "*"


@dataclass(frozen=True, order=True)
class AclBinding:
    """``User:<principal>`` may ``operation`` on the resource ``name`` (or every name it prefixes)."""

    principal: str
    operation: Operation
    resource: Resource
    name: str
    pattern: Pattern = Pattern.LITERAL

    def __str__(self) -> str:
        what = f"{self.resource.name.lower()} {self.name}{'*' if self.pattern is Pattern.PREFIXED else ''}"
        return f"User:{self.principal} {self.operation.name} {what}"


def acl_bindings(registry: Registry, topics: Topics, hub_group: str) -> frozenset[AclBinding]:
    """Every ACL of one deployment (a namespace): the policy in the module docstring."""
    read, write, create, describe = Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE
    topic, group, prefixed = Resource.TOPIC, Resource.GROUP, Pattern.PREFIXED
    hub, operator = registry.hub.principal, registry.operator.principal
    hub_topics = [topics.dossier_events, topics.deadletter, topics.monitor, topics.audit]
    hub_topics += [topics.exchanges, topics.agencies, topics.alerts]
    out = {
        AclBinding(hub, read, topic, topics.dossier_events),
        AclBinding(hub, read, topic, topics.audit),  # each audit chain's head is read from the log
        AclBinding(hub, read, topic, topics.exchanges),  # each agency's health is computed from them
        *(AclBinding(hub, write, topic, name) for name in hub_topics),
        *(AclBinding(hub, op, topic, f"{hub_group}-", prefixed) for op in (read, write, create)),
        AclBinding(hub, read, group, hub_group),
        *(AclBinding(hub, op, Resource.TRANSACTIONAL_ID, f"{hub_group}-", prefixed) for op in (write, describe)),
        *(AclBinding(operator, read, topic, spec.name) for spec in topics.specs()),
        AclBinding(operator, write, topic, topics.dossier_events),
        AclBinding(operator, describe, group, hub_group),
        AclBinding(operator, read, group, topics.operator_group(""), prefixed),
    }
    for code, agency in registry.agencies.items():
        inbox, outbox = topics.inbox(code), topics.outbox(code)
        out |= {
            AclBinding(hub, read, topic, outbox),
            AclBinding(hub, write, topic, inbox),
            AclBinding(operator, write, topic, outbox),
        }
        if agency.bridged:
            out |= {AclBinding(hub, read, topic, inbox), AclBinding(hub, write, topic, outbox)}
        if agency.principal:
            out |= {
                AclBinding(agency.principal, write, topic, outbox),
                AclBinding(agency.principal, read, topic, inbox),
                AclBinding(agency.principal, read, group, topics.agency_group(code, ""), prefixed),
            }
    if (onestop := registry.agencies.get("onestop")) and onestop.principal:  # the SOAP gateway's code ledger
        out |= {AclBinding(onestop.principal, op, topic, topics.onestop_sequence) for op in (read, write)}
    return frozenset(out)


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """Many bindings in one CreateAcls request (aiokafka's own wrapper sends one)."""

    API_KEY = 30

    def __init__(self, bindings: Iterable[AclBinding]) -> None:
        self._creations = [
            (b.resource, b.name, b.pattern, f"User:{b.principal}", _EVERY_HOST, b.operation, _ALLOW) for b in bindings
        ]

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


async def _existing(admin: AIOKafkaAdminClient, node: int | None = None) -> set[AclBinding]:
    """The ACLs a broker (``node``, else any one) enforces."""
    request = DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY)
    response = await (admin._send_request(request) if node is None else admin._send_request_to_node(node, request))
    if response.error_code:
        raise for_code(response.error_code)(f"describing ACLs: {response.error_message}")
    kinds, patterns, operations = ({member.value for member in enum} for enum in (Resource, Pattern, Operation))
    return {  # only what acl_bindings can name: other kinds of ACL are none of its business
        AclBinding(principal.removeprefix("User:"), Operation(op), Resource(kind), name, Pattern(pattern))
        for kind, name, pattern, acls in response.resources
        if kind in kinds and pattern in patterns
        for principal, _, op, permission in acls
        if permission == _ALLOW and op in operations
    }


async def apply_acls(admin_client: KafkaClient, bindings: frozenset[AclBinding], timeout_s: float = 15) -> int:
    """Create the bindings the cluster lacks (as a super user) and wait until every broker enforces
    them (each follows the metadata log on its own: one that lags would refuse a client); returns
    how many were created. Bindings not listed are left alone (other namespaces')."""
    admin = AIOKafkaAdminClient(**admin_client.aiokafka(), request_timeout_ms=15000)
    await admin.start()
    try:
        missing = bindings - await _existing(admin)
        if missing:
            response = await admin._send_request(_CreateAcls(sorted(missing)))
            for (code, message), binding in zip(response.creation_responses, sorted(missing), strict=True):
                if code:
                    raise for_code(code)(f"creating ACL {binding}: {message}")
        deadline = time.monotonic() + timeout_s
        for broker in admin._client.cluster.brokers():
            while lacking := bindings - await _existing(admin, broker.nodeId):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(lacking)} ACLs not in force on broker {broker.nodeId} after {timeout_s:.0f}s, "
                        f"e.g. {min(lacking)}"
                    )
                await asyncio.sleep(0.1)
        return len(missing)
    finally:
        await admin.close()
