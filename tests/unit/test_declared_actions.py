"""Actions a procedure file declares, and a deployment's registry adding agencies to the shipped one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import actions
from contracts.agencies import AGENCIES, load_registry
from contracts.catalog import load_procedure
from contracts.errors import CatalogError
from contracts.record_signing import generate_keyring, trust, trusted

EXAMPLE = Path(__file__).parents[1] / "integration" / "example_agency"
PROCEDURE = EXAMPLE / "procedures" / "death_funeral_support.toml"


@pytest.fixture
def with_social(monkeypatch) -> Iterator[None]:
    """This process's registry with the example's social agency; declared actions undone afterwards."""
    monkeypatch.setattr(actions, "REGISTRY", load_registry(EXAMPLE / "agencies.toml"))
    before = set(actions.ACTIONS)
    yield
    for name in set(actions.ACTIONS) - before:
        del actions.ACTIONS[name]
    actions._DECLARED.clear()


def test_a_procedure_declares_an_action_for_the_agency_that_serves_it(with_social):
    procedure = load_procedure(PROCEDURE)
    action = actions.ACTIONS["grant_funeral_support"]
    assert action.agency == "social" and action.creates_record
    assert procedure.step("grant_funeral_support").agency == "social"
    params = {
        "deceased_id": "093041120034",
        "deceased_name": "Trần Văn Bảy",
        "death_certificate_no": "KT-1",
        "declarant_id": "093175401122",
        "declarant_name": "Trần Thị Mai",
    }
    action.params.model_validate(params)
    with pytest.raises(ValidationError, match="deceased_id"):  # checked as every personal ID is
        action.params.model_validate(params | {"deceased_id": "09304112003"})
    with pytest.raises(ValidationError, match="amount_vnd"):
        action.result.model_validate({"decision_no": "QĐ-1", "amount_vnd": 0, "decided_on": "2026-11-27"})
    load_procedure(PROCEDURE)  # the same declaration again is the same action


def _declaring(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / PROCEDURE.name
    path.write_text(PROCEDURE.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('decided_on = "date"', 'decided_on = "calendar"', "actions.grant_funeral_support: result.decided_on"),
        ("creates_record = true", "creates_record = true\nicon = 1", "actions.grant_funeral_support: icon"),
        ("actions.grant_funeral_support", "actions.register_birth", "the hub already has this action"),
    ],
)
def test_a_broken_declaration_is_refused_naming_the_action_and_field(with_social, tmp_path, old, new, message):
    with pytest.raises(CatalogError, match=message):
        load_procedure(_declaring(tmp_path, old, new))


def test_an_action_is_declared_once(with_social, tmp_path):
    load_procedure(PROCEDURE)
    with pytest.raises(CatalogError, match="declared differently in another procedure file"):
        load_procedure(_declaring(tmp_path, 'death_certificate_no = "string"', 'death_certificate_no = "text"'))


def test_an_action_no_agency_serves_is_refused():
    with pytest.raises(CatalogError, match="no agency in the registry serves it"):
        load_procedure(PROCEDURE)  # this process's registry has no social agency


def test_a_deployment_registry_adds_agencies_to_the_shipped_ones(tmp_path):
    extended = load_registry(EXAMPLE / "agencies.toml")
    assert set(extended.agencies) == {*AGENCIES, "social"}
    assert extended.agencies["social"].principal == "social" and extended.hub.keys == ("hub-1",)
    clash = tmp_path / "agencies.toml"
    clash.write_text(
        (EXAMPLE / "agencies.toml").read_text(encoding="utf-8").replace("[agencies.social]", "[agencies.tax]")
    )
    with pytest.raises(CatalogError, match=r"agencies\.tax: already in the shipped registry"):
        load_registry(clash)


def test_the_keyring_keeps_the_public_keys_of_keys_held_elsewhere(tmp_path):
    generate_keyring(tmp_path, ["hub-1"])
    trust(tmp_path, {"social-1": "c29jaWFs"})
    generate_keyring(tmp_path, ["hub-2"])
    assert set(trusted(tmp_path)) == {"hub-1", "hub-2", "social-1"}
