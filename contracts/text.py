"""Vietnamese text normalisation: every name and free text is stored in Unicode NFC."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_SPACES = re.compile(r"\s+")


def normalize_text(value: str) -> str:
    """Return ``value`` in NFC with runs of white space folded to one space and ends trimmed.

    Legacy systems send decomposed (NFD) or mixed forms of the same Vietnamese letters, which
    would otherwise compare unequal ("Nguyễn" typed on two keyboards).
    """
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def same_name(a: str, b: str) -> bool:
    """Compare two personal names as an officer would: NFC, case and spacing ignored."""
    return normalize_text(a).casefold() == normalize_text(b).casefold()


def _person_name(value: str) -> str:
    value = normalize_text(value)
    if any(ch.isdigit() for ch in value):
        raise ValueError("a personal name must not contain digits")
    return value


PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_person_name)]
"""A personal name (họ và tên), NFC-normalised, 1–100 characters, no digits."""

Text = Annotated[str, AfterValidator(normalize_text), StringConstraints(max_length=500)]
"""Free text, NFC-normalised."""
