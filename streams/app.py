"""The one Faust application of the hub, and the raw topics its agents read and write.

Agents take raw bytes and decode them themselves, so a message that fails to decode is
dead-lettered with its original bytes instead of being dropped by Faust's decode-error path.
"""

from __future__ import annotations

from functools import cache

import faust

from contracts import topics
from contracts.catalog import Procedure, builtin_catalog, load_catalog
from contracts.working_days import WorkingCalendar, load_calendar
from streams.clock import Clock
from streams.config import HubSettings

settings = HubSettings.from_env()

app = faust.App(
    settings.app_id,
    broker=settings.kafka_url(),
    datadir=str(settings.data_dir),
    autodiscover=False,
    web_enabled=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    topic_disable_leader=True,
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    processing_guarantee="at_least_once",
    broker_max_poll_records=settings.max_poll_records,
    producer_linger_ms=settings.producer_linger_ms,
    # Faust waits up to 20 minutes by default for a send (including topic metadata); a stalled
    # send should fail soon and visibly, so the message is dead-lettered or the step re-sent.
    producer_request_timeout=settings.producer_request_timeout_s,
    producer_acks=-1,
    broker_commit_every=settings.commit_every,
    broker_commit_interval=settings.commit_interval_s,
    # How soon the group notices a worker that died: its partitions move only after this.
    broker_session_timeout=settings.session_timeout_s,
)


@cache
def raw_topic(name: str) -> faust.TopicT:
    """A topic of undecoded bytes (keys are dossier codes, values JSON)."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


@cache
def catalog() -> dict[str, Procedure]:
    """Shipped procedures, plus (overriding) those in ``LIENTHONG_PROCEDURES_DIR``."""
    procedures = dict(builtin_catalog())
    if settings.procedures_dir is not None:
        procedures.update(load_catalog(settings.procedures_dir))
    return procedures


clock = Clock(settings.clock_offset_file)


@cache
def calendar() -> WorkingCalendar:
    """Working days and holidays (``LIENTHONG_HOLIDAYS_FILE``, else the shipped holidays.toml)."""
    return load_calendar(settings.holidays_file)


def dossier_events() -> faust.TopicT:
    return raw_topic(topics.dossier_events())
