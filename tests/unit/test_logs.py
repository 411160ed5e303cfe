import io
import json

import structlog

from streams import logs


def test_identifiers_are_masked_in_json_logs():
    buffer = io.StringIO()
    logs.configure("info", buffer)
    try:
        structlog.get_logger("t").warning(
            "lookup",
            reason="personal ID 093195000123 not found",
            card="TE1920931950001",
            dossier_id="000.00.31.H26-261120-0001",
        )
    finally:
        structlog.reset_defaults()
    record = json.loads(buffer.getvalue())
    assert record["reason"] == "personal ID 093******123 not found"
    assert record["card"] == "TE1*********001"
    assert record["dossier_id"] == "000.00.31.H26-261120-0001"
    assert record["level"] == "warning"
