"""Every setting of a hub worker: one frozen, typed object, read once at start.

Built by pydantic-settings from ``LIENTHONG_*`` environment variables (and
``KAFKA_BOOTSTRAP_SERVERS``), or passed whole by a caller such as a test. How to reach the brokers
and the credentials to show them are in one Kafka client properties file (no default: there is no
anonymous access), read by :mod:`connectors.kafka_client`. Each field's
description is the documentation: ``lienthong worker --help`` and docs/operations.md are
generated from :func:`environment_table`, and a test keeps the doc in step.

Throughput-relevant Faust settings (poll batch size, linger, commit cadence) live here too, so a
benchmark changes one object. Importing this module imports neither Faust nor aiokafka.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.kafka_client import KafkaClient
from contracts.agencies import REGISTRY
from contracts.envelope import describe_error
from contracts.errors import SettingsError
from contracts.retry import RetryPolicy
from contracts.topics import Topics

ENV_PREFIX = "LIENTHONG_"


class ClusterSettings(BaseSettings):
    """Where the hub's topics are: what operator tools (topics, dlq) need, and every worker."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid", populate_by_name=True)

    kafka_client_properties: Path | None = Field(
        None, description="Kafka client properties file of the principal this process connects as"
    )
    bootstrap_servers: str | None = Field(
        None,
        min_length=1,
        validation_alias=AliasChoices("bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS"),
        description="broker list, host:port[,host:port] (none: bootstrap.servers of the client properties)",
    )
    topic_namespace: str = Field("", description="prefix for every topic name, to share a cluster")
    partitions: int = Field(4, ge=1, description="partitions per topic")
    replication_factor: int = Field(
        1, ge=1, description="copies of every topic and table changelog (1 on the dev broker, 3 on a cluster)"
    )
    app_id: str = Field(
        "lienthong-hub", min_length=1, description="consumer group and table prefix (the namespace is prepended)"
    )
    registry_file: Path | None = Field(
        None,
        description="the deployment's agency registry (TOML; none: the shipped contracts/agencies.toml), read "
        "from the environment when the process starts",
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Read the environment once; raise :class:`SettingsError` naming each bad variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(_env_names(describe_error(exc))) from None

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_namespace, self.partitions, self.replication_factor)

    @property
    def group_id(self) -> str:
        return self.topic_namespace + self.app_id

    def kafka_client(self) -> KafkaClient:
        """The client properties, read now; a missing file or key raises :class:`SettingsError`."""
        if self.kafka_client_properties is None:
            raise SettingsError(f"{env_name('kafka_client_properties')}: no Kafka client properties file given")
        return KafkaClient.load(self.kafka_client_properties, self.bootstrap_servers)


class HubSettings(ClusterSettings):
    """Everything a hub worker is configured with."""

    kafka_client_properties: Path = Field(
        description="Kafka client properties file of the principal the worker connects as (bootstrap.servers, "
        "SASL_SSL credentials, CA), e.g. <broker data dir>/clients/hub.properties"
    )
    data_dir: Path = Field(Path(".lienthong/hub"), description="worker state folder")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="Faust's processing guarantee (docs/architecture.md weighs them; measured by make bench)",
    )
    standby_replicas: int = Field(
        0,
        ge=0,
        description="other workers that also follow each saga table partition's changelog (Faust standbys; with "
        "the in-memory table store a worker taking a partition over replays its compacted changelog anyway)",
    )
    procedures_dir: Path | None = Field(
        None, description="extra procedure files (*.toml), overriding the shipped catalog"
    )
    calendar_file: Path | None = Field(
        None,
        description="working-calendar overrides (TOML: cut-off, days off and weekend working days the holidays "
        "package does not know yet); default: the shipped contracts/calendar.toml",
    )
    clock_offset_file: Path | None = Field(
        None, description="seconds added to the system clock, re-read twice a second (drills and tests)"
    )
    population_url: str = Field("http://127.0.0.1:8081", description="population registry REST base URL")
    insurance_url: str = Field("http://127.0.0.1:8082/soap", description="insurance SOAP endpoint")
    payment_url: str = Field("http://127.0.0.1:8083", description="payment gateway REST base URL")
    payment_secret: SecretStr = Field(description="HMAC-SHA256 secret the payment gateway signs its callbacks with")
    callback_port: int = Field(8090, ge=0, le=65535, description="port of the callback endpoint on 127.0.0.1")
    callback_url: str | None = Field(
        None, description="URL the payment gateway calls back (none: http://127.0.0.1:<port>/callbacks/payment)"
    )
    metrics_host: str = Field(
        "127.0.0.1", min_length=1, description="address of the worker's /metrics, /healthz and /readyz (0.0.0.0: all)"
    )
    metrics_port: int = Field(9180, ge=0, le=65535, description="port of /metrics, /healthz and /readyz (0: any free)")
    callback_window_s: float = Field(
        300, gt=0, description="a payment callback signed further than this from now is refused as stale"
    )
    agency_timeout_s: float = Field(5, gt=0, description="per-call timeout to an agency")
    agency_attempts: int = Field(
        3, ge=1, description="quick attempts within one bridged call before the step waits to be retried"
    )
    agency_backoff_s: float = Field(0.2, ge=0, description="first quick retry delay, doubled each attempt")
    bridge_concurrency: int = Field(8, ge=1, description="agency calls in flight per bridge")
    step_timeout_s: float = Field(60, gt=0, description="a step with no reply this long failed technically")
    retry_first_delay_s: float = Field(
        5, gt=0, description="a step that failed technically is sent again after this, doubling per failure"
    )
    retry_max_delay_s: float = Field(600, gt=0, description="up to this delay between sends (jitter: half to all)")
    retry_give_up_after_h: float = Field(
        48, gt=0, description="a step failing technically this long fails for good (the dossier stops)"
    )
    breaker_failures: int = Field(
        5, ge=1, description="consecutive failed calls that open a bridged agency's circuit (calls fail fast)"
    )
    breaker_reset_s: float = Field(30, gt=0, description="an open circuit lets calls through again after this")
    health_window_s: float = Field(
        60, gt=0, description="each agency's health is reported per window of this many seconds (hub.monitor.agencies)"
    )
    sweep_interval_s: float = Field(5, gt=0, description="how often running steps and deadlines are checked")
    apology_extension_days: float = Field(
        2, gt=0, description="working days promised in the apology letter of an overdue dossier"
    )
    saga_retention_days: float = Field(
        30, gt=0, description="a finished dossier's saga state is deleted this long after it ended (audit stays)"
    )
    max_record_bytes: int = Field(
        262_144,
        ge=1024,
        description="an agency record larger than this is dead-lettered unread (the hub's forwarded copy, "
        "headers and dead-letter copy must stay under the broker's 1 MiB message limit)",
    )
    max_poll_records: int = Field(500, ge=1, description="records per consumer poll")
    producer_linger_ms: int = Field(5, ge=0, description="producer batching delay")
    fetch_min_bytes: int = Field(
        65_536, ge=1, description="the broker answers the worker's fetch once this many bytes are there"
    )
    fetch_max_wait_ms: int = Field(20, ge=0, description="...or once it held the fetch this long")
    producer_request_timeout_s: float = Field(30, gt=0, description="a send not acknowledged by then fails")
    commit_every: int = Field(1000, ge=1, description="commit offsets after this many events")
    commit_interval_s: float = Field(1.0, gt=0, description="commit offsets at least this often")
    session_timeout_s: float = Field(
        60, gt=0, description="how soon the group notices a dead worker and moves its partitions"
    )
    keyring: Path = Field(
        description="folder with the hub's Ed25519 signing key (<key id>.pem) and the trust store (trust.toml) "
        "of every party's public keys, as `lienthong keys <folder>` writes them"
    )
    signing_key_id: str = Field(
        REGISTRY.hub.keys[0],
        min_length=1,
        description="the hub key that signs what the hub writes (one of the registry's)",
    )
    signature_window_s: float = Field(
        900, gt=0, description="a record signed further than this from now is refused as stale"
    )
    audit_key: SecretStr = Field(
        description="HMAC-SHA256 key of the audit's pseudonyms for personal IDs (`lienthong audit citizen` needs it)"
    )
    audit_checkpoint_every: int = Field(
        1000, ge=1, description="sign an audit partition's head after this many entries"
    )
    audit_checkpoint_interval_s: float = Field(
        60, gt=0, description="and at least this often while a partition has unsigned entries"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")

    @field_validator("signing_key_id")
    @classmethod
    def _a_hub_key(cls, key_id: str) -> str:
        if key_id not in REGISTRY.hub.keys:
            raise ValueError(
                f"{key_id!r} is not one of the hub's keys in the registry ({', '.join(REGISTRY.hub.keys)})"
            )
        return key_id

    def retry_policy(self, agency: str) -> RetryPolicy:
        """The hub's retry defaults with ``agency``'s overrides from the registry."""
        defaults = RetryPolicy(
            first_delay_s=self.retry_first_delay_s,
            max_delay_s=self.retry_max_delay_s,
            give_up_after_h=self.retry_give_up_after_h,
            breaker_failures=self.breaker_failures,
            breaker_reset_s=self.breaker_reset_s,
        )
        return defaults.overridden(REGISTRY.agencies[agency].retry)

    def retry_policies(self) -> dict[str, RetryPolicy]:
        """Every agency's retry policy, by code."""
        return {code: self.retry_policy(code) for code in REGISTRY.agencies}

    @property
    def payment_callback_url(self) -> str:
        return self.callback_url or f"http://127.0.0.1:{self.callback_port}/callbacks/payment"

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables of a worker process."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[env_name(name)] = str(value)
        return env


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return "KAFKA_BOOTSTRAP_SERVERS" if field == "bootstrap_servers" else ENV_PREFIX + field.upper()


def _env_names(message: str) -> str:
    for field in HubSettings.model_fields:
        message = message.replace(f"{field}:", f"{env_name(field)}:")
    return message


def environment_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, in declaration order."""
    rows = []
    for name, info in HubSettings.model_fields.items():
        default = "required" if info.is_required() else ("none" if info.default in (None, "") else str(info.default))
        rows.append((env_name(name), default, info.description or ""))
    return rows


def environment_markdown() -> str:
    """The settings as the Markdown table docs/operations.md carries (a test keeps them equal)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {text} |" for name, default, text in environment_table()]
    return "\n".join(lines)
