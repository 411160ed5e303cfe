"""structlog JSON logs with personal identifiers masked.

Any 12-digit personal ID number, 10-digit code or 15-character BHYT card number in a log value is
shown as its first three and last three characters, e.g. ``093******123``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from contracts.redact import mask_identifiers


def _mask_values(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    return {k: mask_identifiers(v) if isinstance(v, str) else v for k, v in event.items()}


def configure(level: str = "info", stream: Any = None) -> None:
    """JSON lines on ``stream`` (stderr by default) at ``level``."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_values,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
