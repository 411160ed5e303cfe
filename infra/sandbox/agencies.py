"""All sandbox agencies together, as the demo and the integration tests run them."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from connectors.kafka_client import KafkaClient
from contracts.agencies import AGENCIES, REGISTRY
from contracts.record_signing import generate_keyring
from contracts.topics import Topics
from infra.harness.broker import ClientFiles
from infra.sandbox.insurance import InsuranceService
from infra.sandbox.justice import JusticeAgency
from infra.sandbox.payment import PaymentGateway
from infra.sandbox.population import PopulationRegistry
from infra.sandbox.portal import PortalAgency
from infra.sandbox.tax import TaxAuthority

LEAVABLE = ("justice", "tax", "portal", "population", "insurance", "payment")
"""The agencies the sandbox can leave out for a team to run its own (:class:`SandboxAgencies`)."""
BRIDGE_URL_SETTINGS = {"population": "population_url", "insurance": "insurance_url", "payment": "payment_url"}
"""For a bridged agency left out: the hub setting that points its bridge at the team's endpoint."""


class SandboxAgencies:
    """justice, tax and portal on Kafka, population and payment over REST, insurance over SOAP."""

    def __init__(
        self,
        clients: ClientFiles,
        topics: Topics,
        *,
        seed: int = 2026,
        citizens: int = 300,
        effects_dir: Path | None = None,
        payment_secret: bytes | None = None,
        keyring: Path | None = None,
        without: str | None = None,
    ) -> None:
        """Every agency of the sandbox, except ``without`` (an agency under test, run by its team)."""

        def path(agency: str) -> Path | None:
            return effects_dir / f"{agency}.effects.jsonl" if effects_dir else None

        self.population = PopulationRegistry(seed, citizens, path("population"))
        # Two in three of the synthetic adults have social insurance (deterministic by ID).
        insured = {pid for pid in self.population.citizens if int(pid[-1]) % 3 != 0}
        self.insurance = InsuranceService(path("insurance"), insured=insured)

        def client(agency: str) -> KafkaClient:  # each agency connects as its own principal
            principal = AGENCIES[agency].principal
            assert principal is not None, f"{agency} has no principal of its own"
            return clients.client(principal)

        # Every party's signing key, fresh per run unless given: the hub learns the folder from hub_settings().
        self.keyring = keyring or Path(tempfile.mkdtemp(prefix="lienthong-keys-"))
        generate_keyring(self.keyring, [*REGISTRY.hub.keys, *(k for a in AGENCIES.values() for k in a.keys)])
        self.justice = JusticeAgency(client("justice"), topics, path("justice"), keyring=self.keyring)
        self.portal = PortalAgency(client("portal"), topics, path("portal"), keyring=self.keyring)
        self.tax = TaxAuthority(client("tax"), topics, path("tax"), seed, keyring=self.keyring)
        # A fresh secret per run unless given: the hub learns it from hub_settings().
        self.payment = PaymentGateway(payment_secret or secrets.token_hex(16).encode(), path("payment"))
        self.audit_key = secrets.token_hex(32)  # the key of the audit's pseudonyms, fresh per run
        if without is not None and without not in LEAVABLE:
            raise ValueError(f"the sandbox cannot leave {without!r} out (it can leave out {', '.join(LEAVABLE)})")
        self.without = without

    async def start(self, population_port: int = 0, insurance_port: int = 0, payment_port: int = 0) -> None:
        if self.without != "population":
            await self.population.start(population_port)
        if self.without != "insurance":
            await self.insurance.start(insurance_port)
        if self.without != "payment":
            await self.payment.start(payment_port)
        for agency in (self.justice, self.tax, self.portal):
            if agency.agency != self.without:
                await agency.start()

    async def stop(self) -> None:
        for agency in (self.portal, self.tax, self.justice):
            if agency.agency != self.without:
                await agency.stop()
        await self.payment.stop()  # stops its callback client even when its server never started
        if self.without != "insurance":
            await self.insurance.stop()
        if self.without != "population":
            await self.population.stop()

    @property
    def population_url(self) -> str:
        return self.population.server.base_url

    @property
    def insurance_address(self) -> str:
        return self.insurance.address

    def hub_settings(self) -> dict[str, str]:
        """The worker settings (HubSettings fields) that point a hub at these agencies (not at the
        one left out: the caller points the hub at that one's endpoint)."""
        settings = {
            "payment_secret": self.payment.secret.decode(),  # the gateway under test signs with it too
            "audit_key": self.audit_key,
            "keyring": str(self.keyring),
        }
        if self.without != "payment":
            settings["payment_url"] = self.payment.base_url
        if self.without != "population":
            settings["population_url"] = self.population_url
        if self.without != "insurance":
            settings["insurance_url"] = self.insurance_address
        return settings
