"""Notice texts for citizens (the apology for a late dossier…), kept as templates in notices.toml.

Each template declares its placeholders; loading checks the text uses no others, so a typo in the
file fails at start, not when the first dossier is late.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from string import Template

from contracts.errors import ContractError


@cache
def _templates() -> dict[str, tuple[Template, frozenset[str]]]:
    raw = tomllib.loads((resources.files("contracts") / "notices.toml").read_text("utf-8"))
    templates = {}
    for name, notice in raw.items():
        template, allowed = Template(notice["text"]), frozenset(notice["placeholders"])
        if unknown := set(template.get_identifiers()) - allowed:
            raise ContractError(f"notices.toml: [{name}] uses undeclared placeholder {', '.join(sorted(unknown))}")
        templates[name] = (template, allowed)
    return templates


def render(name: str, **values: object) -> str:
    """The notice ``name`` with its placeholders filled in; every declared one must be given."""
    template, allowed = _templates()[name]
    if missing := allowed - values.keys():
        raise KeyError(f"notice {name!r} needs {', '.join(sorted(missing))}")
    return template.substitute({k: str(v) for k, v in values.items()})
