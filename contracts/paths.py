"""Source paths: where a step's input comes from, read the same way by the catalog and the saga.

A path is ``filing.<field…>`` (the canonical filing), ``steps.<step>.<field…>`` (an earlier
step's result) or ``dossier.<field>`` (``id``, ``procedure``, ``received_at``). The catalog checks
paths against the models when a procedure loads; the saga resolves them against a dossier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from contracts.errors import CatalogError

DOSSIER_FIELDS = ("id", "procedure", "received_at")
Literal_ = str | int | float | bool


@dataclass(frozen=True)
class SourcePath:
    root: Literal["filing", "steps", "dossier"]
    step: str | None  # for ``steps.<step>…``
    fields: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> SourcePath:
        """Split ``text``; CatalogError says what a path may look like."""
        head, _, rest = text.partition(".")
        fields = tuple(rest.split(".")) if rest else ()
        if head == "dossier":
            if len(fields) != 1 or fields[0] not in DOSSIER_FIELDS:
                raise CatalogError(f"{text!r} is not one of {', '.join('dossier.' + f for f in DOSSIER_FIELDS)}")
            return cls("dossier", None, fields)
        if head == "filing":
            return cls("filing", None, fields)
        if head == "steps" and fields:
            return cls("steps", fields[0], fields[1:])
        raise CatalogError(f"source {text!r} must start with 'filing.', 'steps.' or 'dossier.'")


def resolve(
    text: str, dossier: Mapping[str, Any], filing: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]
) -> Any:
    """The value at path ``text``, or None where the dossier has nothing there."""
    path = SourcePath.parse(text)
    if path.root == "dossier":
        return dossier.get(path.fields[0])
    node: Any = filing if path.root == "filing" else results.get(path.step or "", {})
    for part in path.fields:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def build_params(inputs: Mapping[str, Literal_], lookup: Callable[[str], Any]) -> dict[str, Any]:
    """A step's parameters from its ``inputs`` (target → path or literal): dotted targets build
    nested objects; inputs with no value are left out."""
    params: dict[str, Any] = {}
    for target, source in inputs.items():
        value = lookup(source) if isinstance(source, str) else source
        if value is None:
            continue
        *parents, leaf = target.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return params
