"""What IAM and STS answer when a request's signature is refused: code, message, HTTP status.

Codes and statuses are AWS's "Common Errors" (IAM API Reference); the messages are the ones the
live endpoints answer, as the AWS CLI prints them (see docs/verifier-vs-moto.md, "SigV4"). No
message ever carries the secret or the signature the server expected.
"""

from __future__ import annotations

MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationToken"
INCOMPLETE_SIGNATURE = "IncompleteSignature"
INVALID_CLIENT_TOKEN_ID = "InvalidClientTokenId"
SIGNATURE_DOES_NOT_MATCH = "SignatureDoesNotMatch"
REQUEST_EXPIRED = "RequestExpired"

STATUS = {
    MISSING_AUTHENTICATION_TOKEN: 403,
    INCOMPLETE_SIGNATURE: 400,
    INVALID_CLIENT_TOKEN_ID: 403,
    SIGNATURE_DOES_NOT_MATCH: 403,
    REQUEST_EXPIRED: 400,
}

MISSING_TOKEN_MESSAGE = "Request is missing Authentication Token"
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your"
    " AWS Secret Access Key and signing method. Consult the service documentation for details."
)
EXPIRED_MESSAGE = "Request has expired."


class SignatureError(Exception):
    """A refused signature: `code` is one of STATUS's keys, `status` its HTTP status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS[code]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def missing_token() -> SignatureError:
    return SignatureError(MISSING_AUTHENTICATION_TOKEN, MISSING_TOKEN_MESSAGE)


def incomplete(message: str) -> SignatureError:
    return SignatureError(INCOMPLETE_SIGNATURE, message)


def invalid_token() -> SignatureError:
    return SignatureError(INVALID_CLIENT_TOKEN_ID, INVALID_TOKEN_MESSAGE)


def mismatch(message: str = MISMATCH_MESSAGE) -> SignatureError:
    return SignatureError(SIGNATURE_DOES_NOT_MATCH, message)


def expired() -> SignatureError:
    return SignatureError(REQUEST_EXPIRED, EXPIRED_MESSAGE)
