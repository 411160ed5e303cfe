"""Build ``contracts/admin_units_former.json``: every pre-merger province, district and commune and
its successor in today's units (``make units``; run again when either source is updated).

Sources, both on PyPI and maintained:

* today's units: ``vietnam-provinces`` (the General Statistics Office's list, danhmuchanhchinh.gso.gov.vn),
  installed with lienthong, which the hub reads at run time;
* the old units and the old→new mapping: ``vietnamadminunits`` (its ``dataset.db`` of the
  10,040 pre-merger communes with their GSO codes, and ``converter_2025.json``, which maps each
  to the commune that took it over, or to several where it was split). Only its data files are
  read, from its wheel: the package itself pulls in geocoding libraries the hub has no use for.

The mapping names units by key, not code, and a few of its new codes differ from the GSO list
(units renumbered after its release); so each successor is found in ``vietnam-provinces`` by
province and name (tone marks placed either way), and by code only where the name is not found.
Units whose successor cannot be found either way are written with none, and the hub refuses them
asking for the current code. The script prints what it could not match.
"""

from __future__ import annotations

import argparse
import collections
import json
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from importlib import metadata, resources
from pathlib import Path

MAPPING_PACKAGE, MAPPING_VERSION = "vietnamadminunits", "1.0.4"
OUTPUT = Path(__file__).resolve().parents[1] / "contracts" / "admin_units_former.json"
_TONES = {"òa": "oà", "óa": "oá", "ỏa": "oả", "õa": "oã", "ọa": "oạ", "òe": "oè", "óe": "oé", "ỏe": "oẻ"}
_TONES |= {"õe": "oẽ", "ọe": "oẹ", "ùy": "uỳ", "úy": "uý", "ủy": "uỷ", "ũy": "uỹ", "ụy": "uỵ"}


def name_key(name: str) -> str:
    """A unit name compared as an officer would: case, tone-mark placement, apostrophes and dashes aside."""
    text = unicodedata.normalize("NFC", name).lower().replace("'", "").replace("’", "")
    text = text.replace("–", "-").replace("—", "-")
    for old_style, new_style in _TONES.items():
        text = text.replace(old_style, new_style)
    return " ".join(text.split())


def _mapping_files(wheel: Path | None) -> tuple[sqlite3.Connection, dict]:
    """The mapping package's database and converter data, from its wheel (downloaded if not given)."""
    folder = Path(tempfile.mkdtemp(prefix="admin-units-"))
    if wheel is None:
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder)]
        subprocess.run([*pip, f"{MAPPING_PACKAGE}=={MAPPING_VERSION}"], check=True)
        wheel = next(folder.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(f"{MAPPING_PACKAGE}/data/dataset.db", folder)
        converter = json.loads(archive.read(f"{MAPPING_PACKAGE}/data/converter_2025.json"))
    return sqlite3.connect(folder / MAPPING_PACKAGE / "data" / "dataset.db"), converter


def _current() -> tuple[dict[str, str], dict[tuple[str, str], str], dict[str, tuple[str, str]]]:
    """Today's provinces (code -> name), communes by (province, name key) and by code."""
    nested = json.loads((resources.files("vietnam_provinces") / "data" / "nested-divisions.json").read_text("utf-8"))
    provinces = {f"{p['code']:02d}": p["name"] for p in nested}
    by_code = {f"{w['code']:05d}": (w["name"], f"{p['code']:02d}") for p in nested for w in p["wards"]}
    by_name = {(province, name_key(name)): code for code, (name, province) in by_code.items()}
    return provinces, by_name, by_code


def build(wheel: Path | None = None) -> tuple[dict, list[str]]:
    """The former units with their successors, and what could not be matched."""
    db, converter = _mapping_files(wheel)
    provinces, by_name, by_code = _current()
    new_units = {
        (province_key, ward_key): (code, name, province)
        for code, name, province, province_key, ward_key in db.execute(
            "select wardCode, ward, provinceCode, provinceKey, wardKey from admin_units"
        )
    }
    unmatched: dict[str, None] = {}  # in the order met, once each

    def current_code(province_key: str, ward_key: str) -> str | None:
        code, name, province = new_units[(province_key, ward_key)]
        found = by_name.get((province, name_key(name)))
        if found is None and code in by_code and by_code[code][1] == province:
            found = code  # renamed since: the code still names a unit of that province
        if found is None:
            unmatched[f"{name} ({province}, code {code} in {MAPPING_PACKAGE})"] = None
        return found

    successors: dict[str, list[str]] = collections.defaultdict(list)
    for new_province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward_key, old_keys in wards.items():
            for old in old_keys:
                successors[old].append(current_code(new_province, ward_key) or "")
    for new_province, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, parts in olds.items():
            successors[old] = [current_code(new_province, part["newWardKey"]) or "" for part in parts]
    province_of = {old: new for new, olds in converter["DICT_PROVINCE"].items() for old in olds}
    query = "select distinct provinceCode, provinceKey from admin_units"
    province_code = {key: code for code, key in db.execute(query)}

    former: dict = {"provinces": {}, "districts": {}, "communes": {}}
    rows = db.execute(
        "select wardCode, ward, districtCode, district, provinceCode, province, provinceKey, districtKey, wardKey "
        "from admin_units_legacy order by wardCode"
    )
    for code, name, district, district_name, province, province_name, p_key, d_key, w_key in rows:
        former["provinces"][province] = {"name": province_name, "successor": province_code[province_of[p_key]]}
        former["districts"][district] = {"name": district_name, "province": province}
        if code is None:
            continue  # an island district without communes: a special zone (đặc khu) today
        found = sorted({s for s in successors.get(f"{p_key}_{d_key}_{w_key}", []) if s})
        if not found:
            unmatched[f"former {name} ({code}): no successor in the mapping"] = None
        former["communes"][code] = {"name": name, "district": district, "province": province, "successors": found}
    assert set(p["successor"] for p in former["provinces"].values()) == set(provinces), "a successor is not a province"
    former["sources"] = {
        "current": f"vietnam-provinces {metadata.version('vietnam-provinces')}",
        "mapping": f"{MAPPING_PACKAGE} {MAPPING_VERSION} (dataset.db, converter_2025.json)",
    }
    former["merger_date"] = "2025-07-01"
    return former, list(unmatched)


def write(former: dict, path: Path = OUTPUT) -> None:
    """One unit per line, so a rebuild's diff shows what changed."""
    lines = ["{"]
    for section in ("sources", "merger_date"):
        lines.append(f"{json.dumps(section)}: {json.dumps(former[section], ensure_ascii=False)},")
    for section in ("provinces", "districts", "communes"):
        units = former[section]
        lines.append(f"{json.dumps(section)}: {{")
        body = [f"{json.dumps(code)}: {json.dumps(units[code], ensure_ascii=False)}" for code in sorted(units)]
        lines.append(",\n".join(body))
        lines.append("}" + ("," if section != "communes" else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {MAPPING_PACKAGE} {MAPPING_VERSION} wheel")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    former, unmatched = build(args.wheel)
    write(former, args.output)
    split = sum(1 for c in former["communes"].values() if len(c["successors"]) > 1)
    print(
        f"wrote {args.output}: {len(former['provinces'])} provinces, {len(former['districts'])} districts, "
        f"{len(former['communes'])} communes ({split} split among several successors)"
    )
    for line in unmatched:
        print(f"  unmatched: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
