"""The AsyncAPI 3.0 document of the hub's Kafka interface, generated from the agency registry,
the topics and the pydantic contracts (``lienthong asyncapi`` writes ``docs/asyncapi.yaml``).

It is written from the point of view of whoever connects: each agency *receives* commands and
status updates on its inbox and *sends* replies and filings on its outbox; operators receive the
``hub.*`` topics. Every message is a CloudEvents envelope in the Kafka binding's structured mode
whose ``data`` is the JSON Schema pydantic makes of the contract, all schemas in one
``components.schemas`` table. Nothing is written by hand, so the document cannot drift from the
code; a unit test compares it with the file and runs the AsyncAPI parser on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts import events
from contracts.actions import ACTIONS
from contracts.agencies import REGISTRY, Agency, Transport
from contracts.audit import AuditEntry
from contracts.catalog import builtin_catalog
from contracts.envelope import CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE, Envelope
from contracts.filings import FILING_MODELS
from contracts.native import JusticeBirthFiling
from contracts.record_signing import KEYID_HEADER, SIGNATURE_HEADER, SIGNATURE_HEADERS, SIGNED_AT_HEADER
from contracts.topics import DLQ_HEADER_PREFIX, Topics

Doc = dict[str, Any]
SCHEMAS = "#/components/schemas/"
KAFKA_BINDING = "0.5.0"
NATIVE_FILINGS: dict[str, type[BaseModel]] = {"justice": JusticeBirthFiling}
"""Agencies that also file in their own format, not an envelope (streams.ingest.NATIVE_FILINGS)."""
DLQ_HEADERS = {
    "reason": "Why the record was refused, personal data masked",
    "code": "The reason code: rejected, signature, stale, not_entitled, unprocessable, payment_mismatch, "
    "filing_conflict, internal",
    "stage": "The stage that gave up on it, e.g. ingest.justice",
    "topic": "The topic it came from",
    "partition": "Its partition there",
    "offset": "Its offset there",
    "at": "When it was dead-lettered (ISO 8601)",
}
"""The ``lienthong.dlq.*`` headers of a dead letter (streams.deadletter.dlq_headers)."""
# Messages whose data is one contract as it is: name -> title, event type, model.
PLAIN: dict[str, tuple[str, str, type[BaseModel]]] = {
    "statusUpdate": ("Dossier status changed", events.DOSSIER_STATUS, events.StatusUpdate),
    "overdueNotice": ("Apology and new date for a late dossier", events.DOSSIER_OVERDUE, events.OverdueNotice),
    "filingRefused": ("A filing the hub did not take, and why", events.FILING_REFUSED, events.FilingRefused),
    "withdrawn": ("The citizen withdraws a dossier", events.DOSSIER_WITHDRAWN, events.DossierWithdrawn),
    "supplemented": (
        "The citizen supplies requested documents",
        events.DOSSIER_SUPPLEMENTED,
        events.DossierSupplemented,
    ),
    "paymentNotified": ("A payment request was paid", events.PAYMENT_NOTIFIED, events.PaymentNotification),
    "transitions": ("What one event changed: dossier and step transitions", events.TRANSITIONS, events.Transitions),
    "exchange": ("One exchange with an agency ended", events.EXCHANGE, events.Exchange),
}
INTERNAL_TYPES = [
    events.DOSSIER_FILED,
    events.STEP_REPLY,
    events.STEP_TIMEOUT,
    events.DEADLINE_PASSED,
    events.SAGA_EXPIRED,
    events.DOSSIER_WITHDRAWN,
    events.DOSSIER_SUPPLEMENTED,
    events.PAYMENT_NOTIFIED,
]
"""What ``hub.dossier.events`` carries: the events ingest forwards and the sweeper's ticks."""


def _camel(*words: str) -> str:
    parts = [p for w in words for p in w.split("_") if p]
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _ref(path: str) -> Doc:
    return {"$ref": path}


def _contracts() -> tuple[dict[type, Doc], dict[str, Doc]]:
    """A ``$ref`` to each contract's schema, and every schema by the name pydantic gave it."""
    models: list[type[BaseModel]] = [
        Envelope,
        events.DossierFiled,
        events.StepCommand,
        events.StepReply,
        *(model for _, _, model in PLAIN.values()),
        *NATIVE_FILINGS.values(),
        *FILING_MODELS.values(),
        AuditEntry,
        events.AgencyHealth,
        events.Alert,
    ]
    for action in ACTIONS.values():
        models += [action.params, action.result]
    refs, top = models_json_schema([(m, "validation") for m in dict.fromkeys(models)], ref_template=SCHEMAS + "{model}")
    return {model: ref for (model, _), ref in refs.items()}, dict(sorted(top["$defs"].items()))


class _Builder:
    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.refs, self.schemas = _contracts()
        self.schemas["DossierKey"] = DOSSIER_KEY
        self.messages: dict[str, Doc] = {}
        self.channels: dict[str, Doc] = {}
        self.operations: dict[str, Doc] = {}
        self.catalog = builtin_catalog()

    def headers(self, signers: Iterable[str], envelope: bool = True) -> Doc:
        """A ``$ref`` to the headers' schema: one per kind of value and set of signing keys."""
        keys = sorted(signers)
        name = "_".join(["Headers", "envelope" if envelope else "native", *keys])
        self.schemas.setdefault(name, _headers(keys, envelope))
        return _ref(SCHEMAS + name)

    def envelope(
        self, name: str, title: str, type_: str | list[str], data: Doc, signers: Iterable[str], summary: str = ""
    ) -> str:
        """Register an envelope message (structured mode, signed by one of ``signers``); its name."""
        types = {"const": type_} if isinstance(type_, str) else {"enum": type_}
        self.messages.setdefault(
            name,
            {
                "name": name,
                "title": title,
                "summary": summary or title,
                "contentType": STRUCTURED_CONTENT_TYPE,
                "headers": self.headers(signers),
                "payload": {"allOf": [self.refs[Envelope], {"properties": {"type": types, "data": data}}]},
                "correlationId": {"location": "$message.payload#/correlationid"},
                "bindings": {"kafka": {"key": _ref(SCHEMAS + "DossierKey"), "bindingVersion": KAFKA_BINDING}},
            },
        )
        return name

    def plain(self, name: str, signers: Iterable[str], prefix: str = "") -> str:
        title, type_, model = PLAIN[name]
        return self.envelope(_camel(prefix, name) if prefix else name, title, type_, self.refs[model], signers)

    def narrowed(self, model: type[BaseModel], **fields: Doc) -> Doc:
        """``model``'s schema with some of its fields narrowed (an action's params, a filing…)."""
        return {"allOf": [self.refs[model], {"properties": fields}]}

    def command(self, action: str) -> str:
        spec = ACTIONS[action]
        data = self.narrowed(
            events.StepCommand, action={"const": action}, agency={"const": spec.agency}, params=self.refs[spec.params]
        )
        name = _camel(action, "command")
        return self.envelope(name, f"{action} command", events.STEP_COMMAND, data, REGISTRY.hub.keys, spec.description)

    def reply(self, action: str, signers: Iterable[str]) -> str:
        spec = ACTIONS[action]
        result = {
            "description": "The action's result when the outcome is succeeded; empty otherwise",
            "anyOf": [self.refs[spec.result], {"type": "object", "maxProperties": 0}],
        }
        data = self.narrowed(events.StepReply, action={"const": action}, agency={"const": spec.agency}, result=result)
        return self.envelope(_camel(action, "reply"), f"{action} reply", events.STEP_REPLY, data, signers)

    def filed(self, procedure: str, agency: Agency, signers: Iterable[str]) -> str:
        proc = self.catalog[procedure]
        data = self.narrowed(
            events.DossierFiled,
            procedure={"const": procedure},
            filed_by={"const": agency.code},
            filing=self.refs[FILING_MODELS[proc.filing]],
        )
        name = _camel(agency.code, procedure, "filed")
        return self.envelope(name, f"{proc.title}: filed", events.DOSSIER_FILED, data, signers)

    def native(self, code: str) -> str:
        model, name = NATIVE_FILINGS[code], _camel(code, "native_filing")
        self.messages[name] = {
            "name": name,
            "title": f"{code} filing in its own format",
            "summary": model.__doc__ or name,
            "description": "Not an envelope: ingest validates it and translates it into a dossier filing.",
            "contentType": "application/json",
            "headers": self.headers(REGISTRY.agencies[code].keys, envelope=False),
            "payload": self.refs[model],
            "bindings": {"kafka": {"key": _ref(SCHEMAS + "DossierKey"), "bindingVersion": KAFKA_BINDING}},
        }
        return name

    def channel(self, key: str, address: str, description: str, messages: list[str], tag: str) -> None:
        spec = next(s for s in self.topics.specs() if s.name == address)
        config = {k: int(v) for k, v in spec.config.items() if k == "retention.ms"}
        self.channels[key] = {
            "address": address,
            "description": description,
            "messages": {m: _ref(f"#/components/messages/{m}") for m in messages},
            "tags": [_ref(f"#/components/tags/{tag}")],
            "bindings": {"kafka": {"topic": address, "topicConfiguration": config, "bindingVersion": KAFKA_BINDING}},
        }

    def operation(
        self, key: str, action: str, channel: str, messages: list[str], summary: str, tag: str, **extra: Doc
    ) -> None:
        if messages:
            self.operations[key] = {
                "action": action,
                "channel": _ref(f"#/channels/{channel}"),
                "summary": summary,
                "messages": [_ref(f"#/channels/{channel}/messages/{m}") for m in messages],
                "tags": [_ref(f"#/components/tags/{tag}")],
                **extra,
            }

    def agency(self, agency: Agency) -> None:
        code, hub = agency.code, REGISTRY.hub.keys
        signers = hub if agency.bridged else agency.keys  # the hub writes, and signs, a bridged outbox
        served = sorted(agency.serves)
        commands = [self.command(action) for action in served]
        notices = ["statusUpdate", "overdueNotice", "filingRefused"] if agency.file else []
        notices = [self.plain(name, hub) for name in notices]
        replies = [self.reply(action, signers) for action in served]
        filings = [self.filed(p, agency, signers) for p in sorted(self.catalog) if agency.may("file", p)]
        filings += [self.native(code)] if code in NATIVE_FILINGS else []
        filings += [self.plain("withdrawn", signers, code)] if agency.withdraw else []
        filings += [self.plain("supplemented", signers, code)] if agency.supplement else []
        payments = [self.plain("paymentNotified", signers)] if agency.notifies_payments else []

        inbox, outbox = _camel(code, "inbox"), _camel(code, "outbox")
        self.channel(
            inbox, self.topics.inbox(code), f"Step commands and status updates for {code}.", commands + notices, code
        )
        outgoing = replies + filings + payments
        self.channel(outbox, self.topics.outbox(code), f"Replies, filings and requests from {code}.", outgoing, code)
        reply = {
            "channel": _ref(f"#/channels/{outbox}"),
            "messages": [_ref(f"#/channels/{outbox}/messages/{m}") for m in replies],
        }
        for suffix, action, channel, messages, summary, extra in (
            ("receive_commands", "receive", inbox, commands, "performs steps", {"reply": reply}),
            ("receive_status_updates", "receive", inbox, notices, "hears how the dossiers it filed progress", {}),
            ("send_replies", "send", outbox, replies, "answers the hub's step commands", {}),
            ("send_filings", "send", outbox, filings, "files dossiers and passes on citizens' requests", {}),
            ("send_payment_notifications", "send", outbox, payments, "passes on verified payment notifications", {}),
        ):
            self.operation(_camel(code, suffix), action, channel, messages, f"{code} {summary}", code, **extra)

    def hub_topics(self) -> None:
        hub, t = REGISTRY.hub.keys, self.topics
        forwarded = "Filings, replies, requests and payments as ingest forwards them, and the sweeper's ticks"
        internal = self.envelope("dossierEvent", "Canonical dossier event", INTERNAL_TYPES, {}, hub, forwarded)
        self.messages["deadLetter"] = {
            "name": "deadLetter",
            "title": "Dead letter",
            "summary": "A record the hub could not process, with why",
            "description": "Kafka Connect's convention: the original key, value and headers, byte for byte, "
            f"plus the {DLQ_HEADER_PREFIX}* headers; `lienthong dlq replay` sends it back where it came from.",
            "headers": {
                "type": "object",
                "properties": {
                    DLQ_HEADER_PREFIX + k: {"type": "string", "description": v} for k, v in DLQ_HEADERS.items()
                },
                "required": [DLQ_HEADER_PREFIX + k for k in DLQ_HEADERS],
            },
            "payload": {"description": "The original record value, in whatever format it arrived"},
        }
        self.messages["auditEntry"] = {
            "name": "auditEntry",
            "title": "Audit chain entry",
            "summary": "The exchanges of personal data one event caused (field names, purpose, pseudonyms) "
            "or a signed checkpoint",
            "description": "A link of the partition's hash chain, not an envelope: `prev` is the previous entry's "
            "`hash`, `hash` is SHA-256 over the canonical JSON of the rest; a checkpoint carries the hub's "
            "Ed25519 signature over the chain's head. `lienthong audit verify` checks every link.",
            "contentType": "application/json",
            "payload": self.refs[AuditEntry],
        }
        transition, audit = self.plain("transitions", hub), "auditEntry"
        exchange = self.plain("exchange", hub)
        self.schemas["AgencyKey"] = {
            "type": "string",
            "enum": sorted(REGISTRY.agencies),
            "description": "The agency's code: one agency's exchanges, one partition",
        }
        self.messages[exchange]["bindings"]["kafka"]["key"] = _ref(SCHEMAS + "AgencyKey")
        for name, title, model, key in (
            ("agencyHealth", "One agency's health in one window", events.AgencyHealth, "AgencyKey"),
            ("alert", "Something an operator should act on, and what to do", events.Alert, None),
        ):
            self.messages[name] = {
                "name": name,
                "title": title,
                "summary": title,
                "description": "Signed JSON, not an envelope: it is about an agency as often as a dossier.",
                "contentType": "application/json",
                "headers": self.headers(hub, envelope=False),
                "payload": self.refs[model],
                "bindings": {
                    "kafka": {
                        "key": _ref(SCHEMAS + key) if key else {"type": "string", "description": "The alert's subject"},
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            }
        for key, address, description, message, summary in (
            ("hubDossierEvents", t.dossier_events, "The saga's only input; the hub's alone.", internal, ""),
            ("hubMonitorTransitions", t.monitor, "Every state transition.", transition, "follow every dossier"),
            (
                "hubMonitorExchanges",
                t.exchanges,
                "One record per exchange with an agency, keyed by the agency's code.",
                exchange,
                "watch each agency's exchanges",
            ),
            ("hubMonitorAgencies", t.agencies, "Each agency's health per window.", "agencyHealth", "watch agencies"),
            ("hubMonitorAlerts", t.alerts, "What operators should act on.", "alert", "receive alerts"),
            ("hubAudit", t.audit, "Every exchange of personal data, append-only.", audit, "read the audit log"),
            ("hubDeadletter", t.deadletter, "What the hub could not process.", "deadLetter", "inspect dead letters"),
        ):
            self.channel(key, address, description, [message], "hub" if not summary else "operator")
            if summary:
                self.operation(
                    _camel("operator_receive", key), "receive", key, [message], f"operators {summary}", "operator"
                )


DOSSIER_KEY = {
    "type": "string",
    "description": "The dossier code (mã hồ sơ), equal to the envelope's subject: one dossier, one partition",
    "examples": ["000.00.01.H26-261126-0001"],
}


def _headers(keys: list[str], envelope: bool) -> Doc:
    content_type = {
        "const": STRUCTURED_CONTENT_TYPE,
        "description": "The CloudEvents Kafka binding's structured content mode: the value is the whole event",
    }
    return {
        "type": "object",
        "properties": {
            CONTENT_TYPE_HEADER: content_type
            if envelope
            else {"type": "string", "description": "The value's media type"},
            KEYID_HEADER: {
                "type": "string",
                "enum": keys,
                "description": "Id of the signing Ed25519 key, one of the sender's in the agency registry",
            },
            SIGNED_AT_HEADER: {
                "type": "string",
                "pattern": r"^[0-9]+$",
                "description": "When it was signed, milliseconds since the epoch; outside the receiver's window "
                "the record is refused as stale",
            },
            SIGNATURE_HEADER: {
                "type": "string",
                "contentEncoding": "base64",
                "description": "Base64 of the detached Ed25519 signature over the key id, a newline, the signing "
                "time, a newline and then the exact bytes of the record value",
            },
        },
        "required": [*([CONTENT_TYPE_HEADER] if envelope else []), *SIGNATURE_HEADERS],
    }


def _tags() -> dict[str, Doc]:
    tags = {}
    for code, agency in REGISTRY.agencies.items():
        signs = f"connects as User:{agency.principal} and signs with {', '.join(agency.keys)}."
        if agency.bridged:
            how = f"The hub's {agency.transport.upper()} bridge calls its system and plays its part on Kafka: it "
            how += "reads the inbox and writes, and signs, the outbox."
        elif agency.transport is Transport.SOAP_GATEWAY:
            how = f"Its systems call the hub's SOAP filing gateway (contracts/wsdl/filing.wsdl), which {signs}"
        else:
            how = f"It {signs}"
        tags[code] = {
            "name": code,
            "description": f"{agency.name}: {agency.system}. Transport {agency.transport}. {how}",
        }
    tags["operator"] = {"name": "operator", "description": f"Operators, as User:{REGISTRY.operator.principal}"}
    tags["hub"] = {"name": "hub", "description": f"The hub's workers, as User:{REGISTRY.hub.principal}"}
    return tags


def document(topics: Topics | None = None) -> Doc:
    """The AsyncAPI 3.0.0 document as a plain dict (topic names of ``topics``, default: no namespace)."""
    b = _Builder(topics or Topics())
    for agency in REGISTRY.agencies.values():
        b.agency(agency)
    b.hub_topics()
    try:
        release = version("lienthong")
    except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        release = "0.0.0"
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "lienthong integration hub",
            "version": release,
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "description": "The province's Kafka cluster: SASL_SSL, SCRAM-SHA-512 over TLS, no anonymous client. "
                "Each party's credentials are a Kafka client property file generated at setup, "
                "<broker data dir>/clients/<principal>.properties.",
                "variables": {"bootstrap": {"description": "host:port of a broker", "examples": ["127.0.0.1:9092"]}},
                "security": [_ref("#/components/securitySchemes/scramSha512")],
            }
        },
        "channels": b.channels,
        "operations": b.operations,
        "components": {
            "schemas": b.schemas,
            "messages": b.messages,
            "securitySchemes": {
                "scramSha512": {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512 over TLS (security.protocol=SASL_SSL). One principal per "
                    "agency, one for the hub, one for operators, as the agency registry names them; broker ACLs "
                    "derived from the registry let an agency read only its inbox and write only its outbox.",
                }
            },
            "tags": _tags(),
        },
    }


DESCRIPTION = """\
The Kafka interface of lienthong (liên thông), the hub that links a province's agency systems.

Every agency has an inbox (`agency.<code>.inbox`: the hub's step commands and status updates)
and an outbox (`agency.<code>.outbox`: its replies, filings and citizens' requests). Operations
are written from the point of view of the party that connects: an agency receives on its inbox
and sends on its outbox; operators receive the `hub.*` topics. Agencies reached over REST or SOAP
are played by the hub's bridges. A deployment may prefix every topic name with a namespace.

Each record's value is a CloudEvents 1.0 event in the Kafka binding's structured content mode
(header `content-type: application/cloudevents+json`), with lienthong's extension attributes
`correlationid`, `causationid` and `idempotencykey`; the key is the dossier code, also the
event's `subject`. Every record is signed by its sender: a detached Ed25519 signature over the
exact value bytes (with the key id and signing time) in the `lienthong-signature` header, the
key named by `lienthong-keyid` (agency registry), the time in `lienthong-signed-at`.

Generated by `lienthong asyncapi` from contracts/agencies.toml, contracts/topics.py and the
pydantic contracts; do not edit by hand.
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so descriptions read as written; no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _str)


def render(topics: Topics | None = None) -> str:
    """The document as YAML, as ``docs/asyncapi.yaml`` holds it."""
    return yaml.dump(document(topics), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
