"""Population registry sandbox (CSDLQG về dân cư): a REST server over seeded synthetic citizens.

    GET  /v1/citizens/{personal_id}   look a citizen up                  200 | 404
    POST /v1/citizens/verify          check ID and name match the registry 200 | 404 | 409
    POST /v1/personal-ids             assign a newborn's personal ID      201 (200 on a repeat)
    POST /v1/residences               register permanent residence        201 (200 on a repeat) | 404 | 422
    POST /v1/residences/removals      remove a deceased's residence       201 (200 on a repeat) | 404 | 409
    POST /v1/vneid/check              check a VNeID account's level         200 | 404 | 409

Writes need an ``Idempotency-Key`` header; a repeated key returns the first answer and performs
nothing. Errors are RFC 9457 problem documents naming the field and the rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from connectors.http_server import HttpServer, problem
from contracts import units
from contracts.actions import (
    AssignPersonalId,
    CheckVneidLevel,
    RegisterResidence,
    RemoveResidence,
    VerifyCitizen,
)
from contracts.envelope import describe_error
from contracts.identifiers import IdentifierError, check_personal_id, make_personal_id
from contracts.text import same_name
from infra.sandbox.citizens import Citizen, generate
from infra.sandbox.effects import EffectLog


def _idempotent(model: type[BaseModel]):
    """A write endpoint: needs an Idempotency-Key, answers a repeated key with the first answer."""

    def wrap(handler):
        async def route(self: PopulationRegistry, request: web.Request) -> web.Response:
            key = request.headers.get("Idempotency-Key")
            if not key:
                return problem(400, "Idempotency-Key required", "header Idempotency-Key: required on writes")
            if (answer := self.effects.repeat(key)) is not None:
                return web.json_response(answer, status=200)
            body = await _parse(request, model)
            if isinstance(body, web.Response):
                return body
            return await handler(self, body, key)

        return route

    return wrap


class Gate:
    """Holds requests until ``expected`` distinct ones are in flight at once, or ``timeout_s``.

    Tests use it to prove the hub sends independent steps in parallel: ``met`` is True only if
    all expected requests (distinct idempotency keys, so a re-sent step does not count twice)
    were waiting together.
    """

    def __init__(self, expected: int, timeout_s: float = 10) -> None:
        self.expected = expected
        self.timeout_s = timeout_s
        self.keys: set[str] = set()
        self.met = False
        self._all_in = asyncio.Event()

    @property
    def arrived(self) -> int:
        return len(self.keys)

    async def pass_through(self, key: str) -> None:
        self.keys.add(key)
        if self.arrived >= self.expected:
            self.met = True
            self._all_in.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_in.wait(), self.timeout_s)


class PopulationRegistry:
    def __init__(self, seed: int = 2026, count: int = 300, effects_path: Path | None = None) -> None:
        self.citizens: dict[str, Citizen] = {c.personal_id: c for c in generate(seed, count)}
        self.effects = EffectLog("population", effects_path)
        self.residences: dict[str, dict[str, Any]] = {}
        self.deceased: set[str] = set()
        self._rng = random.Random(seed + 1)
        self.unavailable_for = 0  # answer this many requests with 503 (to exercise retries)
        self.verify_gate: Gate | None = None  # hold verifications together (to prove parallelism)
        self.requests: Counter[str] = Counter()  # requests received, by "METHOD /path"
        app = web.Application(middlewares=[self._count, self._outage])
        app.add_routes(
            [
                web.get("/healthz", self._health),
                web.get("/v1/citizens/{personal_id}", self._get_citizen),
                web.post("/v1/citizens/verify", self._verify),
                web.post("/v1/personal-ids", self._assign_id),
                web.post("/v1/residences", self._register_residence),
                web.post("/v1/residences/removals", self._remove_residence),
                web.post("/v1/vneid/check", self._check_vneid),
            ]
        )
        self.server = HttpServer(app)

    @web.middleware
    async def _count(self, request: web.Request, handler):
        self.requests[f"{request.method} {request.path}"] += 1
        return await handler(request)

    @web.middleware
    async def _outage(self, request: web.Request, handler):
        if self.unavailable_for > 0 and request.path != "/healthz":
            self.unavailable_for -= 1
            return problem(503, "Service Unavailable", "population registry is under maintenance")
        return await handler(request)

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "citizens": len(self.citizens)})

    async def _get_citizen(self, request: web.Request) -> web.Response:
        pid = request.match_info["personal_id"]
        try:
            check_personal_id(pid)
        except IdentifierError as exc:
            return problem(422, "Invalid personal ID number", f"personal_id: {exc}")
        citizen = self.citizens.get(pid)
        if citizen is None:
            return problem(404, "Citizen not found", f"personal ID {pid} is not in the population registry")
        return web.json_response(_record(citizen))

    async def _verify(self, request: web.Request) -> web.Response:
        body = await _parse(request, VerifyCitizen)
        if isinstance(body, web.Response):
            return body
        if self.verify_gate is not None:
            await self.verify_gate.pass_through(request.headers.get("Idempotency-Key", ""))
        citizen = self.citizens.get(body.personal_id)
        if citizen is None:
            return problem(
                404, "Citizen not found", f"personal ID {body.personal_id} is not in the population registry"
            )
        if not same_name(citizen.full_name, body.full_name):
            return problem(
                409,
                "Name does not match",
                f"the name filed for personal ID {body.personal_id} does not match the registry",
            )
        return web.json_response(_record(citizen))

    @_idempotent(AssignPersonalId)
    async def _assign_id(self, body: AssignPersonalId, key: str) -> web.Response:
        while True:
            pid = make_personal_id(body.province_code, body.date_of_birth, body.sex, self._rng.randrange(1_000_000))
            if pid not in self.citizens:
                break
        self.citizens[pid] = Citizen(pid, body.full_name, body.date_of_birth, body.sex, commune_code="")
        data = {
            "personal_id": pid,
            "full_name": body.full_name,
            "date_of_birth": body.date_of_birth.isoformat(),
            "sex": body.sex.value,
        }
        self.effects.record(key, "personal_id_assigned", data, birth_certificate_no=body.birth_certificate_no)
        return web.json_response(data, status=201)

    @_idempotent(RegisterResidence)
    async def _register_residence(self, body: RegisterResidence, key: str) -> web.Response:
        for field in ("personal_id", "household_member_id"):
            if getattr(body, field) not in self.citizens:
                return problem(404, "Citizen not found", f"{field}: {getattr(body, field)} is not in the registry")
        try:
            commune = units.canonical_commune(body.commune_code)
        except units.UnknownUnitError as exc:
            return problem(422, "Unknown commune", f"commune_code: {exc}")
        if commune.former_code is not None:
            return problem(
                422,
                "Abolished commune",
                f"commune_code: {body.commune_code} was abolished; register under {commune.code}",
            )
        citizen = self.citizens[body.personal_id]
        self.citizens[body.personal_id] = Citizen(
            citizen.personal_id, citizen.full_name, citizen.date_of_birth, citizen.sex, commune.code
        )
        data = {
            "residence_id": f"TT-{commune.code}-{len(self.residences) + 1:06d}",
            "personal_id": body.personal_id,
            "commune_code": commune.code,
            "registered_at": datetime.now(UTC).isoformat(),
        }
        self.residences[body.personal_id] = data | {"household_member_id": body.household_member_id}
        self.effects.record(key, "residence_registered", data)
        return web.json_response(data, status=201)

    def vneid_level(self, personal_id: str) -> int:
        """86% of the synthetic citizens hold a level-2 account (deterministic by ID)."""
        return 2 if int(personal_id[-2:]) < 86 else 1

    async def _check_vneid(self, request: web.Request) -> web.Response:
        body = await _parse(request, CheckVneidLevel)
        if isinstance(body, web.Response):
            return body
        if body.personal_id not in self.citizens:
            return problem(
                404, "Citizen not found", f"personal ID {body.personal_id} is not in the population registry"
            )
        level = self.vneid_level(body.personal_id)
        if level < body.minimum_level:
            return problem(
                409,
                "VNeID level too low",
                f"the applicant's VNeID account is level {level}; this procedure requires level "
                f"{body.minimum_level} (Decree 69/2024): upgrade the account, then file again",
            )
        return web.json_response({"personal_id": body.personal_id, "vneid_level": level})

    @_idempotent(RemoveResidence)
    async def _remove_residence(self, body: RemoveResidence, key: str) -> web.Response:
        citizen = self.citizens.get(body.personal_id)
        if citizen is None:
            return problem(404, "Citizen not found", f"personal_id: {body.personal_id} is not in the registry")
        if body.personal_id in self.deceased:
            return problem(409, "Already removed", f"personal_id: {body.personal_id} has no residence to remove")
        if citizen.commune_code and citizen.commune_code != body.commune_code:
            return problem(
                409,
                "Not resident there",
                f"commune_code: the permanent residence of {body.personal_id} is registered in another commune",
            )
        self.deceased.add(body.personal_id)
        data = {
            "removal_id": f"XTT-{len(self.deceased):06d}",
            "personal_id": body.personal_id,
            "removed_at": datetime.now(UTC).isoformat(),
        }
        self.effects.record(
            key,
            "residence_removed",
            data,
            death_certificate_no=body.death_certificate_no,
            commune_code=citizen.commune_code,
        )
        return web.json_response(data, status=201)

    def add_citizen(self, citizen: Citizen) -> None:
        self.citizens[citizen.personal_id] = citizen

    async def start(self, port: int = 0) -> None:
        await self.server.start(port)

    async def stop(self) -> None:
        await self.server.stop()


def _record(c: Citizen) -> dict[str, Any]:
    return {
        "personal_id": c.personal_id,
        "full_name": c.full_name,
        "date_of_birth": c.date_of_birth.isoformat(),
        "sex": c.sex.value,
        "commune_code": c.commune_code,
    }


async def _parse(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        return problem(422, "Invalid request", describe_error(exc))
