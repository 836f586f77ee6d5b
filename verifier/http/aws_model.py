"""AWS's own service models for IAM and STS, loaded through botocore, and the errors they name.

Every parameter limit the endpoint enforces (types, lengths, patterns, enums) is read from the
models botocore ships, so our limits follow AWS's instead of a copy that drifts. This module is
the only place that touches botocore's loader; the wire code sees a `ServiceModel`.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import botocore.loaders
import botocore.model

# botocore ships no type information: its Shape/OperationModel objects are `Any` to mypy.
Shape = Any

IAM = "iam"
STS = "sts"
# The Query protocol versions this endpoint speaks. A botocore that ships another version of
# either model would change the wire under us: loading refuses it instead of serving it.
API_VERSIONS: Mapping[str, str] = {IAM: "2010-05-08", STS: "2011-06-15"}

# Errors AWS answers for any Query action, which the service models do not list: code ->
# (HTTP status, sender fault). Source: AWS "Common Errors" (IAM and STS API references;
# the same table appears in every Query service's reference), except where noted.
COMMON_ERRORS: Mapping[str, tuple[int, bool]] = {
    # What IAM and STS answer a caller that policies refuse; "Common Errors" now lists only
    # the JSON protocols' AccessDeniedException.
    "AccessDenied": (403, True),
    "IncompleteSignature": (400, True),
    "InternalFailure": (500, False),
    "InvalidAction": (400, True),
    "InvalidClientTokenId": (403, True),
    "InvalidParameterCombination": (400, True),
    "InvalidParameterValue": (400, True),
    "InvalidQueryParameter": (400, True),
    "MalformedQueryString": (404, True),
    "MissingAction": (400, True),
    "MissingAuthenticationToken": (403, True),
    "MissingParameter": (400, True),
    "NotAuthorized": (400, True),
    "OptInRequired": (403, True),
    "RequestExpired": (400, True),
    "ServiceUnavailable": (503, False),
    "Throttling": (400, True),
    "ValidationError": (400, True),
    # Not on "Common Errors": SigV4 answers documented in "Troubleshoot signing errors".
    "SignatureDoesNotMatch": (403, True),
    # An expired session token. The code is AWS's; the status is not documented for IAM or
    # STS, 400 follows S3's error table (doubtful: it may be 403).
    "ExpiredToken": (400, True),
}

# Unicode classes Java regexes use and Python's `re` lacks, by general-category prefix.
_JAVA_CLASS = re.compile(r"\\p\{([LZN])\}")


class QueryError(Exception):
    """A request answered with an AWS error: `code`, one-line `message`, HTTP `status`, and
    `sender` (True: the caller's fault, `<Type>Sender`; False: ours, `<Type>Receiver`; by
    default, any status below 500 is the caller's)."""

    def __init__(self, code: str, message: str, status: int, sender: bool | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = status < 500 if sender is None else sender


def common_error(code: str, message: str) -> QueryError:
    """An error from COMMON_ERRORS, for failures found before a service model is chosen."""
    status, sender = COMMON_ERRORS[code]
    return QueryError(code, message, status, sender)


@dataclass(frozen=True, eq=False)
class ServiceModel:
    """One service's botocore model with what the wire needs from it, computed once."""

    name: str
    botocore_model: Any  # botocore.model.ServiceModel (this class wraps it)
    api_version: str
    namespace: str
    errors: Mapping[str, tuple[int, bool]]  # the model's error codes -> (status, sender)

    @classmethod
    def load(cls, name: str) -> ServiceModel:
        """`load_model(name)`: the process-wide model of `iam` or `sts`."""
        return load_model(name)

    def operation(self, name: str) -> Any | None:
        """The botocore OperationModel for an Action, or None for one the service lacks."""
        if name not in self.botocore_model.operation_names:
            return None
        return self.botocore_model.operation_model(name)

    def error_kind(self, code: str) -> tuple[int, bool]:
        """(HTTP status, sender fault) for a code: the model's error shapes, then COMMON_ERRORS."""
        kind = self.errors.get(code) or COMMON_ERRORS.get(code)
        if kind is None:
            raise ValueError(f"no HTTP status known for {self.name} error code {code!r}")
        return kind

    def error(self, code: str, message: str) -> QueryError:
        status, sender = self.error_kind(code)
        return QueryError(code, message, status, sender)


def _model_errors(botocore_model: Any) -> dict[str, tuple[int, bool]]:
    errors: dict[str, tuple[int, bool]] = {}
    for shape in botocore_model.error_shapes:
        info = shape.metadata.get("error") or {}
        code = str(info.get("code", shape.name))
        status = int(info.get("httpStatusCode", 400))
        errors[code] = (status, bool(info.get("senderFault", status < 500)))
    return errors


@functools.cache
def load_model(name: str) -> ServiceModel:
    """The model of `iam` or `sts` from botocore's own data files, loaded once per process
    (about 0.35 s for both, patterns compiled)."""
    if name not in API_VERSIONS:
        raise ValueError(f"no Query service model for {name!r}")
    raw = botocore.loaders.Loader().load_service_model(name, "service-2")
    botocore_model = botocore.model.ServiceModel(raw, service_name=name)
    metadata = botocore_model.metadata
    if metadata.get("protocol") != "query" or metadata["apiVersion"] != API_VERSIONS[name]:
        raise RuntimeError(
            f"botocore's {name} model is {metadata.get('protocol')} {metadata['apiVersion']}, "
            f"not query {API_VERSIONS[name]}"
        )
    model = ServiceModel(
        name=name,
        botocore_model=botocore_model,
        api_version=str(metadata["apiVersion"]),
        namespace=str(metadata["xmlNamespace"]),
        errors=_model_errors(botocore_model),
    )
    for pattern in input_patterns(model):  # compiled now rather than on a first request
        java_pattern(pattern)
    return model


def iam_model() -> ServiceModel:
    return load_model(IAM)


def sts_model() -> ServiceModel:
    return load_model(STS)


@functools.cache
def _unicode_classes() -> Mapping[str, str]:
    """For each class in _JAVA_CLASS (L, Z, N), its code points as character-class ranges.
    One pass over Unicode (about 0.3 s), once per process."""
    ranges: dict[str, list[str]] = {"L": [], "Z": [], "N": []}
    current, start = "", 0
    for cp in range(sys.maxunicode + 2):
        prefix = unicodedata.category(chr(cp))[0] if cp <= sys.maxunicode else ""
        if prefix == current:
            continue
        if current in ranges:
            last = cp - 1
            span = f"\\U{start:08x}" if last == start else f"\\U{start:08x}-\\U{last:08x}"
            ranges[current].append(span)
        current, start = prefix, cp
    return {prefix: "".join(spans) for prefix, spans in ranges.items()}


@functools.cache
def java_pattern(pattern: str) -> re.Pattern[str]:
    """A model's `pattern` (a Java regex) as a Python regex with the same meaning; match it
    with `fullmatch`, as Java's `matches()` does.

    Two differences matter for IAM and STS: Java's `\\w` and `\\d` are ASCII-only (hence
    re.ASCII), and Python has no `\\p{L}`/`\\p{Z}`/`\\p{N}`, which the tag patterns use inside a
    character class (hence explicit ranges from Python's Unicode database, whose version may
    differ slightly from the JVM's).
    """

    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        match = _JAVA_CLASS.match(pattern, i)
        if match:
            ranges = _unicode_classes()[match.group(1)]
            out.append(ranges if in_class else f"[{ranges}]")
            i = match.end()
            continue
        char = pattern[i]
        step = 2 if char == "\\" else 1
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        out.append(pattern[i : i + step])
        i += step
    return re.compile("".join(out), re.ASCII)


def input_patterns(model: ServiceModel) -> dict[str, str]:
    """Every `pattern` in the input shapes of the model's operations -> one place using it."""
    found: dict[str, str] = {}

    def walk(shape: Shape, where: str, seen: frozenset[str]) -> None:
        if shape.name in seen:
            return
        if "pattern" in shape.metadata:
            found.setdefault(shape.metadata["pattern"], where)
        inner = seen | {shape.name}
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                walk(member, f"{where}.{name}", inner)
        elif shape.type_name == "list":
            walk(shape.member, f"{where}[]", inner)
        elif shape.type_name == "map":
            walk(shape.key, f"{where}{{key}}", inner)
            walk(shape.value, f"{where}{{value}}", inner)

    for name in model.botocore_model.operation_names:
        shape = model.botocore_model.operation_model(name).input_shape
        if shape is not None:
            walk(shape, name, frozenset())
    return found
