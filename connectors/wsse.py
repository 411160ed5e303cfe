"""Who is calling the SOAP filing gateway: WS-Security UsernameToken with PasswordDigest.

Each legacy one-stop system is a *caller*: a username, a shared secret and the dossier-code prefix
(its agency e-ID, the part before ``-yyMMdd-NNNN``) it files under. Callers live in a TOML file
generated at setup with fresh random secrets (:func:`write_callers`, ``lienthong onestop-callers``)
and named by ``LIENTHONG_ONESTOP_CALLERS``; there is no default, and the gateway does not start
without it.

Every request carries an OASIS UsernameToken (Profile 1.1) in its ``wsse:Security`` header:
``Password`` = Base64(SHA-1(nonce + Created + secret)), with ``Nonce`` and ``wsu:Created`` (zeep:
``UsernameToken(username, secret, use_digest=True)``). :class:`Authenticator` checks the digest in
constant time, then refuses a Created outside its window and a nonce already accepted within it
(:class:`contracts.signing.ReplayGuard`). An unknown user and a wrong secret get the same answer,
"authentication failed".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lxml import etree

from contracts.errors import SettingsError, SoapClientFault
from contracts.signing import Check, ReplayGuard

CALLERS_SETTING = "LIENTHONG_ONESTOP_CALLERS"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
_SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PREFIX = re.compile(r"^[0-9A-Z.]{1,35}$")  # an agency e-ID, as contracts.identifiers reads dossier codes
_MIN_SECRET = 16
_TOKEN_REQUIRED = "Security: a WS-Security UsernameToken with a PasswordDigest, Nonce and wsu:Created is required"


@dataclass(frozen=True)
class Caller:
    """A one-stop system allowed to file, and the dossier-code prefix it files under."""

    username: str
    secret: str = field(repr=False)
    prefix: str


def load_callers(path: str | Path | None) -> dict[str, Caller]:
    """The callers file at ``path``, by username; :class:`SettingsError` naming the setting when it
    is not given, unreadable or invalid."""
    if not path:
        raise SettingsError(
            f"{CALLERS_SETTING}: not set; the gateway authenticates every caller against a callers file "
            "(create one with `lienthong onestop-callers <file> <username>=<dossier-code prefix> ...`)"
        )
    try:
        raw = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{CALLERS_SETTING}: cannot read {path}: {exc}") from None
    callers: dict[str, Caller] = {}
    owners: dict[str, str] = {}
    for username, entry in raw.items():
        where = f"{CALLERS_SETTING}: {path}: [{username}]"
        if not _USERNAME.match(username) or not isinstance(entry, dict):
            raise SettingsError(f"{where}: a caller is a table named by its username (letters, digits, . _ -)")
        secret, prefix = entry.get("secret"), entry.get("prefix")
        if not isinstance(secret, str) or len(secret) < _MIN_SECRET:
            raise SettingsError(f"{where}: secret must be at least {_MIN_SECRET} characters")
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise SettingsError(f"{where}: prefix must be an agency e-ID (digits, A-Z, dots, up to 35)")
        if prefix in owners:
            raise SettingsError(f"{where}: prefix {prefix} is already bound to {owners[prefix]}")
        owners[prefix] = username
        callers[username] = Caller(username, secret, prefix)
    if not callers:
        raise SettingsError(f"{CALLERS_SETTING}: {path} names no caller")
    return callers


def write_callers(path: str | Path, prefixes: Mapping[str, str]) -> dict[str, Caller]:
    """Write a callers file (mode 0600) giving each ``username: prefix`` a fresh random secret."""
    lines = ["# Callers of the one-stop SOAP filing gateway, generated at setup. Keep secret."]
    for username, prefix in prefixes.items():
        lines += ["", f"[{username}]", f'secret = "{secrets.token_urlsafe(24)}"', f'prefix = "{prefix}"']
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    try:
        return load_callers(path)
    except SettingsError:
        os.remove(path)  # never leave a file the gateway would refuse
        raise


def password_digest(nonce: bytes, created: str, secret: str) -> str:
    """Base64(SHA-1(nonce + created + secret)), as UsernameToken Profile 1.1 defines it."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + secret.encode()).digest()).decode()


class Authenticator:
    """Checks the UsernameToken of each request against the callers; remembers nonces for the
    window (bounded, :class:`ReplayGuard`)."""

    def __init__(
        self, callers: Mapping[str, Caller], window_s: float = 300, clock: Callable[[], float] = time.time
    ) -> None:
        self._callers = dict(callers)
        self._guard = ReplayGuard(window_s)
        self._clock = clock
        self._decoy = secrets.token_urlsafe(24)  # an unknown user costs the same digest as a known one

    def authenticate(self, envelope: etree._Element) -> Caller:
        """The caller whose token is in ``envelope``'s header; :class:`SoapClientFault` otherwise."""
        token = envelope.find(f"{{{_SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise SoapClientFault(_TOKEN_REQUIRED)
        username, password, nonce, created = (
            (token.findtext(f"{{{ns}}}{name}") or "").strip()
            for ns, name in ((WSSE, "Username"), (WSSE, "Password"), (WSSE, "Nonce"), (WSU, "Created"))
        )
        password_type = token.find(f"{{{WSSE}}}Password")
        if (
            password_type is None
            or password_type.get("Type") != PASSWORD_DIGEST
            or not (username and nonce and created)
        ):
            raise SoapClientFault(_TOKEN_REQUIRED)
        try:
            nonce_bytes = base64.b64decode(nonce, validate=True)
            created_time = datetime.fromisoformat(created)
        except (binascii.Error, ValueError):
            created_time = None
        if created_time is None or created_time.tzinfo is None:
            raise SoapClientFault(f"{_TOKEN_REQUIRED} (Nonce in Base64, Created in ISO 8601 with a zone)")
        caller = self._callers.get(username)
        expected = password_digest(nonce_bytes, created, caller.secret if caller else self._decoy)
        if not hmac.compare_digest(expected.encode(), password.encode()) or caller is None:
            raise SoapClientFault("authentication failed")
        failed = self._guard.check(f"{username} {nonce}", created_time.timestamp(), self._clock())
        if failed is Check.STALE:
            raise SoapClientFault(
                f"Security: Created {created} is more than {self._guard.window_s:g} s from the gateway's clock"
            )
        if failed is Check.REPLAYED:
            raise SoapClientFault("Security: this Nonce was already used; a replayed request is refused")
        if failed is Check.BUSY:
            raise SoapClientFault("Security: too many requests within the replay window; try again later")
        return caller
