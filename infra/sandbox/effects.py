"""A sandbox agency's record of the side effects it performed, at most one per idempotency key.

Tests and the demo read it to prove "exactly once": a repeated command finds its key here and
gets the first answer back instead of a second effect. With a path, every effect is also appended
to a JSON Lines file, so an operator can inspect what each agency did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Effect:
    key: str
    kind: str
    data: dict[str, Any]  # what was done, for inspection
    response: dict[str, Any]  # what was answered; a repeated request gets exactly this again
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class EffectLog:
    def __init__(self, agency: str, path: Path | None = None) -> None:
        self.agency = agency
        self._by_key: dict[str, Effect] = {}
        self._path = path
        self.repeats = 0  # commands that arrived again with a key already performed

    def repeat(self, key: str) -> dict[str, Any] | None:
        """The answer already given for ``key`` (counting the repeat), or None if it is new."""
        effect = self._by_key.get(key)
        if effect is None:
            return None
        self.repeats += 1
        return effect.response

    def record(self, key: str, kind: str, response: dict[str, Any], **details: Any) -> Effect:
        """Record a new effect answered with ``response``; ``details`` add what else was done."""
        if key in self._by_key:
            raise ValueError(f"{self.agency}: effect {key!r} already recorded")
        effect = Effect(key, kind, response | details, response)
        self._by_key[key] = effect
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as out:
                out.write(
                    json.dumps(
                        {
                            "agency": self.agency,
                            "key": key,
                            "kind": kind,
                            "at": effect.at.isoformat(),
                            "data": effect.data,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        return effect

    def all(self) -> list[Effect]:
        return list(self._by_key.values())

    def of_kind(self, kind: str) -> list[Effect]:
        return [e for e in self._by_key.values() if e.kind == kind]

    def for_dossier(self, dossier_id: str) -> list[Effect]:
        """Effects of the hub's commands for one dossier (keys are ``<dossier>/<step>``)."""
        return [e for e in self._by_key.values() if e.key.startswith(dossier_id + "/")]

    def __len__(self) -> int:
        return len(self._by_key)
