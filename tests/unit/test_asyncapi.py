"""docs/asyncapi.yaml: what the generator makes, valid for the official AsyncAPI parser, and true
to the agency registry and the CloudEvents Kafka binding."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from contracts.actions import ACTIONS
from contracts.agencies import AGENCIES, REGISTRY
from contracts.asyncapi import DLQ_HEADERS, NATIVE_FILINGS, document, render
from contracts.envelope import CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE, envelope_headers
from contracts.record_signing import KEYID_HEADER, SIGNATURE_HEADERS
from contracts.topics import DLQ_HEADER_PREFIX
from streams.deadletter import dlq_headers
from streams.ingest import NATIVE_FILINGS as INGEST_NATIVE_FILINGS

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
PARSER = ROOT / "infra" / "asyncapi"


def test_the_document_is_what_the_generator_makes():
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is out of date: run `lienthong asyncapi` (or `make asyncapi`) and commit it"
    )


def test_the_asyncapi_parser_finds_no_error():
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the AsyncAPI parser (npm @asyncapi/parser) cannot run")
    assert (PARSER / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "the AsyncAPI parser is not installed: run `make asyncapi-parser`"
    )
    run = subprocess.run(
        [node, str(PARSER / "validate.js"), str(DOCUMENT)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"AsyncAPI parser errors:\n{run.stdout}{run.stderr}"


def test_it_reads_back_as_the_same_document():
    assert yaml.safe_load(render()) == document()


def test_every_agency_receives_the_commands_of_what_it_serves_and_sends_their_replies():
    doc = document()
    for code, agency in AGENCIES.items():
        inbox, outbox = doc["channels"][f"{code}Inbox"], doc["channels"][f"{code}Outbox"]
        assert inbox["address"] == f"agency.{code}.inbox"
        assert outbox["address"] == f"agency.{code}.outbox"
        for action in agency.serves:
            name = "".join(w.capitalize() for w in action.split("_"))
            assert f"{name[0].lower()}{name[1:]}Command" in inbox["messages"]
            assert f"{name[0].lower()}{name[1:]}Reply" in outbox["messages"]
        if agency.serves:
            receive = doc["operations"][f"{code}ReceiveCommands"]
            assert receive["action"] == "receive"
            assert receive["reply"]["channel"] == {"$ref": f"#/channels/{code}Outbox"}
        assert (f"{code}SendFilings" in doc["operations"]) == bool(agency.file or agency.withdraw)
        assert ("statusUpdate" in inbox["messages"]) == bool(agency.file)


def test_a_command_carries_the_params_schema_of_its_action_in_the_cloudevents_envelope():
    message = document()["components"]["messages"]["registerBirthCommand"]
    envelope, data = message["payload"]["allOf"]
    assert envelope == {"$ref": "#/components/schemas/Envelope"}
    assert data["properties"]["type"] == {"const": "vn.lienthong.step.command"}
    params = data["properties"]["data"]["allOf"][1]["properties"]["params"]
    assert params == {"$ref": f"#/components/schemas/{ACTIONS['register_birth'].params.__name__}"}
    assert message["contentType"] == STRUCTURED_CONTENT_TYPE


def test_headers_name_the_content_type_and_the_registry_keys_that_sign():
    doc = document()
    schemas, messages = doc["components"]["schemas"], doc["components"]["messages"]

    def headers(message: str) -> dict:
        return schemas[messages[message]["headers"]["$ref"].rsplit("/", 1)[1]]

    command = headers("registerBirthCommand")
    assert command["properties"][CONTENT_TYPE_HEADER]["const"] == STRUCTURED_CONTENT_TYPE
    assert command["properties"][KEYID_HEADER]["enum"] == list(REGISTRY.hub.keys)
    assert set(command["required"]) == {CONTENT_TYPE_HEADER, *SIGNATURE_HEADERS}
    assert headers("registerBirthReply")["properties"][KEYID_HEADER]["enum"] == list(AGENCIES["justice"].keys)
    # a bridged agency's outbox is written, and signed, by the hub
    assert headers("verifyCitizenReply")["properties"][KEYID_HEADER]["enum"] == list(REGISTRY.hub.keys)


def test_the_server_requires_scram_sha_512_over_tls():
    doc = document()
    server = doc["servers"]["kafka"]
    assert server["protocol"] == "kafka-secure"
    assert server["security"] == [{"$ref": "#/components/securitySchemes/scramSha512"}]
    assert doc["components"]["securitySchemes"]["scramSha512"]["type"] == "scramSha512"


def test_native_filings_and_dead_letter_headers_are_those_the_hub_uses():
    assert set(NATIVE_FILINGS) == set(INGEST_NATIVE_FILINGS)
    written = dlq_headers("agency.tax.outbox", 0, 7, "ingest.tax", "why", datetime.now(UTC))
    assert {name.removeprefix(DLQ_HEADER_PREFIX) for name, _ in written} == set(DLQ_HEADERS)


def test_envelope_records_carry_the_structured_mode_content_type():
    assert (CONTENT_TYPE_HEADER, b"application/cloudevents+json") in envelope_headers()
