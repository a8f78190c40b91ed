"""Who may call the HTTP API, and as whom (docs/security.md).

Each bearer token has a name (the "who" of the audit log) and one of three roles, each
allowing what the one below it allows and more:

- ``reader``: every GET (the dashboard, measures, cases, alerts, DfE's measures);
- ``writer``: also ``POST /api/events``;
- ``admin``: also what is administrative (the audit log over HTTP).

Tokens come from settings (``SENDWATCH_TOKENS``: ``name:role:token`` entries separated by
commas, or ``SENDWATCH_TOKENS_FILE``: one ``name role token`` a line); the old single
``SENDWATCH_API_TOKEN`` is an admin token named ``api-token``.

An authenticating reverse proxy (oauth2-proxy in front of sendwatch, for the council's single
sign-on) may vouch for its users instead: its user header (``SENDWATCH_TRUSTED_PROXY_HEADER``,
e.g. ``X-Forwarded-User``) is believed only when that setting is set and only from the
addresses in ``SENDWATCH_TRUSTED_PROXIES`` (default: loopback); its users get
``SENDWATCH_PROXY_ROLE`` (default reader). From any other address the header is ignored.

Nothing here knows HTTP: ``Access.identify`` returns the ``Principal`` or raises ``Denied``
with the status and message the API answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from pydantic import SecretStr

TOKEN_LENGTH = 16  # characters, at least, of a named token (SENDWATCH_TOKENS, _FILE)
COMPATIBLE_NAME = "api-token"  # the name of SENDWATCH_API_TOKEN, an admin token
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
LOOPBACK = "127.0.0.1,::1"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Role(IntEnum):
    """A token's role; each allows what the ones below it allow."""

    READER = 1
    WRITER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def named(cls, text: str) -> Role:
        """``reader``, ``writer`` or ``admin``; ValueError naming the three otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown role {text.strip()!r} (expected reader, writer or admin)"
            ) from None


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    role: Role
    secret: SecretStr


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a token's name or the proxy's user, with a role; ``credential`` says
    which (``token`` or ``proxy``)."""

    name: str
    role: Role
    credential: str


class Denied(Exception):
    """Refused: ``status`` 401 (no or an unknown token) or 403 (a role too low)."""

    def __init__(self, status: int, detail: str, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.challenge = challenge


def _token(name: str, role: str, secret: str, where: str) -> Token:
    if not NAME.fullmatch(name):
        raise ValueError(
            f"{where}: the name {name!r} must be letters, digits, '.', '_', '@' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    try:
        parsed = Role.named(role)
    except ValueError as error:
        raise ValueError(f"{where} ({name}): {error}") from None
    if len(secret) < TOKEN_LENGTH:  # the token itself is never shown
        raise ValueError(f"{where} ({name}): the token must be at least {TOKEN_LENGTH} characters")
    return Token(name, parsed, SecretStr(secret))


def parse_tokens(text: str) -> list[Token]:
    """``name:role:token`` entries separated by commas (``SENDWATCH_TOKENS``); ValueError
    naming the entry (by its position and name, never its token) if one cannot be used."""
    tokens = []
    for n, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"entry {n}: expected name:role:token")
        tokens.append(_token(parts[0].strip(), parts[1], parts[2].strip(), f"entry {n}"))
    return tokens


def read_tokens_file(path: Path) -> list[Token]:
    """One ``name role token`` a line (blank lines and ``#`` comments ignored); ValueError
    naming the file and line if one cannot be used, OSError if the file cannot be read."""
    tokens = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 3:
            raise ValueError(f"{path} line {n}: expected 'name role token'")
        tokens.append(_token(parts[0], parts[1], parts[2], f"{path} line {n}"))
    return tokens


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks (``127.0.0.1,::1``, ``10.0.0.0/8``)."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in text.split(",")
            if part.strip()
        )
    except ValueError as error:
        raise ValueError(f"expected addresses or networks separated by commas: {error}") from None


@dataclass(frozen=True)
class Access:
    """The tokens the API accepts, and the reverse proxy it believes (if any)."""

    tokens: tuple[Token, ...]
    proxy_header: str | None = None
    proxy_role: Role = Role.READER
    proxies: tuple[Network, ...] = ()

    def __post_init__(self) -> None:
        names = [t.name for t in self.tokens]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"the token name {twice[0]!r} is given more than once")
        secrets = [t.secret.get_secret_value() for t in self.tokens]
        if len(set(secrets)) != len(secrets):
            shared = [t.name for t in self.tokens if secrets.count(t.secret.get_secret_value()) > 1]
            raise ValueError(
                f"the tokens named {' and '.join(shared)} are the same: each needs its own, "
                "or the audit log could not tell who read a case"
            )

    def trusts(self, address: str | None) -> bool:
        """Whether ``address`` is one of the trusted proxies'."""
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.proxies)

    def identify(
        self, authorization: str | None, proxy_user: str | None, address: str | None
    ) -> Principal:
        """Who sent a request with these headers from ``address``; raises ``Denied`` (401)
        if no one. The proxy's user header wins, when it is believed: oauth2-proxy may pass
        its own ``Authorization`` header, which is not one of sendwatch's tokens."""
        if self.proxy_header and proxy_user and proxy_user.strip() and self.trusts(address):
            return Principal(proxy_user.strip(), self.proxy_role, "proxy")
        if not authorization:
            raise Denied(
                401,
                "missing bearer token: send the header 'Authorization: Bearer <token>', "
                "the token being one of the service's SENDWATCH_TOKENS (or its "
                "SENDWATCH_API_TOKEN)",
                "Bearer",
            )
        scheme, _, given = authorization.partition(" ")
        found = None
        if scheme.lower() == "bearer":
            given_bytes = given.strip().encode()
            for token in self.tokens:  # every token compared, in constant time
                if hmac.compare_digest(given_bytes, token.secret.get_secret_value().encode()):
                    found = token
        if found is None:
            raise Denied(
                401,
                "invalid bearer token: it is none of the service's SENDWATCH_TOKENS (nor its "
                "SENDWATCH_API_TOKEN)",
                'Bearer error="invalid_token"',
            )
        return Principal(found.name, found.role, "token")

    def require(self, principal: Principal, needed: Role, what: str) -> None:
        """Raises ``Denied`` (403) if ``principal``'s role is below ``needed``."""
        if principal.role < needed:
            higher = " or admin" if needed is Role.WRITER else ""
            raise Denied(
                403,
                f"{what} needs the {needed.label} role{higher}: "
                f"{principal.name!r} has the {principal.role.label} role",
            )


def for_service(access: Access) -> tuple[Access, str | None]:
    """``access`` for ``sendwatch run`` or ``worker``, and the token made for this run if
    no token is set at all (an admin token named ``api-token``, printed at start, as
    before roles); None if one is set."""
    if access.tokens:
        return access, None
    import secrets

    made = secrets.token_urlsafe(24)
    token = Token(COMPATIBLE_NAME, Role.ADMIN, SecretStr(made))
    return Access((token,), access.proxy_header, access.proxy_role, access.proxies), made


def described(access: Access) -> str:
    """The tokens' names and roles, and the proxy believed, for the start-up lines."""
    names = ", ".join(f"{t.name} ({t.role.label})" for t in access.tokens)
    if access.proxy_header:
        names += (
            f"; users named by {access.proxy_header} from "
            f"{', '.join(str(n) for n in access.proxies)} ({access.proxy_role.label})"
        )
    return names
