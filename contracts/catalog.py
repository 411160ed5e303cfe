"""The procedure catalog: each interlinked procedure is one TOML file in ``contracts/procedures/``.

Loading validates the whole file and fails with :class:`CatalogError` naming the file, the step
and the problem, so a wrong procedure never reaches a running hub. A file may also declare the
actions of agencies a deployment added (:mod:`contracts.declared_actions`).
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.actions import ACTIONS, declare
from contracts.envelope import describe_error
from contracts.errors import CatalogError, FilingRejected
from contracts.filings import FILING_MODELS
from contracts.paths import SourcePath
from contracts.status import DossierStatus

STEP_ID = r"^[a-z][a-z0-9_]*$"


class Compensation(BaseModel):
    """What undoes a succeeded step when the dossier ends without a result (e.g. a refund)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str
    inputs: dict[str, str | int | float | bool] = Field(
        description="as a step's inputs; may also read the compensated step's own result"
    )


class PaymentCompletion(BaseModel):
    """The step completes when the payment gateway's signed callback says the citizen paid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_input: str = Field(description="The step input holding the amount the payment must match")


class StepDef(BaseModel):
    """One step: ask ``agency`` to perform ``action`` with ``inputs`` drawn from the dossier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=STEP_ID)
    agency: str
    action: str
    purpose: str = Field(min_length=1, description="Why the agency receives the inputs")
    depends_on: tuple[str, ...] = ()
    inputs: dict[str, str | int | float | bool] = Field(
        description="param (dotted for nested) -> a source path (filing.<field…>, steps.<id>.<field…>, "
        "dossier.id, dossier.procedure, dossier.received_at) or a literal number or boolean"
    )
    skip_unless: str | None = Field(default=None, description="Skip the step unless this path is truthy")
    on_failure: Literal["reject", "stop", "continue"] = Field(
        default="stop",
        description="reject: the dossier is not accepted (status 3); stop: processing stops (status 8); "
        "continue: the step is recorded as declined and the dossier goes on",
    )
    status_on_start: DossierStatus | None = None
    compensation: Compensation | None = Field(
        default=None, description="Sent if this step succeeded but the dossier ends in status 3, 7 or 8"
    )
    manual_reversal: bool = Field(
        default=False,
        description="The agency has no message to undo this step's record: if the dossier ends without a "
        "result after it succeeded, operators are told to reverse it by hand",
    )
    reply_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Send again after this long without a reply (default: the hub's setting); "
        "long for steps that wait on the citizen, such as a payment",
    )
    deadline_working_days: float | None = Field(default=None, ge=0)
    payment: PaymentCompletion | None = Field(
        default=None, description="Completed by a payment notification rather than a reply"
    )


class Procedure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=STEP_ID)
    title: str = Field(min_length=1)
    filing: str = Field(description="The filing kind, a key of contracts.filings.FILING_MODELS")
    deadline_working_days: float = Field(gt=0)
    steps: tuple[StepDef, ...] = Field(min_length=1)

    def step(self, step_id: str) -> StepDef:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def intake_steps(self) -> list[str]:
        """Steps whose failure means the dossier is not accepted (checks before acceptance)."""
        return [s.id for s in self.steps if s.on_failure == "reject"]

    def result_fields_read(self, step_id: str) -> frozenset[str] | None:
        """The fields of ``step_id``'s result that some step (inputs, compensation, skip condition)
        reads, so the saga keeps only those (least data); None when a step reads it whole."""
        read: set[str] = set()
        for step in self.steps:
            sources = [*step.inputs.values(), *(step.compensation.inputs.values() if step.compensation else ())]
            for source in [*sources, step.skip_unless]:
                if not isinstance(source, str) or not source.startswith("steps."):
                    continue
                path = SourcePath.parse(source)
                if path.step == step_id:
                    if not path.fields:
                        return None
                    read.add(path.fields[0])
        return frozenset(read)


def _fields_of(model: Any) -> dict[str, Any] | None:
    """The fields of a pydantic model type, looking through ``X | None``; None if not a model."""
    if isinstance(model, types.UnionType) or typing.get_origin(model) is typing.Union:
        models = [a for a in typing.get_args(model) if a is not type(None)]
        model = models[0] if len(models) == 1 else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return {name: f.annotation for name, f in model.model_fields.items()}
    return None


def _check_path(path: str, root: Any, where: str, source: str) -> None:
    node = root
    for part in path.split("."):
        fields = _fields_of(node)
        if fields is None:
            return  # a free-form dict or a scalar: nothing further to check
        if part not in fields:
            raise CatalogError(f"{where}: {source!r} has no field {part!r} (known: {', '.join(fields)})")
        node = fields[part]


def _upstream(proc: Procedure, step: StepDef) -> set[str]:
    seen: set[str] = set()
    todo = list(step.depends_on)
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(proc.step(dep).depends_on)
    return seen


def _check_source(proc: Procedure, step: StepDef, source: str, where: str) -> None:
    try:
        path = SourcePath.parse(source)
    except CatalogError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    if path.root == "filing":
        _check_path(".".join(path.fields), FILING_MODELS[proc.filing], where, source)
    elif path.root == "steps":
        if path.step not in _upstream(proc, step):
            raise CatalogError(f"{where}: {source!r} reads step {path.step!r}, which this step does not depend on")
        _check_path(".".join(path.fields), ACTIONS[proc.step(path.step).action].result, where, source)


def _check_inputs(proc: Procedure, step: StepDef, action_name: str, inputs: dict, where: str) -> None:
    params = ACTIONS[action_name].params.model_fields
    given = {target.split(".")[0] for target in inputs}
    if unknown := sorted(given - set(params)):
        raise CatalogError(f"{where}: {action_name!r} takes no input {', '.join(unknown)} (takes: {', '.join(params)})")
    if missing := sorted(n for n, f in params.items() if f.is_required() and n not in given):
        raise CatalogError(f"{where}: {action_name!r} needs input {', '.join(missing)}")
    for source in inputs.values():
        if isinstance(source, str):  # anything else is a literal
            _check_source(proc, step, source, where)


def _check_step(proc: Procedure, step: StepDef, where: str) -> None:
    action = ACTIONS.get(step.action)
    if action is None:
        raise CatalogError(f"{where}: unknown action {step.action!r} (known: {', '.join(sorted(ACTIONS))})")
    if action.agency != step.agency:
        raise CatalogError(f"{where}: action {step.action!r} is performed by {action.agency!r}, not {step.agency!r}")
    _check_inputs(proc, step, step.action, step.inputs, where)
    if step.skip_unless:
        _check_source(proc, step, step.skip_unless, where)
    if step.payment is not None and step.payment.amount_input not in step.inputs:
        raise CatalogError(
            f"{where}: payment: amount_input {step.payment.amount_input!r} is not one of the "
            f"step's inputs ({', '.join(step.inputs)})"
        )
    if action.creates_record and step.compensation is None and not step.manual_reversal:
        raise CatalogError(
            f"{where}: {step.action!r} creates a record at {step.agency}: declare the compensation "
            "that undoes it, or manual_reversal = true"
        )
    if step.compensation is not None and step.manual_reversal:
        raise CatalogError(f"{where}: a step is undone by its compensation or by hand, not both")
    if step.compensation is not None:
        if step.compensation.action not in ACTIONS:
            raise CatalogError(f"{where}: compensation: unknown action {step.compensation.action!r}")
        # A compensation may read the result of the step it undoes.
        itself = step.model_copy(update={"id": f"{step.id}:compensate", "depends_on": (*step.depends_on, step.id)})
        _check_inputs(proc, itself, step.compensation.action, step.compensation.inputs, f"{where}: compensation")


def validate_procedure(data: dict[str, Any], origin: str) -> Procedure:
    """Validate a parsed procedure file; ``origin`` names it in errors."""
    try:
        proc = Procedure.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{origin}: {describe_error(exc)}") from None
    if proc.filing not in FILING_MODELS:
        raise CatalogError(f"{origin}: unknown filing kind {proc.filing!r} (known: {', '.join(FILING_MODELS)})")
    ids = [s.id for s in proc.steps]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise CatalogError(f"{origin}: step id {', '.join(dupes)} is used more than once")
    for step in proc.steps:
        where = f"{origin}: step {step.id!r}"
        if unknown := [d for d in step.depends_on if d not in ids]:
            raise CatalogError(f"{where}: depends on unknown step {', '.join(unknown)}")
        if step.id in _upstream(proc, step):
            raise CatalogError(f"{where}: depends on itself through a cycle")
    for step in proc.steps:
        _check_step(proc, step, f"{origin}: step {step.id!r}")
    return proc


def load_procedure(path: Path) -> Procedure:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid TOML: {exc}") from None
    declared = data.pop("actions", {})
    if not isinstance(declared, dict):
        raise CatalogError(f"{path.name}: actions: a table of action declarations")
    for name, table in declared.items():
        declare(name, table, path.name)
    proc = validate_procedure(data, path.name)
    if proc.id != path.stem:
        raise CatalogError(f"{path.name}: procedure id {proc.id!r} must match the file name {path.stem!r}")
    return proc


def load_catalog(directory: Path) -> dict[str, Procedure]:
    """Every ``*.toml`` procedure in ``directory``, by id."""
    return {p.id: p for p in map(load_procedure, sorted(directory.glob("*.toml")))}


@cache
def builtin_catalog() -> dict[str, Procedure]:
    """The procedures shipped in ``contracts/procedures/``."""
    with resources.as_file(resources.files("contracts") / "procedures") as directory:
        return load_catalog(Path(directory))


def procedure_for(catalog: Mapping[str, Procedure], procedure_id: str) -> Procedure:
    """The catalog's procedure ``procedure_id``; FilingRejected names the known ones."""
    procedure = catalog.get(procedure_id)
    if procedure is None:
        raise FilingRejected(f"procedure: unknown procedure {procedure_id!r} (known: {', '.join(sorted(catalog))})")
    return procedure


def canonical_filing(procedure: Procedure, filing: Any) -> BaseModel:
    """``filing`` validated and normalised as ``procedure``'s filing kind (current units, ISO
    dates, NFC text); FilingRejected names each failing field and its rule."""
    try:
        return FILING_MODELS[procedure.filing].model_validate(filing)
    except ValidationError as exc:
        raise FilingRejected(describe_error(exc)) from None
