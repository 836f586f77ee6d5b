"""Reading CTAP2 request maps with the spec's error codes.

A missing required member is MISSING_PARAMETER, a member of the wrong CBOR type is
CBOR_UNEXPECTED_TYPE, undecodable bytes are INVALID_CBOR (CTAP 2.1 §8: "the authenticator
MUST return an error if a parameter ... has the wrong type"). Members a command does not know
are never looked at, as the spec asks. Every command's `parse` goes through `Members`, so all
commands give the same answers for the same kind of bad input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fido2 import cbor
from fido2.cbor import CborType

from tokenbench.emulators.ctap.constants import PUBLIC_KEY_TYPE, CtapStatus
from tokenbench.emulators.ctap.errors import CtapError

CborMap = Mapping[CborType, CborType]
"""A decoded CBOR map, as the wire gives it (keys are ints for commands, text for entities)."""
Response = dict[int, CborType]
"""A command's response map before encoding."""
T = TypeVar("T", bytes, str, int, bool, "list[CborType]", "dict[CborType, CborType]")
"""The CBOR kinds a member can be asked for."""


def decode_params(body: bytes) -> CborMap:
    """The request map; an empty body is an empty map (then required members are missing)."""
    if not body:
        return {}
    try:
        value = cbor.decode(body)
    except Exception:  # ValueError, IndexError, struct.error, RecursionError (deep nesting)...
        raise CtapError(CtapStatus.INVALID_CBOR, "request is not valid CBOR") from None
    if not isinstance(value, Mapping):
        raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "request is not a CBOR map")
    return value


def _is(value: object, kind: type) -> bool:
    """isinstance for CBOR kinds: a boolean is never an integer (CBOR major types differ)."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


@dataclass(frozen=True)
class Members:
    """One CBOR map, read member by member; `what` names it in error messages.

    `lenient` reads it as a sloppy key would (the lenient-requests fault): a mistyped optional
    member counts as absent, a mistyped required one as missing, and lists keep only the
    entries that parse. It is passed on to every map read from this one.
    """

    raw: CborMap
    what: str = "request"
    lenient: bool = False

    @classmethod
    def of(cls, value: object, what: str, lenient: bool = False) -> Members:
        if not isinstance(value, Mapping):
            raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, f"{what} is not a map")
        return cls(value, what, lenient)

    def nested(self, value: object, what: str) -> Members:
        """A map found inside this one (a list entry), read the same way."""
        return Members.of(value, what, self.lenient)

    def entries(self, values: Sequence[CborType], what: str) -> list[Members]:
        """The maps of a list member; a lenient reader skips entries that are not maps."""
        if self.lenient:
            values = [v for v in values if isinstance(v, Mapping)]
        return [self.nested(v, what) for v in values]

    def __contains__(self, key: CborType) -> bool:
        return key in self.raw

    def optional(self, key: CborType, kind: type[T]) -> T | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        if not _is(value, kind):
            if self.lenient:
                return None
            raise CtapError(
                CtapStatus.CBOR_UNEXPECTED_TYPE, f"{self.what} member {key!r} has the wrong type"
            )
        return value  # type: ignore[return-value]  # _is() checked it is a `kind`

    def required(self, key: CborType, kind: type[T]) -> T:
        value = self.optional(key, kind)
        if value is None:
            raise CtapError(CtapStatus.MISSING_PARAMETER, f"{self.what} member {key!r} missing")
        return value

    def unsigned(self, key: CborType) -> int | None:
        """An unsigned integer member (CBOR major type 0): a negative one is the wrong type."""
        value = self.optional(key, int)
        if value is not None and value < 0:
            raise CtapError(
                CtapStatus.CBOR_UNEXPECTED_TYPE, f"{self.what} member {key!r} is negative"
            )
        return value

    def optional_map(self, key: CborType, what: str) -> Members | None:
        value = self.optional(key, dict)
        return None if value is None else Members(value, what, self.lenient)

    def required_map(self, key: CborType, what: str) -> Members:
        return Members(self.required(key, dict), what, self.lenient)

    def optional_list(self, key: CborType) -> Sequence[CborType] | None:
        return self.optional(key, list)

    def options(self, key: CborType) -> dict[str, bool]:
        """The options map; every key text and every value a boolean."""
        checked: dict[str, bool] = {}
        for name, value in (self.optional(key, dict) or {}).items():
            if not isinstance(name, str) or not isinstance(value, bool):
                if self.lenient:
                    continue
                raise CtapError(CtapStatus.CBOR_UNEXPECTED_TYPE, "options must map text to bool")
            checked[name] = value
        return checked

    def credential_ids(self, key: CborType) -> tuple[bytes, ...] | None:
        """The IDs of a PublicKeyCredentialDescriptor list (excludeList / allowList).

        Every descriptor is type-checked; those of types other than "public-key" are then
        ignored, as the spec says (§6.1.2 step 2 of WebAuthn's descriptor processing).
        """
        descriptors = self.optional_list(key)
        if descriptors is None:
            return None
        ids = []
        for descriptor in self.entries(descriptors, "credential descriptor"):
            if self.lenient:  # reads the ids alone, whatever else the entry holds
                cred_id = descriptor.optional("id", bytes)
                ids.extend([] if cred_id is None else [cred_id])
                continue
            kind = descriptor.required("type", str)
            cred_id = descriptor.required("id", bytes)
            descriptor.optional("transports", list)
            if kind == PUBLIC_KEY_TYPE:
                ids.append(cred_id)
        return tuple(ids)


KNOWN_OPTIONS = frozenset({"rk", "up", "uv"})
"""The makeCredential/getAssertion options CTAP 2.1 defines."""


def refuse_unknown(
    members: Members,
    known_members: Iterable[int],
    options: Mapping[str, bool],
    extensions: Members | None,
    known_extensions: Iterable[str],
) -> None:
    """What a key with the refuses-unknown fault does instead of ignoring what it does not
    know: an unknown request member is INVALID_PARAMETER, an unknown option or extension
    UNSUPPORTED_OPTION. (The spec: "Treat any option keys that are not understood as absent",
    "Process any extensions that this authenticator supports, ignoring any that it does not".)
    """
    known_keys = set(known_members)
    if any(key not in known_keys for key in members.raw):
        raise CtapError(CtapStatus.INVALID_PARAMETER, "unknown request member")
    if any(name not in KNOWN_OPTIONS for name in options):
        raise CtapError(CtapStatus.UNSUPPORTED_OPTION, "unknown option")
    known = set(known_extensions)
    if extensions is not None and any(name not in known for name in extensions.raw):
        raise CtapError(CtapStatus.UNSUPPORTED_OPTION, "unknown extension")


@dataclass(frozen=True)
class PinUvAuth:
    """pinUvAuthParam with its pinUvAuthProtocol, as every PIN-gated command carries them."""

    param: bytes | None
    protocol: int | None

    @classmethod
    def parse(cls, members: Members, param_key: int, protocol_key: int) -> PinUvAuth:
        return cls(members.optional(param_key, bytes), members.optional(protocol_key, int))
