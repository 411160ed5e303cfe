"""Every setting of the hub worker, read from the environment in one place.

Throughput-relevant Faust settings (poll batch size, linger, commit cadence) live here too, so a
benchmark changes one module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from contracts import topics


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class HubSettings:
    bootstrap: str
    app_id: str
    data_dir: Path
    partitions: int
    procedures_dir: Path | None
    population_url: str
    insurance_address: str
    payment_url: str
    payment_secret: bytes
    callback_port: int
    callback_url: str
    agency_timeout_s: float
    agency_attempts: int
    agency_backoff_s: float
    bridge_concurrency: int
    step_timeout_s: float
    step_attempts: int
    sweep_interval_s: float
    max_poll_records: int
    producer_linger_ms: int
    producer_request_timeout_s: float
    commit_every: int
    commit_interval_s: float
    session_timeout_s: float
    log_level: str
    holidays_file: Path | None
    clock_offset_file: Path | None
    apology_extension_days: float

    @classmethod
    def from_env(cls) -> HubSettings:
        procedures = _env("LIENTHONG_PROCEDURES_DIR", "")
        return cls(
            bootstrap=_env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            app_id=topics.namespace() + _env("LIENTHONG_APP_ID", "lienthong-hub"),
            data_dir=Path(_env("LIENTHONG_DATA_DIR", ".lienthong/hub")),
            partitions=topics.partitions(),
            procedures_dir=Path(procedures) if procedures else None,
            population_url=_env("LIENTHONG_POPULATION_URL", "http://127.0.0.1:8081"),
            insurance_address=_env("LIENTHONG_INSURANCE_URL", "http://127.0.0.1:8082/soap"),
            payment_url=_env("LIENTHONG_PAYMENT_URL", "http://127.0.0.1:8083"),
            payment_secret=_env("LIENTHONG_PAYMENT_SECRET", "sandbox-payment-secret").encode(),
            callback_port=int(_env("LIENTHONG_CALLBACK_PORT", "8090")),
            callback_url=_env("LIENTHONG_CALLBACK_URL",
                              f"http://127.0.0.1:{_env('LIENTHONG_CALLBACK_PORT', '8090')}/callbacks/payment"),
            agency_timeout_s=float(_env("LIENTHONG_AGENCY_TIMEOUT_S", "5")),
            agency_attempts=int(_env("LIENTHONG_AGENCY_ATTEMPTS", "4")),
            agency_backoff_s=float(_env("LIENTHONG_AGENCY_BACKOFF_S", "0.2")),
            bridge_concurrency=int(_env("LIENTHONG_BRIDGE_CONCURRENCY", "8")),
            step_timeout_s=float(_env("LIENTHONG_STEP_TIMEOUT_S", "60")),
            step_attempts=int(_env("LIENTHONG_STEP_ATTEMPTS", "3")),
            sweep_interval_s=float(_env("LIENTHONG_SWEEP_INTERVAL_S", "5")),
            max_poll_records=int(_env("LIENTHONG_MAX_POLL_RECORDS", "500")),
            producer_linger_ms=int(_env("LIENTHONG_PRODUCER_LINGER_MS", "5")),
            producer_request_timeout_s=float(_env("LIENTHONG_PRODUCER_REQUEST_TIMEOUT_S", "30")),
            commit_every=int(_env("LIENTHONG_COMMIT_EVERY", "1000")),
            commit_interval_s=float(_env("LIENTHONG_COMMIT_INTERVAL_S", "1.0")),
            session_timeout_s=float(_env("LIENTHONG_SESSION_TIMEOUT_S", "60")),
            log_level=_env("LIENTHONG_LOG_LEVEL", "info"),
            holidays_file=Path(p) if (p := _env("LIENTHONG_HOLIDAYS_FILE", "")) else None,
            clock_offset_file=Path(p) if (p := _env("LIENTHONG_CLOCK_OFFSET_FILE", "")) else None,
            apology_extension_days=float(_env("LIENTHONG_APOLOGY_EXTENSION_DAYS", "2")),
        )

    def kafka_url(self) -> str:
        return ",".join(f"kafka://{h.strip()}" for h in self.bootstrap.split(","))
