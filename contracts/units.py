"""Administrative units (đơn vị hành chính) of the whole country, before and after the 1 July 2025 merger.

Today's 34 provinces and 3,321 communes come from the maintained ``vietnam-provinces`` package
(the General Statistics Office's list). Every pre-merger province, district and commune, with the
commune or communes that took it over, comes from ``contracts/admin_units_former.json``, which
``infra/build_admin_units.py`` builds from the ``vietnamadminunits`` package's mapping (its
docstring names the sources). Both are read once, into lookup tables, on first use.

Older systems still send pre-merger codes. :func:`canonical_commune` accepts both and returns the
current unit, keeping the code that was sent so the record shows what the filer wrote. A commune
split among several successors cannot be mapped: the error names them and asks for today's code.
Many current communes kept the code of one of the communes they absorbed, so a code that is
current is read as today's unit unless the caller knows it was filed as a pre-merger one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
class FormerCommune:
    code: str
    name: str
    district: str
    province: str
    successors: tuple[str, ...]


@dataclass(frozen=True)
class _Units:
    merger_date: str
    provinces: dict[str, str]  # today's: code -> name
    communes: dict[str, Commune]  # today's, by code
    former_provinces: dict[str, tuple[str, str]]  # code -> (name, today's province code)
    former_districts: dict[str, tuple[str, str]]  # code -> (name, former province code)
    former_communes: dict[str, FormerCommune]


@cache
def _units() -> _Units:
    nested = json.loads((resources.files("vietnam_provinces") / "data" / "nested-divisions.json").read_text("utf-8"))
    former = json.loads(resources.files("contracts").joinpath("admin_units_former.json").read_text("utf-8"))
    return _Units(
        merger_date=former["merger_date"],
        provinces={f"{p['code']:02d}": p["name"] for p in nested},
        communes={
            f"{w['code']:05d}": Commune(f"{w['code']:05d}", " ".join(w["name"].split()), f"{p['code']:02d}")
            for p in nested
            for w in p["wards"]
        },
        former_provinces={code: (p["name"], p["successor"]) for code, p in former["provinces"].items()},
        former_districts={code: (d["name"], d["province"]) for code, d in former["districts"].items()},
        former_communes={
            code: FormerCommune(code, c["name"], c["district"], c["province"], tuple(c["successors"]))
            for code, c in former["communes"].items()
        },
    )


def province_name(code: str) -> str | None:
    """Name of a province code, today's or pre-merger (personal ID numbers carry either), or None."""
    units = _units()
    if code in units.provinces:
        return units.provinces[code]
    former = units.former_provinces.get(code)
    return former[0] if former else None


def current_province(code: str) -> str:
    """Today's province of a (possibly merged) two-digit province code."""
    units = _units()
    if code in units.provinces:
        return code
    if code in units.former_provinces:
        return units.former_provinces[code][1]
    raise UnknownUnitError(f"province code {code!r} is not a province code, today's or pre-merger")


def abolished_province(code: str) -> bool:
    """Whether ``code`` names a province the merger abolished (its units can only be pre-merger ones)."""
    units = _units()
    return code in units.former_provinces and code not in units.provinces


def check_former_district(district: str, commune: str) -> None:
    """A pre-merger district code (districts were abolished on 1 July 2025) and the commune filed
    with it: UnknownUnitError unless the district existed and the commune lay in it."""
    units = _units()
    if district not in units.former_districts:
        raise UnknownUnitError(f"district code {district!r} is not a pre-merger district code")
    old = units.former_communes.get(commune)
    if old is None or old.district != district:
        name = units.former_districts[district][0]
        raise UnknownUnitError(f"commune {commune} did not lie in district {district} ({name}) before the merger")


def canonical_commune(code: str, *, former: bool = False) -> Commune:
    """Today's unit for a commune code, current or pre-merger (``former``: it was filed as a
    pre-merger code, e.g. under an abolished province, even if today's list reuses it)."""
    units = _units()
    if not former and code in units.communes:
        return units.communes[code]
    old = units.former_communes.get(code)
    if old is None:
        if code in units.communes:
            return units.communes[code]
        raise UnknownUnitError(f"commune code {code!r} is not a commune code, today's or pre-merger")
    district, province = units.former_districts[old.district][0], units.former_provinces[old.province][0]
    where = f"commune {code} ({old.name}, {district}, {province})"
    if len(old.successors) != 1:
        parts = ", ".join(f"{units.communes[s].name} ({s})" for s in old.successors)
        raise UnknownUnitError(
            f"{where} was split on {units.merger_date} among {parts}: give today's commune code of the address"
        )
    new = units.communes[old.successors[0]]
    return Commune(code=new.code, name=new.name, province_code=new.province_code, former_code=code)


def current_commune_codes(province: str | None = None) -> list[str]:
    """Codes of today's communes (of ``province`` only, if given), sorted."""
    units = _units()
    return sorted(code for code, c in units.communes.items() if province is None or c.province_code == province)


def former_commune_codes(*, split: bool | None = None) -> list[str]:
    """Codes of pre-merger communes (only split ones, or only those with one successor), sorted."""
    return sorted(
        code for code, unit in _units().former_communes.items() if split is None or (len(unit.successors) > 1) == split
    )


def former_province_codes() -> list[str]:
    return sorted(_units().former_provinces)
