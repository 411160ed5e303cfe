from contracts.schemas import models, schema


def test_every_contract_has_a_json_schema_agencies_can_be_handed():
    names = models()
    assert {"envelope", "justice-birth-filing", "step-command", "step-reply", "dossier-status"} <= set(names)
    for name in names:
        assert schema(name)["type"] == "object"
    assert schema("justice-birth-filing")["additionalProperties"] is False
