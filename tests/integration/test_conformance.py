"""The conformance suite against real agencies: the sandbox's pass it, a broken one fails the right rows.

No hub worker runs on these topics: the suite plays the hub, as it does against a team's system.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator

import pytest

from contracts.agencies import AGENCIES
from contracts.events import Outcome
from contracts.topics import Topics
from infra import conformance as c
from infra.harness.broker import ClientFiles
from infra.sandbox.agencies import SandboxAgencies
from infra.sandbox.conformance_cases import sandbox_cases
from infra.sandbox.kafka_agency import AgencyAnswer
from infra.sandbox.tax import TaxAuthority
from infra.topics import provision
from streams.settings import ClusterSettings

TIMEOUT_S, QUIET_S = 10, 2


async def _topics(kafka: ClientFiles, name: str) -> Topics:
    topics = Topics(namespace=f"conf-{name}-{os.getpid()}-{int(time.time())}.")
    await provision(kafka.client("admin"), topics, ClusterSettings(topic_namespace=topics.namespace).group_id)
    return topics


@pytest.fixture(scope="module")
async def sandbox(kafka, tmp_path_factory) -> AsyncIterator[tuple[SandboxAgencies, Topics]]:
    topics = await _topics(kafka, "sandbox")
    agencies = SandboxAgencies(kafka, topics, effects_dir=tmp_path_factory.mktemp("conformance"))
    await agencies.start()
    try:
        yield agencies, topics
    finally:
        await agencies.stop()


async def _conform(kafka: ClientFiles, topics: Topics, keyring, code: str, endpoint: str | None = None) -> c.Report:
    reach = c.Reach(kafka.client("hub"), topics, keyring, endpoint)
    return await c.conform(AGENCIES[code], sandbox_cases(), reach, timeout_s=TIMEOUT_S, quiet_s=QUIET_S)


def _failed(report: c.Report) -> set[tuple[str, str]]:
    return {(row.check, row.action) for row in report.rows if row.passed is False}


@pytest.mark.parametrize("code", ["justice", "tax", "portal"])
async def test_the_kafka_native_sandbox_agencies_conform(kafka, sandbox, code):
    agencies, topics = sandbox
    report = await _conform(kafka, topics, agencies.keyring, code)
    assert report.passed, "\n".join(report.lines())
    checked = {row.action for row in report.rows if row.passed}
    assert checked >= set(AGENCIES[code].serves), "every action it serves was answered"
    ignored = {row.check for row in report.rows if row.passed and row.check in (c.NOT_ADDRESSED, c.FORGED)}
    assert ignored == {c.NOT_ADDRESSED, c.FORGED}


async def test_the_bridged_sandbox_agencies_conform_at_their_endpoints(kafka, sandbox):
    agencies, topics = sandbox
    for code, endpoint in (("population", agencies.population_url), ("insurance", agencies.insurance_address)):
        report = await _conform(kafka, topics, agencies.keyring, code, endpoint)
        assert report.passed, "\n".join(report.lines())
        refusals = [row for row in report.rows if row.check == c.REFUSES and row.passed]
        assert refusals, f"{code}: at least one refusal on the facts was checked"


class BrokenTax(TaxAuthority):
    """A tax system with the mistakes the suite exists to catch: it acts on whatever is on its
    inbox (unsigned, forged, replayed, addressed to another agency), performs a repeated command
    again instead of answering with the first result (computing a notice again gives the same one,
    but a confirmation gets a new time, an enterprise a second code), and answers a refusal as a
    technical failure."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._trust = _TrustsAnything()
        self.effects.repeat = lambda key: None  # type: ignore[method-assign]  # no memory of what it did:
        self.effects.record = lambda *args, **kwargs: None  # type: ignore[method-assign]  # it does it again

    def addressed_to_me(self, command) -> bool:
        return True

    async def _confirm_obligations(self, params, command, envelope):
        try:
            return await super()._confirm_obligations(params, command, envelope)
        except AgencyAnswer as refusal:
            raise AgencyAnswer(Outcome.FAILED, str(refusal)) from None


class _TrustsAnything:
    def verify(self, *args, **kwargs) -> str:
        return "hub-1"


async def test_a_broken_agency_fails_the_rows_of_its_mistakes(kafka, sandbox, tmp_path):
    agencies, _ = sandbox
    topics = await _topics(kafka, "broken")
    broken = BrokenTax(kafka.client("tax"), topics, tmp_path / "tax.effects.jsonl", keyring=agencies.keyring)
    await broken.start()
    try:
        report = await _conform(kafka, topics, agencies.keyring, "tax")
    finally:
        await broken.stop()
    assert not report.passed
    performed_again = {(c.ONCE, "confirm_obligations"), (c.ONCE, "issue_enterprise_code")}  # new times, codes
    refused_technically = {(c.REFUSES, "confirm_obligations")}
    acted_on = {(check, report.rows[-1].action) for check in (c.NOT_ADDRESSED, c.UNSIGNED, c.FORGED, c.REPLAYED)}
    assert _failed(report) == performed_again | refused_technically | acted_on, "\n".join(report.lines())


async def test_the_command_prints_the_table_and_exits_non_zero_on_a_failure(kafka, sandbox):
    """``lienthong conformance`` as a team runs it: a table on stdout, exit 0 when it conforms."""
    agencies, topics = sandbox
    env = os.environ | {"LIENTHONG_TOPIC_NAMESPACE": topics.namespace}
    args = ["-m", "infra.cli", "conformance", "--agency", "portal", "--quiet", "1", "--timeout", "10"]
    args += ["--client-properties", str(kafka.file("hub")), "--keyring", str(agencies.keyring)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == "conformance of portal (kafka)"
    assert lines[-1].startswith("portal: ") and lines[-1].endswith("— conforms")
    assert any(line.startswith(c.FORGED) and " pass " in line for line in lines)
    assert "pass" in err.decode(), "progress on stderr, a row at a time"

    elsewhere = env | {"LIENTHONG_TOPIC_NAMESPACE": "nowhere."}
    lost = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=elsewhere, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(lost.communicate(), 60)
    assert lost.returncode == 2 and "topic nowhere.agency.portal.outbox does not exist" in err.decode()

    unknown = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "infra.cli", "conformance", "--agency", "nobody", stderr=asyncio.subprocess.PIPE
    )
    _, err = await unknown.communicate()
    assert unknown.returncode == 2 and "no agency 'nobody'" in err.decode()
