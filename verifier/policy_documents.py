"""The two policy shapes the service gives meaning to, parsed from IAM's JSON documents.

We do not build a policy engine. A role's trust policy is accepted only in the shape AssumeRole
needs (Allow sts:AssumeRole to AWS principals of this kind of account, optionally on MFA being
present and young enough); anything else is MalformedPolicyDocument with a one-line reason, so a
rehearsal never believes a condition is enforced when it is not. A user policy is stored as
given; only the "force MFA" Deny statement (AWS's documented self-manage-MFA example) is read
from it.

IAM returns documents URL-encoded (RFC 3986) inside its XML; botocore decodes them again.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from tokenbench.verifier.errors import MALFORMED_POLICY_DOCUMENT, VALIDATION_ERROR, IamError

MAX_DOCUMENT = 131_072  # policyDocumentType
DOCUMENT_CHARS_RE = re.compile(r"[\t\n\r\x20-\xff]+")
VERSIONS = ("2012-10-17", "2008-10-17")
ASSUME_ROLE = "sts:assumerole"
MFA_PRESENT = "aws:multifactorauthpresent"
MFA_AGE = "aws:multifactorauthage"
_PRINCIPAL_RE = re.compile(
    r"(?P<account>[0-9]{12})|arn:aws:iam::(?P<arn_account>[0-9]{12}):"
    r"(?P<kind>root|user/[\x21-\x7e]+|role/[\x21-\x7e]+)"
)
SYNTAX_ERRORS = "Syntax errors in policy."


def malformed(reason: str) -> IamError:
    return IamError(MALFORMED_POLICY_DOCUMENT, reason)


def url_encoded(document: str) -> str:
    """A document as IAM's responses carry it."""
    return urllib.parse.quote(document, safe="")


def load(document: object, parameter: str = "PolicyDocument") -> dict[str, Any]:
    """The JSON object of a policy document, or MalformedPolicyDocument / ValidationError."""
    if not isinstance(document, str) or not 1 <= len(document) <= MAX_DOCUMENT:
        raise IamError(
            VALIDATION_ERROR,
            f"1 validation error detected: Value at '{parameter[:1].lower()}{parameter[1:]}' "
            f"failed to satisfy constraint: Member must have length between 1 and {MAX_DOCUMENT}",
        )
    if not DOCUMENT_CHARS_RE.fullmatch(document):
        raise malformed(SYNTAX_ERRORS)
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        raise malformed(SYNTAX_ERRORS) from None
    if not isinstance(parsed, dict):
        raise malformed(SYNTAX_ERRORS)
    if set(parsed) - {"Version", "Id", "Statement"}:
        raise malformed(f"Policy document contains unknown element(s): {sorted(set(parsed))}")
    if "Version" in parsed and parsed["Version"] not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    return parsed


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement")
    listed: list[Any] = found if isinstance(found, list) else [found]
    if not listed or not all(isinstance(s, dict) for s in listed):
        raise malformed("Policy statement must be an object or a non-empty list of objects")
    return listed


def strings(value: object) -> list[str] | None:
    """A policy value that may be one string or a list of strings; None for anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def action_matches(pattern: str, action: str) -> bool:
    """IAM's action matching: case-insensitive, `*` and `?` wildcards."""
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()
    )
    return re.fullmatch(regex, action.lower()) is not None


# --- trust policies -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrustStatement:
    """Who may assume the role (ARNs or account IDs, lower-cased) and the MFA it needs."""

    principals: frozenset[str]
    mfa_required: bool = False
    max_mfa_age: int | None = None

    def names(self, caller_arn: str, account_id: str) -> bool:
        """Whether this statement's Principal covers the caller: its own ARN (a user, or a
        role for a chained session), or its account (`ACCT` or `arn:aws:iam::ACCT:root`)."""
        return bool(
            {caller_arn.lower(), account_id, f"arn:aws:iam::{account_id}:root"} & self.principals
        )

    def mfa_ok(self, mfa_authenticated_at: float | None, now: float) -> bool:
        if not (self.mfa_required or self.max_mfa_age is not None):
            return True
        if mfa_authenticated_at is None:
            return False
        return self.max_mfa_age is None or now - mfa_authenticated_at < self.max_mfa_age


def parse_trust_policy(document: str) -> tuple[TrustStatement, ...]:
    """AssumeRolePolicyDocument, accepted only in the modelled shape (see the module doc)."""
    parsed = load(document, "AssumeRolePolicyDocument")
    return tuple(_trust_statement(s) for s in statements(parsed))


def _trust_statement(statement: dict[str, Any]) -> TrustStatement:
    unknown = set(statement) - {"Sid", "Effect", "Principal", "Action", "Condition"}
    if unknown:
        raise malformed(f"Unsupported element(s) in a trust policy statement: {sorted(unknown)}")
    if statement.get("Effect") != "Allow":
        raise malformed("Only Effect Allow is modelled in a trust policy")
    actions = strings(statement.get("Action"))
    if actions is None or any(a.lower() != ASSUME_ROLE for a in actions):
        raise malformed("A trust policy statement must allow exactly sts:AssumeRole")
    principal = statement.get("Principal")
    aws = strings(principal.get("AWS")) if isinstance(principal, dict) else None
    if aws is None or set(principal or {}) != {"AWS"}:
        raise malformed('Principal must be {"AWS": ARN or account ID, or a list of them}')
    for entry in aws:
        if not _PRINCIPAL_RE.fullmatch(entry):
            raise malformed(f'Invalid principal in policy: "AWS":"{entry}"')
    required, max_age = _mfa_condition(statement.get("Condition", {}))
    return TrustStatement(frozenset(a.lower() for a in aws), required, max_age)


def _mfa_condition(condition: object) -> tuple[bool, int | None]:
    if not isinstance(condition, dict) or set(condition) - {"Bool", "NumericLessThan"}:
        raise malformed("Only Bool and NumericLessThan conditions on MFA are modelled")
    required = False
    max_age = None
    if "Bool" in condition:
        if _single(condition["Bool"], MFA_PRESENT) != "true":
            raise malformed('Bool supports only {"aws:MultiFactorAuthPresent": "true"}')
        required = True
    if "NumericLessThan" in condition:
        value = _single(condition["NumericLessThan"], MFA_AGE)
        if value is None or not value.isdigit():
            raise malformed('NumericLessThan supports only {"aws:MultiFactorAuthAge": "N"}')
        max_age = int(value)
    return required, max_age


def _single(block: object, key: str) -> str | None:
    """The one value of a one-key condition block (`"true"`, `true` or `["true"]`), lower-cased."""
    if not isinstance(block, dict) or len(block) != 1:
        return None
    name, value = next(iter(block.items()))
    if not isinstance(name, str) or name.lower() != key:
        return None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value.lower() if isinstance(value, str) else None


# --- the force-MFA user policy ------------------------------------------------------------


def force_mfa_exemptions(document: str) -> list[tuple[str, ...]]:
    """The NotAction patterns of each force-MFA Deny statement in a document (Deny, NotAction,
    Condition `BoolIfExists` `aws:MultiFactorAuthPresent: "false"`); empty when it has none.
    Each statement denies on its own, so an action must be exempt in every one of them."""
    try:
        parsed = json.loads(document)
        listed = statements(parsed) if isinstance(parsed, dict) else []
    except (ValueError, IamError):
        return []
    found: list[tuple[str, ...]] = []
    for statement in listed:
        if statement.get("Effect") != "Deny" or "NotAction" not in statement:
            continue
        condition = statement.get("Condition")
        if not isinstance(condition, dict) or set(condition) != {"BoolIfExists"}:
            continue
        if _single(condition["BoolIfExists"], MFA_PRESENT) != "false":
            continue
        not_actions = strings(statement["NotAction"])
        if not_actions is not None:
            found.append(tuple(not_actions))
    return found
