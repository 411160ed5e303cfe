"""JSON Schemas of every contract, by name, to hand to agency developers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from contracts import events
from contracts.actions import ACTIONS
from contracts.envelope import Envelope
from contracts.filings import FILING_MODELS
from contracts.native import JusticeBirthFiling


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def models() -> dict[str, type[BaseModel]]:
    """Every public model: envelope, event payloads, native filings, canonical filings, actions."""
    found: dict[str, type[BaseModel]] = {
        "envelope": Envelope,
        "dossier-filed": events.DossierFiled,
        "step-command": events.StepCommand,
        "step-reply": events.StepReply,
        "dossier-status": events.StatusUpdate,
        "monitor-transition": events.Transition,
        "audit-record": events.AuditRecord,
        "justice-birth-filing": JusticeBirthFiling,
    }
    found |= {f"filing-{_kebab(kind)}": model for kind, model in FILING_MODELS.items()}
    for name, action in ACTIONS.items():
        found[f"{_kebab(name)}-params"] = action.params
        found[f"{_kebab(name)}-result"] = action.result
    return found


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the model called ``name``; KeyError names the known ones."""
    known = models()
    if name not in known:
        raise KeyError(f"no schema called {name!r}; known: {', '.join(sorted(known))}")
    return known[name].model_json_schema()
