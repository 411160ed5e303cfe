"""Administrative units (đơn vị hành chính) before and after the 1 July 2025 merger.

Older systems still send pre-merger codes. :func:`canonical_commune` accepts both and returns the
current unit, keeping the code that was sent so the record shows what the filer wrote.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from contracts.errors import UnknownUnitError


@dataclass(frozen=True)
class Commune:
    """A current commune-level unit, with the pre-merger code it was filed under, if any."""

    code: str
    name: str
    province_code: str
    former_code: str | None = None


@dataclass(frozen=True)
class _UnitTable:
    merger_date: date
    provinces: dict[str, str]
    province_successors: dict[str, str]
    communes: dict[str, dict]
    abolished: dict[str, dict]


@cache
def _table() -> _UnitTable:
    raw = tomllib.loads(resources.files("contracts").joinpath("admin_units.toml").read_text("utf-8"))
    return _UnitTable(
        merger_date=raw["merger_date"],
        provinces=raw["provinces"],
        province_successors=raw.get("province_successors", {}),
        communes=raw.get("communes", {}),
        abolished=raw.get("abolished", {}),
    )


def province_name(code: str) -> str | None:
    """Name of a pre-2025 two-digit province code, or None if unknown."""
    return _table().provinces.get(code)


def current_province(code: str) -> str:
    """The province a (possibly merged) two-digit province code belongs to today."""
    table = _table()
    if code not in table.provinces:
        raise UnknownUnitError(f"province code {code!r} is not a known province code")
    return table.province_successors.get(code, code)


def canonical_commune(code: str) -> Commune:
    """Map a commune code, current or pre-merger, to the current unit."""
    table = _table()
    if code in table.communes:
        unit = table.communes[code]
        return Commune(code=code, name=unit["name"], province_code=unit["province"])
    if code in table.abolished:
        old = table.abolished[code]
        successor = old["successor"]
        if not successor:
            raise UnknownUnitError(
                f"commune {code} ({old['name']}) was abolished on {table.merger_date} and its "
                "successor is not in the unit table"
            )
        new = table.communes[successor]
        return Commune(code=successor, name=new["name"], province_code=new["province"], former_code=code)
    raise UnknownUnitError(f"commune code {code!r} is not in the administrative unit table")


def current_commune_codes() -> list[str]:
    """Codes of every current commune in the table, sorted."""
    return sorted(_table().communes)


def abolished_commune_codes(with_successor: bool = True) -> list[str]:
    """Codes of abolished communes (only those with a recorded successor by default), sorted."""
    return sorted(code for code, unit in _table().abolished.items() if unit["successor"] or not with_successor)
