"""Social and health insurance sandbox (BHXH/BHYT): a legacy SOAP 1.1 service.

Serves ``contracts/wsdl/insurance.wsdl`` at ``GET /soap?wsdl`` (with its own address) and
answers ``POST /soap``. Operation IssueHealthInsuranceCard issues a group-TE card to a child under
six; a repeated IdempotencyKey returns the first card and issues nothing. Refusals are
``soap:Client`` faults, internal failures ``soap:Server`` faults, both with HTTP 500 as SOAP 1.1
requires.
"""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from contracts.identifiers import IdentifierError, Sex, check_bhyt_card, check_personal_id
from infra.sandbox.effects import EffectLog
from infra.sandbox.http import HttpServer

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:lienthong:insurance:v1"
_FIELDS = ("IdempotencyKey", "PersonalId", "FullName", "DateOfBirth", "Sex", "ProvinceCode")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class ClientFault(Exception):
    """The request is refused on its facts (soap:Client)."""


def sixth_birthday(dob: date) -> date:
    try:
        return dob.replace(year=dob.year + 6)
    except ValueError:  # born on 29 February
        return date(dob.year + 6, 3, 1)


class InsuranceService:
    def __init__(self, effects_path: Path | None = None, today: date | None = None) -> None:
        self.effects = EffectLog("insurance", effects_path)
        self.cards: dict[str, dict[str, str]] = {}  # by personal ID
        self._today = today
        self.server_faults_for = 0  # answer this many calls with soap:Server (to exercise retries)
        app = web.Application()
        app.add_routes([web.get("/soap", self._wsdl), web.post("/soap", self._call),
                        web.get("/healthz", self._health)])
        self.server = HttpServer(app)

    async def start(self, port: int = 0) -> None:
        await self.server.start(port)

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def address(self) -> str:
        return f"{self.server.base_url}/soap"

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "cards": len(self.cards)})

    async def _wsdl(self, _: web.Request) -> web.Response:
        text = (resources.files("contracts") / "wsdl" / "insurance.wsdl").read_text("utf-8")
        text = text.replace("http://127.0.0.1:8082/soap", self.address)
        return web.Response(text=text, content_type="text/xml")

    async def _call(self, request: web.Request) -> web.Response:
        try:
            root = etree.fromstring(await request.read(), _PARSER)
            body = root.find(f"{{{SOAP_ENV}}}Body")
            operation = body[0] if body is not None and len(body) else None
            if operation is None or operation.tag != f"{{{NS}}}IssueHealthInsuranceCardRequest":
                raise ClientFault("unknown operation: expected IssueHealthInsuranceCardRequest")
            if self.server_faults_for > 0:
                self.server_faults_for -= 1
                return _fault("soap:Server", "card registry temporarily unavailable")
            values = {f: (operation.findtext(f"{{{NS}}}{f}") or "").strip() for f in _FIELDS}
            return _response(self._issue(values))
        except etree.XMLSyntaxError as exc:
            return _fault("soap:Client", f"request is not well-formed XML: {exc}")
        except ClientFault as exc:
            return _fault("soap:Client", str(exc))

    def _issue(self, v: dict[str, str]) -> dict[str, str]:
        if (answer := self.effects.repeat(v["IdempotencyKey"])) is not None:
            return answer
        for field in _FIELDS:
            if not v[field]:
                raise ClientFault(f"{field}: required")
        try:
            check_personal_id(v["PersonalId"])
            dob = date.fromisoformat(v["DateOfBirth"])
            Sex(v["Sex"])
        except (IdentifierError, ValueError) as exc:
            raise ClientFault(f"invalid request: {exc}") from None
        today = self._today or date.today()
        if not dob <= today < sixth_birthday(dob):
            raise ClientFault(f"DateOfBirth: {dob} - group TE cards are only for children under 6")
        if v["PersonalId"] in self.cards:
            raise ClientFault(f"PersonalId: a TE card was already issued to {v['PersonalId'][:3]}******"
                              f"{v['PersonalId'][-3:]} under another request")
        card = {
            "CardNumber": check_bhyt_card(f"TE1{v['ProvinceCode']}{v['PersonalId'][-10:]}"),
            "BeneficiaryGroup": "TE",
            "ValidFrom": dob.isoformat(),
            "ValidTo": (sixth_birthday(dob) - timedelta(days=1)).isoformat(),
        }
        self.cards[v["PersonalId"]] = card
        self.effects.record(v["IdempotencyKey"], "health_card_issued", card,
                            PersonalId=v["PersonalId"], FullName=v["FullName"])
        return card


def _envelope(body: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}">'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>")


def _response(card: dict[str, str]) -> web.Response:
    fields = "".join(f"<tns:{k}>{escape(card[k])}</tns:{k}>"
                     for k in ("CardNumber", "BeneficiaryGroup", "ValidFrom", "ValidTo"))
    body = f'<tns:IssueHealthInsuranceCardResponse xmlns:tns="{NS}">{fields}</tns:IssueHealthInsuranceCardResponse>'
    return web.Response(text=_envelope(body), content_type="text/xml", charset="utf-8")


def _fault(code: str, message: str) -> web.Response:
    body = f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring></soap:Fault>"
    return web.Response(text=_envelope(body), status=500, content_type="text/xml", charset="utf-8")
