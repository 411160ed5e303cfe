"""The agency registry file: what it says, and a broken one refused with the field and the rule."""

from pathlib import Path

import pytest

from contracts.actions import ACTIONS
from contracts.agencies import AGENCIES, REGISTRY, REGISTRY_FILE, load_registry
from contracts.errors import CatalogError
from contracts.redact import personal_values, redact
from infra.cli import parser


def test_every_action_is_served_by_exactly_the_agency_the_registry_names():
    assert {name: action.agency for name, action in ACTIONS.items()} == {
        action: code for code, agency in AGENCIES.items() for action in agency.serves
    }


def test_only_agencies_that_connect_themselves_have_principals_and_keys():
    assert {code for code, a in AGENCIES.items() if a.principal} == {"justice", "tax", "portal", "onestop"}
    assert all(not a.keys for a in AGENCIES.values() if a.bridged)
    assert REGISTRY.hub.keys and REGISTRY.operator.principal == "operator"


def test_the_portal_acts_for_citizens_and_justice_files_only_its_own_procedures():
    assert AGENCIES["portal"].may("withdraw", "land_transfer") and AGENCIES["portal"].on_behalf_of_citizen
    assert AGENCIES["justice"].may("file", "birth_bundle") and not AGENCIES["justice"].may("file", "land_transfer")
    assert not AGENCIES["tax"].may_send


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('serves = ["return_result"]', 'serves = ["return_result", "register_birth"]'), "served by both"),
        (('principal = "tax"', 'principal = "justice"'), "every principal connects for one party only"),
        (('transport = "soap"', 'transport = "carrier-pigeon"'), "agencies.insurance.transport"),
        (('keys = ["tax-1"]\n', ""), "agencies.tax: a kafka agency needs a principal and at least one signing key"),
    ],
)
def test_a_broken_registry_is_refused_naming_the_field(tmp_path: Path, edit, message):
    broken = tmp_path / "agencies.toml"
    broken.write_text(REGISTRY_FILE.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_registry(broken)


def test_redaction_masks_the_dossiers_people_identifiers_and_dates():
    filing = {"mother": {"full_name": "Trần Thị Lan", "personal_id": "093195000123"}, "date_of_birth": "1995-05-05"}
    known = personal_values(filing)
    assert known == {"Trần Thị Lan", "093195000123", "1995-05-05", "05/05/1995"}
    text = "TRẦN THỊ LAN (093195000123), born 05/05/1995; card HC4920123456789; ID 093١٩٥٠٠٠١٢٣"
    assert redact(text, known) == "*** (***), born ***; card HC4*********789; ID 093******١٢٣"
    assert redact("due 2026-12-03 for 079201000999") == "due **/**/**** for 079******999"


def test_a_name_inside_another_is_masked_whole_and_dates_in_lists_in_the_agencies_form():
    filing = {
        "mother": {"full_name": "Trần Thị Lan", "date_of_birth": "1995-05-07"},
        "children": [{"full_name": "Lan"}],  # a value inside a longer one, found inside a list
    }
    known = personal_values(filing)
    assert known == {"Trần Thị Lan", "Lan", "1995-05-07", "07/05/1995"}
    assert redact("Trần Thị Lan, born 07/05/1995, and Lan", known) == "***, born ***, and ***"
    assert redact("Hà asked", {"Hà"}) == "Hà asked"  # under 3 characters it would mask inside words


def test_agency_list_shows_how_each_agency_connects_and_its_topics(capsys):
    args = parser().parse_args(["agency", "list", "--namespace", "prov93."])  # main() would set up logging
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for code, agency in AGENCIES.items():
        assert f"inbox prov93.agency.{code}.inbox, outbox prov93.agency.{code}.outbox" in out
        block = out[out.index(f"{code}: ") :]
        if agency.bridged:
            assert "the hub's bridge calls it" in block.splitlines()[1]
        else:
            assert f"connects as User:{agency.principal}, signs with {', '.join(agency.keys)}" in block.splitlines()[1]
