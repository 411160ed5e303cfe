"""Social and health insurance sandbox (BHXH/BHYT): a legacy SOAP 1.1 service.

Serves ``contracts/wsdl/insurance.wsdl`` at ``GET /soap?wsdl`` (with its own address) and
answers ``POST /soap``:

* IssueHealthInsuranceCard issues a group-TE card to a child under six;
* RegisterEmployer registers an enterprise as a social-insurance unit under its enterprise code;
* PayFuneralAllowance pays the funeral allowance (10 × the base salary) for an insured person.

A repeated IdempotencyKey returns the first answer and does nothing. Refusals are
``soap:Client`` faults, internal failures ``soap:Server`` faults, both with HTTP 500 as SOAP 1.1
requires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

from aiohttp import web

from connectors.http_server import HttpServer
from connectors.soap_server import SoapClientFault, request_element, soap_fault, soap_response
from contracts.identifiers import IdentifierError, Sex, check_bhyt_card, check_personal_id, check_tax_code
from infra.sandbox.effects import EffectLog

NS = "urn:lienthong:insurance:v1"
BASE_SALARY_VND = 2_340_000  # lương cơ sở from 1 July 2024; configuration, not law
FUNERAL_ALLOWANCE_VND = 10 * BASE_SALARY_VND


ClientFault = SoapClientFault  # the request is refused on its facts


def sixth_birthday(dob: date) -> date:
    try:
        return dob.replace(year=dob.year + 6)
    except ValueError:  # born on 29 February
        return date(dob.year + 6, 3, 1)


class InsuranceService:
    def __init__(
        self, effects_path: Path | None = None, today: date | None = None, insured: set[str] | None = None
    ) -> None:
        self.effects = EffectLog("insurance", effects_path)
        self.insured: set[str] = set(insured or ())  # personal IDs with social insurance
        self.allowances: dict[str, dict[str, str]] = {}  # by deceased personal ID
        self.cards: dict[str, dict[str, str]] = {}  # by personal ID
        self.employers: dict[str, dict[str, str]] = {}  # by unit (enterprise) code
        self._today = today
        self.server_faults_for = 0  # answer this many calls with soap:Server (to exercise retries)
        self._operations: dict[str, tuple[tuple[str, ...], Callable[[dict[str, str]], dict[str, str]]]] = {
            "IssueHealthInsuranceCard": (
                ("PersonalId", "FullName", "DateOfBirth", "Sex", "ProvinceCode"),
                self._issue_card,
            ),
            "RegisterEmployer": (("UnitCode", "UnitName", "Employees"), self._register_employer),
            "PayFuneralAllowance": (
                ("DeceasedId", "DeathCertificateNo", "BeneficiaryId", "BeneficiaryName"),
                self._pay_funeral_allowance,
            ),
        }
        self.requests: Counter[str] = Counter()  # requests received, by "METHOD /path"
        app = web.Application(middlewares=[self._count])
        app.add_routes([web.get("/soap", self._wsdl), web.post("/soap", self._call), web.get("/healthz", self._health)])
        self.server = HttpServer(app)

    async def start(self, port: int = 0) -> None:
        await self.server.start(port)

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def address(self) -> str:
        return f"{self.server.base_url}/soap"

    @web.middleware
    async def _count(self, request: web.Request, handler):
        self.requests[f"{request.method} {request.path}"] += 1
        return await handler(request)

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "cards": len(self.cards), "employers": len(self.employers)})

    async def _wsdl(self, _: web.Request) -> web.Response:
        text = (resources.files("contracts") / "wsdl" / "insurance.wsdl").read_text("utf-8")
        text = text.replace("http://127.0.0.1:8082/soap", self.address)
        return web.Response(text=text, content_type="text/xml")

    async def _call(self, request: web.Request) -> web.Response:
        try:
            element, given = request_element(await request.read(), NS)
            name = element.removesuffix("Request")
            if name not in self._operations:
                raise ClientFault(f"unknown operation; this service offers {', '.join(self._operations)}")
            if self.server_faults_for > 0:
                self.server_faults_for -= 1
                return soap_fault("soap:Server", "registry temporarily unavailable")
            fields, perform = self._operations[name]
            values = {f: given.get(f, "") for f in ("IdempotencyKey", *fields)}
            for field, value in values.items():
                if not value:
                    raise ClientFault(f"{field}: required")
            if (answer := self.effects.repeat(values["IdempotencyKey"])) is None:
                answer = perform(values)
            return soap_response(NS, f"{name}Response", answer)
        except ClientFault as exc:
            return soap_fault("soap:Client", str(exc))

    def _issue_card(self, v: dict[str, str]) -> dict[str, str]:
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
            raise ClientFault(
                f"PersonalId: a TE card was already issued to {v['PersonalId'][:3]}******"
                f"{v['PersonalId'][-3:]} under another request"
            )
        card = {
            "CardNumber": check_bhyt_card(f"TE1{v['ProvinceCode']}{v['PersonalId'][-10:]}"),
            "BeneficiaryGroup": "TE",
            "ValidFrom": dob.isoformat(),
            "ValidTo": (sixth_birthday(dob) - timedelta(days=1)).isoformat(),
        }
        self.cards[v["PersonalId"]] = card
        self.effects.record(
            v["IdempotencyKey"], "health_card_issued", card, PersonalId=v["PersonalId"], FullName=v["FullName"]
        )
        return card

    def _register_employer(self, v: dict[str, str]) -> dict[str, str]:
        try:
            unit = check_tax_code(v["UnitCode"])
            employees = int(v["Employees"])
        except (IdentifierError, ValueError) as exc:
            raise ClientFault(f"invalid request: {exc}") from None
        if unit in self.employers:
            raise ClientFault(f"UnitCode: {unit} is already a registered social-insurance unit")
        answer = {"UnitCode": unit, "RegisteredAt": datetime.now(UTC).isoformat()}
        self.employers[unit] = {"UnitName": v["UnitName"], "Employees": str(employees)}
        self.effects.record(v["IdempotencyKey"], "employer_registered", answer, UnitName=v["UnitName"])
        return answer

    def _pay_funeral_allowance(self, v: dict[str, str]) -> dict[str, str]:
        if v["DeceasedId"] not in self.insured:
            raise ClientFault(
                f"DeceasedId: {v['DeceasedId'][:3]}******{v['DeceasedId'][-3:]} was not insured; "
                "no funeral allowance is due"
            )
        if v["DeceasedId"] in self.allowances:
            raise ClientFault("DeceasedId: the funeral allowance was already paid under another request")
        answer = {"PaymentRef": f"MT-{len(self.allowances) + 1:06d}", "AmountVnd": str(FUNERAL_ALLOWANCE_VND)}
        self.allowances[v["DeceasedId"]] = answer | {"BeneficiaryId": v["BeneficiaryId"]}
        self.effects.record(v["IdempotencyKey"], "funeral_allowance_paid", answer, DeceasedId=v["DeceasedId"])
        return answer
