"""Onboarding a Kafka-native agency from the registry onto a running cluster (``lienthong agency add``).

The agency is first written into the deployment's registry file (``LIENTHONG_REGISTRY_FILE``);
then one command, run with the cluster's ``admin`` client file and the hub's keyring:

1. gives its principal a SCRAM-SHA-512 credential on the cluster (Kafka's
   AlterUserScramCredentials admin request: the password never appears on a command line);
2. creates its inbox and outbox and grants the registry's ACLs (:func:`infra.topics.provision`);
3. generates its signing keys into the hand-over folder and adds their public keys to the hub's
   trust store;
4. writes the hand-over folder: the principal's client properties, the cluster's CA, its private
   keys and a trust store with the hub's public keys (to verify the hub's commands).

Run again with the same hand-over folder it changes nothing it already did: the password and keys
found there are kept, so onboarding the agency onto a second namespace reuses them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Schema, TaggedFields

from connectors.kafka_client import KafkaClient
from contracts.agencies import REGISTRY
from contracts.errors import SettingsError
from contracts.record_signing import TRUST_FILE, generate_keys, public_key, trust, trusted
from contracts.topics import Topics
from infra.harness.broker_security import MECHANISM, client_properties, write_secret
from infra.topics import provision

SCRAM_SHA_512 = 2  # Kafka's ScramMechanism code
ITERATIONS = 8192  # at least Kafka's minimum of 4096


class _AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _UpsertScram(Request[_AlterUserScramCredentialsRequest_v0]):
    """Set one user's SCRAM-SHA-512 credential (aiokafka has no wrapper for KIP-554's request)."""

    API_KEY = 51

    def __init__(self, user: str, password: str) -> None:
        salt = secrets.token_bytes(32)
        salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)  # RFC 5802's Hi()
        self._upsertion: tuple[Any, ...] = (user, SCRAM_SHA_512, ITERATIONS, salt, salted, {})

    def build(self, request_struct_class: type[_AlterUserScramCredentialsRequest_v0]):
        return request_struct_class([], [self._upsertion], {})


async def set_scram_credential(admin_client: KafkaClient, user: str, password: str) -> None:
    """Give ``user`` a SCRAM-SHA-512 credential with ``password`` (as a super user)."""
    admin = AIOKafkaAdminClient(**admin_client.aiokafka(), request_timeout_ms=15000)
    await admin.start()
    try:
        response = await admin._send_request(_UpsertScram(user, password))
    finally:
        await admin.close()
    for name, code, message, _ in response.results:
        if code:
            raise for_code(code)(f"SCRAM credential of {name}: {message}")


@dataclass(frozen=True)
class Handover:
    """What the agency's team receives (the folder, mode 0700, readable by its owner only)."""

    folder: Path
    client_properties: Path
    keys: tuple[Path, ...]
    hub_trust: Path
    topics_created: tuple[str, ...]


async def add_agency(
    code: str,
    *,
    admin_client: KafkaClient,
    topics: Topics,
    hub_group: str,
    keyring: Path,
    handover: Path,
) -> Handover:
    """Onboard agency ``code`` of this process's registry (see the module docstring)."""
    registry = REGISTRY
    agency = registry.agencies.get(code)
    if agency is None:
        raise SettingsError(f"agency {code!r} is not in the registry: add it to the registry file first")
    if agency.bridged or agency.principal is None:
        raise SettingsError(
            f"{code} is a {agency.transport} agency: the hub's bridge plays its part, so it has no principal or keys "
            "of its own (a new REST or SOAP agency needs a connector in the hub)"
        )
    hub_keys = {k: v for k, v in trusted(keyring).items() if k in registry.hub.keys}
    if missing := [k for k in registry.hub.keys if k not in hub_keys]:
        raise SettingsError(f"keyring {keyring}: the hub's key {missing[0]} is not in its trust store")
    handover.mkdir(mode=0o700, parents=True, exist_ok=True)
    properties = handover / f"{agency.principal}.properties"
    password = KafkaClient.load(properties).password if properties.exists() else None
    password = password or secrets.token_urlsafe(24)
    await set_scram_credential(admin_client, agency.principal, password)
    created = await provision(admin_client, topics, hub_group)
    generate_keys(handover, agency.keys)
    trust(keyring, {key_id: public_key(handover, key_id) for key_id in agency.keys})
    trust(handover, hub_keys)
    ca = None
    if admin_client.ca_file is not None:
        ca = handover / "ca.pem"
        if admin_client.ca_file.resolve() != ca.resolve():
            shutil.copyfile(admin_client.ca_file, ca)
    text = client_properties(agency.principal, password, admin_client.bootstrap_servers, Path("ca.pem"), "agency add")
    if ca is None:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("ssl.truststore")) + "\n"
    write_secret(properties, text.encode())
    os.chmod(handover, 0o700)
    return Handover(
        handover, properties, tuple(handover / f"{k}.pem" for k in agency.keys), handover / TRUST_FILE, tuple(created)
    )


def handover_lines(code: str, topics: Topics, handover: Handover, keyring: Path) -> list[str]:
    """What the command prints: what was done, and what to hand to the agency's team."""
    registry = REGISTRY
    agency = registry.agencies[code]
    lines = [f"onboarded {code}: {agency.name}"]
    lines += [f"  created topic {name}" for name in handover.topics_created]
    lines += [
        f"  principal User:{agency.principal} ({MECHANISM}) may read {topics.inbox(code)}, write "
        f"{topics.outbox(code)} and join consumer groups {topics.agency_group(code, '*')}",
        f"  the hub now trusts {', '.join(agency.keys)} ({keyring / TRUST_FILE})",
        f"hand over {handover.folder} (secret: send it by a channel you trust, then delete your copy):",
        f"  {handover.client_properties.name}  Kafka client properties of User:{agency.principal}",
    ]
    if (handover.folder / "ca.pem").exists():
        lines.append("  ca.pem  the cluster's CA certificate")
    lines += [f"  {key.name}  its private signing key {key.stem}" for key in handover.keys]
    lines += [
        f"  {handover.hub_trust.name}  the hub's public keys ({', '.join(registry.hub.keys)}), to verify its commands",
        "then restart the hub's workers (one at a time) so they read the new outbox and trust its keys;",
        f"the team checks its system with: lienthong conformance --agency {code} (docs/agencies.md)",
    ]
    return lines
