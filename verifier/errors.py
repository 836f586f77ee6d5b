"""IAM-style errors: the error codes AWS IAM answers with, so rehearsals look like the real thing.

Every rule violation in the verifier raises `IamError` with one of the codes below; the CLI
prints it the way the AWS CLI does (`An error occurred (CODE) when calling the OP operation: ...`).
"""

from __future__ import annotations

ENTITY_ALREADY_EXISTS = "EntityAlreadyExists"
LIMIT_EXCEEDED = "LimitExceeded"
INVALID_AUTHENTICATION_CODE = "InvalidAuthenticationCode"
NO_SUCH_ENTITY = "NoSuchEntity"
DELETE_CONFLICT = "DeleteConflict"
VALIDATION_ERROR = "ValidationError"
INVALID_INPUT = "InvalidInput"
ACCESS_DENIED = "AccessDenied"
CONCURRENT_MODIFICATION = "ConcurrentModification"
SERVICE_FAILURE = "ServiceFailure"
MALFORMED_POLICY_DOCUMENT = "MalformedPolicyDocument"
EXPIRED_TOKEN = "ExpiredToken"  # STS: temporary credentials past their Expiration
PASSWORD_POLICY_VIOLATION = "PasswordPolicyViolation"

ERROR_CODES = frozenset(
    {
        ENTITY_ALREADY_EXISTS,
        LIMIT_EXCEEDED,
        INVALID_AUTHENTICATION_CODE,
        NO_SUCH_ENTITY,
        DELETE_CONFLICT,
        VALIDATION_ERROR,
        INVALID_INPUT,
        ACCESS_DENIED,
        CONCURRENT_MODIFICATION,
        SERVICE_FAILURE,
        PASSWORD_POLICY_VIOLATION,
        MALFORMED_POLICY_DOCUMENT,
        EXPIRED_TOKEN,
    }
)


class VerifierError(Exception):
    """Root of the verifier's own failures that are not IAM answers (seed files, trust anchors).

    The library never depends on the CLI: the `tokenbench` command turns these into its one-line
    messages, and other callers (the bench, a service) catch them as they see fit.
    """


class IamError(Exception):
    """A refused IAM operation: `code` is one of ERROR_CODES, `message` is one line."""

    def __init__(self, code: str, message: str, operation: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown IAM error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message.splitlines()[0] if message else code
        self.operation = operation

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def aws_cli_line(self, operation: str | None = None) -> str:
        """The one line the AWS CLI prints for a service error."""
        op = operation or self.operation or "Unknown"
        return f"An error occurred ({self.code}) when calling the {op} operation: {self.message}"


def entity_already_exists(message: str) -> IamError:
    return IamError(ENTITY_ALREADY_EXISTS, message)


def no_such_entity(message: str) -> IamError:
    return IamError(NO_SUCH_ENTITY, message)


def validation_error(message: str) -> IamError:
    return IamError(VALIDATION_ERROR, message)


def invalid_input(message: str) -> IamError:
    return IamError(INVALID_INPUT, message)


def access_denied(message: str) -> IamError:
    return IamError(ACCESS_DENIED, message)


def no_such_device(serial: str, user_name: str | None = None) -> IamError:
    owner = f" for user {user_name}" if user_name is not None else ""
    return IamError(NO_SUCH_ENTITY, f"MFA Device with serial number {serial}{owner} not found.")


def limit_exceeded(user_name: str, limit: int = 8) -> IamError:
    return IamError(
        LIMIT_EXCEEDED, f"Cannot exceed quota for MFA devices per user: {limit} ({user_name})"
    )
