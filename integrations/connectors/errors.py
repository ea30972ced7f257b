"""The one error type connectors raise; its message is plain words for the Status column."""


class IntegrationError(Exception):
    """An application's API refused or failed. `str(error)` is safe to show to the tenant admin.

    `kind` names the failure for the next step the admin shows after the message.
    """

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TokenRejected(IntegrationError):
    kind = "token_rejected"


class TokenMalformed(TokenRejected):
    """The token cannot be what the application issues (e.g. characters no HTTP header may
    carry); refused before any request. Never carries the token."""


class PermissionMissing(IntegrationError):
    kind = "permission_missing"


class AbilityMissing(IntegrationError):
    """The account's plan lacks a feature (HTTP 402): that part is skipped, the sync goes on."""

    kind = "ability_missing"


class RateLimited(IntegrationError):
    kind = "rate_limited"


class Unreachable(IntegrationError):
    kind = "unreachable"


class UnexpectedResponse(IntegrationError):
    kind = "unexpected_response"


class TokenUndecryptable(IntegrationError):
    kind = "token_undecryptable"

    def __init__(self):
        super().__init__("stored token cannot be decrypted: FIELD_ENCRYPTION_KEY changed?")
