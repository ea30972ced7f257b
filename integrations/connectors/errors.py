"""The one error type connectors raise; its message is plain words for the Status column."""


class IntegrationError(Exception):
    """An application's API refused or failed. `str(error)` is safe to show to the tenant admin."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TokenRejected(IntegrationError):
    pass


class TokenMalformed(TokenRejected):
    """The token cannot be what the application issues (e.g. characters no HTTP header may
    carry); refused before any request. Never carries the token."""


class PermissionMissing(IntegrationError):
    pass


class AbilityMissing(IntegrationError):
    """The account's plan lacks a feature (HTTP 402): that part is skipped, the sync goes on."""


class RateLimited(IntegrationError):
    pass


class Unreachable(IntegrationError):
    pass


class UnexpectedResponse(IntegrationError):
    pass


class TokenUndecryptable(IntegrationError):
    def __init__(self):
        super().__init__("stored token cannot be decrypted: FIELD_ENCRYPTION_KEY changed?")
