"""Least data in free text: personal ID numbers, names and dates masked before text leaves the saga.

Agencies' refusal reasons, citizens' request reasons and validation messages are free text that
may quote a personal ID, a name or a birth date ("personal ID 093195000123 is not in the
population registry"). Status updates, monitor records, dead-letter reason headers and logs
carry such text only through :func:`redact`:

* identifier-shaped runs (a 12-digit personal ID, a 10- or 13-digit code, a 15-character BHYT
  card number) keep their first and last three characters: ``093******123``;
* dates (``dd/mm/yyyy``, ``yyyy-mm-dd``) become ``**/**/****``;
* every value the dossier itself holds about a person (:func:`personal_values`: names, personal
  IDs, dates of birth and death) becomes ``***``, wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# ``\d`` on purpose: any script's digits are masked, even where a validator would refuse them.
_IDENTIFIER = re.compile(r"(?<!\w)(?:[A-Z]{2}[1-5]\d{12}|\d{10}-\d{3}|\d{12}|\d{10})(?!\w)")
_DATE = re.compile(r"(?<!\d)(?:\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2})(?!\d)")
PERSONAL_FIELDS = frozenset({"full_name", "personal_id", "date_of_birth", "date_of_death"})
"""Filing fields that identify a person; their values never leave the saga in free text."""


def _keep_ends(match: re.Match[str]) -> str:
    value = match[0]
    return value[:3] + "*" * (len(value) - 6) + value[-3:]


def mask_identifiers(text: str) -> str:
    """``text`` with identifier-shaped runs masked (what logs need: their timestamps stay)."""
    return _IDENTIFIER.sub(_keep_ends, text)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with identifiers, dates and each of the ``known`` personal values masked."""
    for value in sorted(known, key=len, reverse=True):
        if len(value) >= 3:
            text = re.sub(re.escape(value), "***", text, flags=re.IGNORECASE)
    return _DATE.sub("**/**/****", mask_identifiers(text))


def personal_values(filing: Mapping[str, Any]) -> set[str]:
    """Every name, personal ID and date of birth or death anywhere in a filing (with each date
    also as ``dd/mm/yyyy``, the form agencies quote)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in PERSONAL_FIELDS and isinstance(value, str):
                    found.add(value)
                    if key.startswith("date_") and (m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)):
                        found.add(f"{m[3]}/{m[2]}/{m[1]}")
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(filing)
    return found
