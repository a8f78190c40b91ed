"""Pseudonymisation at the door: a child's identifier (UPN, ULN, a system's person id) becomes
a case id that nobody without the council's secret can link back to the child.

The case id is ``p`` and the first 26 characters (130 bits) of the base32 HMAC-SHA256 of the
identifier, stripped and upper-cased, keyed with the council's secret
(SENDWATCH_IMPORT_SECRET): the same child gets the same case id in every import, every year,
as long as the secret stays the same. It fits the contract's case ids (A-Za-z0-9._:-, at most
64 characters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "p"
LENGTH = 26  # base32 characters: 130 bits, no collision in any council's lifetime
MIN_SECRET = 16


class Pseudonyms:
    """Case ids from identifiers under one secret (the keyed hash made once, copied per id)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
        if len(secret.strip()) < MIN_SECRET:
            raise ValueError(f"the import secret must be at least {MIN_SECRET} characters")
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def case_id(self, identifier: str) -> str:
        """The case id of ``identifier``; raises ValueError if it is empty."""
        normal = identifier.strip().upper()
        if not normal:
            raise ValueError("the identifier is empty")
        keyed = self._keyed.copy()
        keyed.update(normal.encode())
        return PREFIX + base64.b32encode(keyed.digest()).decode()[:LENGTH].lower()
