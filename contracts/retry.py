"""How long and how often the hub keeps trying an agency that fails technically.

A transport error, a timeout, a 5xx or no reply at all never ends a step: the saga sends the
command again (same idempotency key) after an exponentially growing delay with jitter, until the
agency answers on the facts or the policy gives up. Each agency's policy is the hub's defaults
(settings) with the overrides in its ``[agencies.<code>.retry]`` table of the registry.

The delays are state in the saga (durable across restarts and rebalances), not an in-process
retry loop, which is why no retry library (tenacity, stamina) fits here: those hold the attempt
in a coroutine, which a worker crash loses. The jitter is drawn from the idempotency key, so a
transition stays a pure function of its inputs and dossiers failing together spread apart.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RetryPolicy(BaseModel):
    """When to try an agency again, when to stop, and when its circuit breaker opens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_delay_s: float = Field(5, gt=0, description="delay after the first technical failure")
    max_delay_s: float = Field(600, gt=0, description="the delay doubles per failure up to this")
    give_up_after_h: float = Field(48, gt=0, description="the step fails this long after its first failure")
    breaker_failures: int = Field(5, ge=1, description="consecutive failed calls that open the circuit")
    breaker_reset_s: float = Field(30, gt=0, description="an open circuit lets a probe call through after this")

    def delay(self, failures: int, key: str) -> timedelta:
        """The wait after the ``failures``-th consecutive failure: ``first · 2^(failures−1)``, capped,
        then between half and all of it ("equal jitter"), drawn from ``key`` and ``failures``."""
        base = min(self.max_delay_s, self.first_delay_s * 2 ** min(max(failures, 1) - 1, 64))
        draw = int.from_bytes(hashlib.sha256(f"{key}#{failures}".encode()).digest()[:8], "big") / 2**64
        return timedelta(seconds=base * (0.5 + 0.5 * draw))

    def gives_up(self, failing_since: datetime, now: datetime) -> bool:
        return now - failing_since >= timedelta(hours=self.give_up_after_h)

    def overridden(self, overrides: dict[str, Any]) -> RetryPolicy:
        """This policy with ``overrides`` (an agency's ``retry`` table) applied and validated."""
        return RetryPolicy.model_validate(self.model_dump() | overrides)
