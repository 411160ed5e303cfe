"""JSON from outside the hub, parsed strictly: no NaN or Infinity, no nesting deep enough to
exhaust the parser. Every failure is a ``ValueError`` saying why."""

from __future__ import annotations

import json
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(raw: bytes | str) -> Any:
    """The JSON value in ``raw``; ValueError if it is not strict JSON."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
