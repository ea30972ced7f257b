"""Secrets as values that are not strings, so no code path can send, log or render one by mistake.

A `Secret` shows as `••••` wherever it is formatted (`str`, `repr`, f-strings, templates,
tracebacks with locals); the plaintext comes out only through `reveal()`, which the one place
that needs it (the HTTP header of a connector's client) calls. A stored secret that the
current FIELD_ENCRYPTION_KEY cannot open is an `UndecryptableSecret`: it has no plaintext
at all, and `reveal()` raises TokenUndecryptable, so it can never be sent.
"""

from __future__ import annotations

from integrations.connectors.errors import TokenUndecryptable

MASK = "••••"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not isinstance(value, str):
            raise TypeError("a Secret holds text")
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def hint(self) -> str:
        """What may be shown back: the last four characters, e.g. `••••3f9a`."""
        return f"{MASK}{self._value[-4:]}" if len(self._value) > 4 else MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"<Secret {MASK}>"

    def __reduce__(self):  # never pickled into a queued task or a cache
        raise TypeError("a Secret is not serialised")


class UndecryptableSecret(Secret):
    """Stored ciphertext that the current FIELD_ENCRYPTION_KEY cannot open."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str):
        super().__init__("")
        self.ciphertext = ciphertext

    def reveal(self) -> str:
        raise TokenUndecryptable()

    @property
    def hint(self) -> str:
        return MASK

    def __bool__(self) -> bool:  # a secret is stored, even if it cannot be read
        return True

    def __eq__(self, other) -> bool:
        return isinstance(other, UndecryptableSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)
