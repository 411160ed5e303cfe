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


_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
"""Unicode categories of control, format (zero-width…), private-use, surrogate and unassigned
characters: nothing a person types in a name or a note, and a way to hide or fake text."""


def _no_invisible(value: str) -> str:
    if bad := next((ch for ch in value if unicodedata.category(ch) in _INVISIBLE and ch not in "\t\n\r"), None):
        raise ValueError(f"must not contain control or invisible characters (found U+{ord(bad):04X})")
    return value


def _person_name(value: str) -> str:
    value = normalize_text(_no_invisible(value))
    if any(ch.isdigit() for ch in value):
        raise ValueError("a personal name must not contain digits")
    if not any(ch.isalpha() for ch in value):
        raise ValueError("a personal name must contain letters")
    return value


def _text(value: str) -> str:
    return normalize_text(_no_invisible(value))


PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_person_name)]
"""A personal name (họ và tên), NFC-normalised, 1–100 characters, letters, no digits, nothing
invisible."""

Text = Annotated[str, AfterValidator(_text), StringConstraints(max_length=500)]
"""Free text, NFC-normalised, nothing invisible (tabs and line breaks become spaces)."""
