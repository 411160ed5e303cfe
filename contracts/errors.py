"""Every exception lienthong raises on purpose, in one tree under :class:`LienthongError`.

::

    LienthongError
    ├── ContractError (ValueError)    input breaks a rule; the message names the field and the rule
    │   ├── IdentifierError           a personal ID, tax code, card number or dossier code
    │   ├── UnknownUnitError          an administrative unit code
    │   ├── FilingRejected            an agency-native filing that cannot become a dossier
    │   ├── CatalogError              a procedure file (names the file, the step, the problem)
    │   └── SettingsError             a worker setting (names the environment variable)
    ├── Refused                       a message the hub cannot process: dead-lettered with the reason
    │   ├── Rejected                  ingest: it cannot enter the hub
    │   │   └── SignatureRefused      unsigned, forged, foreign-key (code signature) or old (stale)
    │   └── Unprocessable             orchestrate: no saga can apply it
    │       ├── NotEntitled           the sender may not say this (a reply to another's step…)
    │       ├── PaymentMismatch       a payment notification matching no payment awaited
    │       └── FilingConflict        a filing under a dossier code already filed with other content
    ├── AgencyError                   a connector's exchange with an agency
    │   ├── AgencyRejected            the agency refused on the facts: not retried
    │   └── AgencyUnavailable         the exchange failed technically: retried
    ├── ReplyLater                    not a failure: the agency will answer by callback
    └── SoapClientFault               a SOAP request refused on its facts (soap:Client fault)

Pydantic validators may raise any :class:`ContractError`: it is a ``ValueError``, so pydantic
reports it against the field being validated.
"""

from __future__ import annotations


class LienthongError(Exception):
    """Base of every exception lienthong raises on purpose."""


class ContractError(LienthongError, ValueError):
    """Input breaks a contract rule; the message names the field and the rule."""


class IdentifierError(ContractError):
    """An identifier breaks a rule; the message names the rule."""


class UnknownUnitError(ContractError):
    """A code that is not (or no longer) an administrative unit."""


class FilingRejected(ContractError):
    """A filing that cannot become a dossier event; the message names the field and the rule."""


class CatalogError(ContractError):
    """A procedure file is invalid; the message names the file, the step and the problem."""


class SettingsError(ContractError):
    """The configuration is invalid; the message names each variable and its rule."""


class Refused(LienthongError):
    """A message the hub cannot process; dead-lettered with this message as the reason and
    :attr:`code` as the reason code operators count and filter by."""

    code = "refused"


class Rejected(Refused):
    """The message cannot enter the hub (ingest)."""

    code = "rejected"


class InvalidFiling(Rejected):
    """A filing refused on its content, from a filer whose signature checked out, under a dossier
    code and procedure it can match: the filer is told (``vn.lienthong.filing.refused``) before
    the filing is dead-lettered."""

    def __init__(self, message: str, dossier_id: str, procedure: str, correlation_id: str | None = None) -> None:
        super().__init__(message)
        self.dossier_id, self.procedure, self.correlation_id = dossier_id, procedure, correlation_id


class SignatureRefused(Rejected):
    """The record's signature does not prove who sent it (``signature``), or is too old (``stale``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Unprocessable(Refused):
    """The event cannot be applied to any saga (orchestrate)."""

    code = "unprocessable"


class NotEntitled(Unprocessable):
    """The sender is not the party entitled to send this event for this dossier."""

    code = "not_entitled"


class PaymentMismatch(Unprocessable):
    """A payment notification that matches no payment the saga is waiting for, as notified."""

    code = "payment_mismatch"


class FilingConflict(Unprocessable):
    """A filing under a dossier code the hub already has, with other content: the filer is told
    (``vn.lienthong.filing.refused`` on its inbox) and the filing is dead-lettered."""

    code = "filing_conflict"

    def __init__(self, message: str, filer: str) -> None:
        super().__init__(message)
        self.filer = filer


class AgencyError(LienthongError):
    """A connector's exchange with an agency did not give a result."""


class AgencyRejected(AgencyError):
    """The agency answered and refused the request; the message is its reason."""


class AgencyUnavailable(AgencyError):
    """The agency could not be reached or failed; worth retrying."""


class ReplyLater(LienthongError):
    """The agency accepted the request and will answer through a callback (e.g. a payment)."""


class SoapClientFault(LienthongError):
    """The request is refused on its facts: answered as a soap:Client fault with this message."""
