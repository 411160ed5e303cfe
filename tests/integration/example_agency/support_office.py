"""The Department of Home Affairs' funeral-support system, written from docs/agencies.md alone.

It imports nothing of lienthong: what it knows of the hub is what the docs say about the topics,
the envelope, the signature headers and the answers, and what the hand-over folder of
``lienthong agency add`` holds. A team writing its system in another language follows the same
steps.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import tomllib
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

CODE, KEY_ID = "social", "social-1"
WINDOW_MS = 15 * 60 * 1000  # a command signed further than this from now is not the hub's to act on
COMMAND, REPLY = "vn.lienthong.step.command", "vn.lienthong.step.reply"
SUPPORT_VND = 10_000_000  # what this office's rules pay (test data)


def kafka_settings(handover: Path) -> dict[str, Any]:
    """aiokafka's connection settings from the hand-over's client properties file."""
    props = dict(
        line.split("=", 1)
        for line in (handover / f"{CODE}.properties").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    login = re.search(r'username="([^"]*)" password="([^"]*)"', props["sasl.jaas.config"])
    assert login is not None
    return {
        "bootstrap_servers": props["bootstrap.servers"],
        "security_protocol": props["security.protocol"],
        "sasl_mechanism": props["sasl.mechanism"],
        "sasl_plain_username": login[1],
        "sasl_plain_password": login[2],
        "ssl_context": ssl.create_default_context(cafile=handover / props["ssl.truststore.location"]),
    }


class FuneralSupportOffice:
    """Decides the funeral support for the beneficiaries on its register, once per idempotency key."""

    def __init__(self, handover: Path, namespace: str, beneficiaries: set[str]) -> None:
        self.kafka = kafka_settings(handover)
        self.key = load_pem_private_key((handover / f"{KEY_ID}.pem").read_bytes(), password=None)
        assert isinstance(self.key, Ed25519PrivateKey)
        trusted = tomllib.loads((handover / "trust.toml").read_text())["keys"]
        self.hub_keys = {kid: Ed25519PublicKey.from_public_bytes(base64.b64decode(raw)) for kid, raw in trusted.items()}
        self.inbox, self.outbox = f"{namespace}agency.{CODE}.inbox", f"{namespace}agency.{CODE}.outbox"
        self.group = f"{namespace}agency.{CODE}.system"
        self.beneficiaries = beneficiaries
        self.answers: dict[str, tuple[str, dict[str, Any], str | None]] = {}  # idempotency key -> answer
        self.decisions: list[str] = []  # the decisions taken: one per key, whatever the repeats

    def signed_by_hub(self, value: bytes, headers: list[tuple[str, bytes]]) -> bool:
        found = dict(headers)
        try:
            key_id = found["lienthong-keyid"].decode()
            signed_at = int(found["lienthong-signed-at"])
            signature = base64.b64decode(found["lienthong-signature"], validate=True)
            public = self.hub_keys[key_id]
            public.verify(signature, f"{key_id}\n{signed_at}\n".encode() + value)
        except (KeyError, ValueError, InvalidSignature):
            return False
        return abs(datetime.now(UTC).timestamp() * 1000 - signed_at) <= WINDOW_MS

    def sign(self, value: bytes) -> list[tuple[str, bytes]]:
        signed_at = str(int(datetime.now(UTC).timestamp() * 1000))
        signature = self.key.sign(f"{KEY_ID}\n{signed_at}\n".encode() + value)  # type: ignore[union-attr]
        return [
            ("content-type", b"application/cloudevents+json"),
            ("lienthong-keyid", KEY_ID.encode()),
            ("lienthong-signed-at", signed_at.encode()),
            ("lienthong-signature", base64.b64encode(signature)),
        ]

    def decide(self, key: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
        """The answer to a command: the first one again for a repeated key."""
        if key not in self.answers:
            if params["deceased_id"] not in self.beneficiaries:
                reason = "deceased_id: not on the social-protection register; no funeral support is due"
                self.answers[key] = ("rejected", {}, reason)
            else:
                number = f"QĐ-{len(self.decisions) + 1:05d}/{date.today():%Y}"
                self.decisions.append(number)
                result = {"decision_no": number, "amount_vnd": SUPPORT_VND, "decided_on": date.today().isoformat()}
                self.answers[key] = ("succeeded", result, None)
        return self.answers[key]

    def reply(self, command: dict[str, Any]) -> dict[str, Any]:
        step = command["data"]
        outcome, result, reason = self.decide(command["idempotencykey"], step["params"])
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"/agency/{CODE}",
            "type": REPLY,
            "subject": command["subject"],
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "correlationid": command["correlationid"],
            "causationid": command["id"],
            "idempotencykey": command["idempotencykey"],
            "data": {
                "step": step["step"],
                "action": step["action"],
                "agency": CODE,
                "outcome": outcome,
                "result": result,
                "reason": reason,
            },
        }

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.inbox, **self.kafka, group_id=self.group, auto_offset_reset="earliest", enable_auto_commit=False
        )
        producer = AIOKafkaProducer(**self.kafka, acks="all")
        await consumer.start()
        await producer.start()
        try:
            async for record in consumer:
                if not self.signed_by_hub(record.value, list(record.headers)):
                    continue  # not the hub's: never acted on
                command = json.loads(record.value)
                if command.get("type") == COMMAND and command["data"].get("agency") == CODE:
                    value = json.dumps(self.reply(command), ensure_ascii=False).encode()
                    await producer.send_and_wait(self.outbox, key=record.key, value=value, headers=self.sign(value))
                await consumer.commit()  # after the answer is on the broker: a crash re-reads, never loses
        finally:
            await producer.stop()
            await consumer.stop()
