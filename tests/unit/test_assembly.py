"""The hub is assembled in one place from one settings object; nothing runs or reads config at import."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faust.types import TP, ConsumerMessage

from contracts.agencies import AGENCIES
from contracts.catalog import builtin_catalog
from contracts.errors import SettingsError
from contracts.events import DEADLINE_PASSED, SAGA_EXPIRED, STEP_TIMEOUT
from contracts.working_days import load_calendar
from streams import saga
from streams.app import SagaCodec, build_hub
from streams.clock import Clock
from streams.settings import HubSettings, environment_markdown, environment_table
from streams.sweeper import due_events
from streams.worker import faust_worker
from tests.unit.fakes import keyring
from tests.unit.test_orchestrate import DOSSIER, T0, Hub
from tests.unit.test_saga import ctx

ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, **extra) -> HubSettings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    client = tmp_path / "hub.properties"  # what build_hub reads of it
    client.write_text("bootstrap.servers=127.0.0.1:9092\n")
    return HubSettings(
        **{
            "payment_secret": "s3cret",
            "audit_key": "audit-s3cret",
            "data_dir": tmp_path,
            "topic_namespace": "t.",
            "keyring": keyring(),
            "kafka_client_properties": client,
        }
        | extra
    )


def test_build_hub_registers_the_saga_on_every_outbox_and_the_events_and_a_bridge_per_bridged_agency(tmp_path):
    hub = build_hub(settings(tmp_path))
    agents = set(hub.app.agents)
    assert {f"bridge-{code}" for code, agency in AGENCIES.items() if agency.bridged} <= agents
    read = set(hub.app.agents["orchestrate"].channel.topics)
    assert read == {hub.topics.dossier_events} | {hub.topics.outbox(code) for code in AGENCIES}
    assert hub.topics.inbox("tax") == "t.agency.tax.inbox"
    assert hub.app.conf.id == "t.lienthong-hub"


async def test_only_a_topic_with_the_tables_partition_count_is_co_partitioned_with_them(tmp_path, monkeypatch):
    hub = build_hub(settings(tmp_path, partitions=4))
    counts = {"t.agency.tax.outbox": 4, "t.agency.portal.outbox": 6}
    monkeypatch.setattr(hub.app.consumer, "topic_partitions", counts.get)
    assert hub.co_partitioned("t.agency.tax.outbox")
    assert not hub.co_partitioned("t.agency.portal.outbox")
    assert not hub.co_partitioned("t.agency.justice.outbox")  # no metadata for it: not
    counts["t.agency.portal.outbox"] = 4  # a new count comes with a rebalance
    await hub._forget_assignment()
    assert hub.co_partitioned("t.agency.portal.outbox")


def test_two_hubs_in_one_process_do_not_share_state(tmp_path):
    one = build_hub(settings(tmp_path / "one"))
    two = build_hub(
        settings(tmp_path / "two", topic_namespace="u.", procedures_dir=ROOT / "tests/integration/procedures")
    )
    assert one.app is not two.app and one.sagas is not two.sagas
    assert set(two.catalog) > set(one.catalog)  # the fixture procedures are only in the second


def test_a_bridged_agency_without_a_connector_is_refused_at_assembly(tmp_path):
    with pytest.raises(ValueError, match="no connector for bridged agency insurance, payment"):
        build_hub(settings(tmp_path), connectors={"population": lambda: None})


def test_settings_errors_name_the_environment_variable(monkeypatch):
    monkeypatch.setenv("LIENTHONG_BREAKER_FAILURES", "zero")
    monkeypatch.delenv("LIENTHONG_PAYMENT_SECRET", raising=False)
    with pytest.raises(SettingsError) as info:
        HubSettings.from_env()
    assert "LIENTHONG_BREAKER_FAILURES: Input should be a valid integer" in str(info.value)
    assert "LIENTHONG_PAYMENT_SECRET: Field required" in str(info.value)


def test_settings_travel_to_a_worker_process_as_its_environment(tmp_path):
    original = settings(tmp_path, breaker_failures=7, procedures_dir=tmp_path / "procs")
    env = original.to_env()
    assert env["LIENTHONG_PAYMENT_SECRET"] == "s3cret" and env["LIENTHONG_BREAKER_FAILURES"] == "7"
    assert "LIENTHONG_CALENDAR_FILE" not in env  # unset stays unset
    assert "s3cret" not in repr(original)  # the secret is not printed with the settings


def test_every_setting_is_documented_in_the_operations_guide():
    doc = (ROOT / "docs/operations.md").read_text("utf-8")
    assert environment_markdown() in doc, "regenerate the table with streams.settings.environment_markdown()"
    assert len(environment_table()) == len(HubSettings.model_fields)


def test_tool_commands_do_not_import_faust():
    code = (
        "import sys; from infra.cli import main\n"
        "try:\n    main(['dlq', '--help'])\nexcept SystemExit:\n    pass\n"
        "import infra.cli, streams.settings\n"
        "sys.exit(1 if 'faust' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "faust was imported by `lienthong dlq --help`"


async def test_the_sweeper_turns_silence_and_passed_deadlines_into_events():
    hub = Hub()
    await hub.file("criminal_record")
    state = hub.state
    catalog = builtin_catalog()
    assert due_events([state], catalog, ctx(T0 + timedelta(seconds=10)), step_timeout_s=60) == []
    events = due_events([state], catalog, ctx(T0 + timedelta(days=60)), step_timeout_s=60)
    assert {(e.type, e.subject) for e in events} == {(STEP_TIMEOUT, DOSSIER), (DEADLINE_PASSED, DOSSIER)}
    assert all(e.correlationid == "corr-1" for e in events)
    finished = state.model_copy(update={"done": True, "finished_at": T0 + timedelta(days=1)})
    assert due_events([finished], catalog, ctx(T0 + timedelta(days=30)), step_timeout_s=60) == []
    assert [e.type for e in due_events([finished], catalog, ctx(T0 + timedelta(days=31)), step_timeout_s=60)] == [
        SAGA_EXPIRED
    ]


def test_the_clock_can_be_moved_by_an_offset_file(tmp_path):
    offset = tmp_path / "offset"
    clock = Clock(offset)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5  # no file yet: system time
    offset.write_text("86400")
    assert (Clock(offset).now() - datetime.now(UTC)).total_seconds() > 86000


def test_context_requires_every_policy():
    with pytest.raises(TypeError):
        saga.Context(now=T0, calendar=load_calendar())  # type: ignore[call-arg]


def test_the_replication_factor_is_configuration_not_code(tmp_path):
    hub = build_hub(settings(tmp_path, replication_factor=3))
    assert hub.app.conf.topic_replication_factor == 3 and hub.topics.replication == 3
    assert build_hub(settings(tmp_path / "dev")).topics.replication == 1  # the single dev broker


def test_a_message_skipped_at_a_rebalance_is_not_acked_so_it_is_fetched_again(tmp_path):
    """streams/faust_fixes.py: Faust acks what its stream skips at a rebalance; the hub's consumer
    counts only messages a stream handed on, so the commit stops before a skipped one."""
    hub = build_hub(settings(tmp_path))
    consumer, topic = hub.app.consumer, hub.topics.dossier_events
    hub.app.topics._acking_topics.add(topic)  # as the conductor does once agents subscribe

    def fetched(offset: int) -> ConsumerMessage:
        return ConsumerMessage(topic, 0, offset, 0.0, 0, [], b"k", b"v", None, tp=TP(topic, 0))

    skipped, handed_on = fetched(5), fetched(6)
    handed_on.tracked = True  # what Stream does just before it yields a message to an agent
    assert consumer.ack(skipped) is False
    assert consumer.ack(handed_on) is True
    assert consumer._acked[TP(topic, 0)] == [6]  # 5 stays unacked: nothing is committed past it


async def test_after_a_rebalance_a_partition_with_no_commit_is_read_again_from_its_start(tmp_path):
    """streams/faust_fixes.py: a rebalance empties the streams' queues; what they held is read again
    only because every partition is sought to its committed offset, which aiokafka skips where
    nothing (or 0) was committed. Those partitions now go back to their start."""
    hub = build_hub(settings(tmp_path))
    outbox, events, changelog = (
        hub.topics.outbox("portal"),
        hub.topics.dossier_events,
        "t.lienthong-hub-sagas-changelog",
    )
    hub.app.topics._acking_topics.update({outbox, events})  # as the conductor does once agents subscribe
    committed = {TP(outbox, 0): None, TP(outbox, 1): 0, TP(events, 0): 7, TP(changelog, 0): None}
    sought: list[tuple] = []

    class Aiokafka:
        async def seek_to_committed(self):
            return committed

        async def seek_to_beginning(self, *tps):
            sought.extend(tps)

    thread = hub.app.consumer._thread
    thread._ensure_consumer = Aiokafka
    thread.call_thread = lambda fun, *args: fun(*args)
    assert await thread.seek_to_committed() == committed
    assert sorted(sought) == [TP(outbox, 0), TP(outbox, 1)]  # not the table's changelog: recovery reads it


async def test_what_arrives_after_the_seek_of_a_rebalance_is_kept_when_flow_resumes(tmp_path):
    """streams/faust_fixes.py: Faust emptied the streams' queues when it resumed flow, after seeking
    to the committed offsets, so a message fetched from the sought position in between was lost.
    The queues are now emptied when the seek starts."""
    hub = build_hub(settings(tmp_path))
    flow, consumer = hub.app.flow_control, hub.app.consumer
    queue = hub.app.FlowControlQueue(maxsize=10, clear_on_resume=True)  # a stream's queue
    flow.suspend()  # a rebalance
    queue.put_nowait("fetched before the rebalance")

    async def seek_to_committed() -> dict:
        queue.put_nowait("fetched from the committed offset")  # the fetcher runs while the seek waits
        return {}

    consumer.seek_to_committed = seek_to_committed
    await consumer.perform_seek()
    flow.resume()
    assert [queue.get_nowait() for _ in range(queue.qsize())] == ["fetched from the committed offset"]
    queue.put_nowait("later")
    flow.suspend()
    flow.resume()  # a resume with no seek before it empties the queues as Faust always did
    assert queue.qsize() == 0


def test_a_worker_above_info_does_not_turn_every_library_debug_call_into_a_record(tmp_path):
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        worker = faust_worker(build_hub(settings(tmp_path, log_level="warning")))
        worker.on_setup_root_logger(root, logging.WARNING)  # what Faust calls as the worker starts
        assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


async def test_the_workers_consumer_fetches_in_the_configured_batches(tmp_path):
    hub = build_hub(settings(tmp_path, fetch_min_bytes=65536, fetch_max_wait_ms=25))
    consumer = hub.app.consumer._thread._create_worker_consumer(hub.app.transport)  # what Faust starts
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (65536, 25)
    other = build_hub(settings(tmp_path / "other"))  # another app: its own settings (the defaults)
    assert other.app.consumer._thread._create_worker_consumer(other.app.transport)._fetch_max_wait_ms == 20


def test_the_saga_table_writes_and_restores_states_with_the_saga_codec(tmp_path):
    hub = build_hub(settings(tmp_path))
    assert isinstance(hub.sagas.value_serializer, SagaCodec)  # what send_changelog writes with
    assert isinstance(hub.sagas.changelog_topic.value_serializer, SagaCodec)  # what recovery reads with
