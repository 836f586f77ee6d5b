"""authenticatorBioEnrollment (CTAP 2.1 §6.7): enrolling, naming and removing fingers.

Reached as 0x09, and as the 0x40 prototype command (FIDO_2_1_PRE platforms). getModality and
getFingerprintSensorInfo answer anyone; cancelCurrentEnrollment needs nothing either; every
other subCommand needs a pinUvAuthToken with the `be` permission, authenticated over
modality || subCommand || CBOR(subCommandParams). An enrollment in progress (enrollBegin, then
enrollCaptureNextSample until no sample remains) lives in the key's `pending` slot, so any
other command cancels it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from fido2 import cbor
from fido2.cbor import CborType

from tokenbench.emulators.ctap import builtin_uv
from tokenbench.emulators.ctap.constants import CtapCommand, CtapStatus
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.fingerprint import (
    FINGERPRINT_KIND_TOUCH,
    MAX_TEMPLATE_FRIENDLY_NAME,
    MAX_TEMPLATES,
    MODALITY_FINGERPRINT,
    SAMPLES_FOR_ENROLL,
    TEMPLATE_ID_LENGTH,
    Enrollment,
    Finger,
    SampleStatus,
)
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.request import CborMap, Members, PinUvAuth, Response
from tokenbench.emulators.ctap.transaction import Transaction
from tokenbench.emulators.ctap.user_verification import token_param

COMMANDS = frozenset({CtapCommand.BIO_ENROLLMENT, CtapCommand.BIO_ENROLLMENT_PRE})


class BioSub(IntEnum):
    ENROLL_BEGIN = 0x01
    ENROLL_CAPTURE_NEXT_SAMPLE = 0x02
    CANCEL_CURRENT_ENROLLMENT = 0x03
    ENUMERATE_ENROLLMENTS = 0x04
    SET_FRIENDLY_NAME = 0x05
    REMOVE_ENROLLMENT = 0x06
    GET_FINGERPRINT_SENSOR_INFO = 0x07


class BioParam(IntEnum):
    MODALITY = 0x01
    SUB_COMMAND = 0x02
    SUB_COMMAND_PARAMS = 0x03
    PIN_UV_AUTH_PROTOCOL = 0x04
    PIN_UV_AUTH_PARAM = 0x05
    GET_MODALITY = 0x06


class BioSubParam(IntEnum):
    TEMPLATE_ID = 0x01
    TEMPLATE_FRIENDLY_NAME = 0x02
    TIMEOUT_MILLISECONDS = 0x03


class BioResponse(IntEnum):
    MODALITY = 0x01
    FINGERPRINT_KIND = 0x02
    MAX_CAPTURE_SAMPLES_REQUIRED_FOR_ENROLL = 0x03
    TEMPLATE_ID = 0x04
    LAST_ENROLL_SAMPLE_STATUS = 0x05
    REMAINING_SAMPLES = 0x06
    TEMPLATE_INFOS = 0x07
    MAX_TEMPLATE_FRIENDLY_NAME = 0x08


class TemplateInfo(IntEnum):
    ID = 0x01
    FRIENDLY_NAME = 0x02


UNAUTHENTICATED = frozenset({BioSub.GET_FINGERPRINT_SENSOR_INFO, BioSub.CANCEL_CURRENT_ENROLLMENT})


@dataclass(frozen=True)
class SubParams:
    template_id: bytes | None = None
    friendly_name: str | None = None
    timeout_ms: int | None = None

    @classmethod
    def parse(cls, members: Members | None) -> SubParams:
        if members is None:
            return cls()
        return cls(
            members.optional(BioSubParam.TEMPLATE_ID, bytes),
            members.optional(BioSubParam.TEMPLATE_FRIENDLY_NAME, str),
            members.unsigned(BioSubParam.TIMEOUT_MILLISECONDS),
        )

    def template(self) -> bytes:
        if self.template_id is None:
            raise CtapError(CtapStatus.MISSING_PARAMETER, "templateId missing")
        return self.template_id


@dataclass(frozen=True)
class BioRequest:
    """An authenticatorBioEnrollment request map, type-checked before any rule runs."""

    modality: int | None
    sub_command: int | None
    sub_params: SubParams
    raw_sub_params: CborMap | None
    auth: PinUvAuth
    get_modality: bool

    @classmethod
    def parse(cls, params: CborMap) -> BioRequest:
        members = Members.of(params, "bioEnrollment request")
        sub_members = members.optional_map(BioParam.SUB_COMMAND_PARAMS, "subCommandParams")
        return cls(
            modality=members.unsigned(BioParam.MODALITY),
            sub_command=members.unsigned(BioParam.SUB_COMMAND),
            sub_params=SubParams.parse(sub_members),
            raw_sub_params=sub_members.raw if sub_members is not None else None,
            auth=PinUvAuth.parse(
                members, BioParam.PIN_UV_AUTH_PARAM, BioParam.PIN_UV_AUTH_PROTOCOL
            ),
            get_modality=bool(members.optional(BioParam.GET_MODALITY, bool)),
        )

    def message(self) -> bytes:
        """What the pinUvAuthParam authenticates: modality || subCommand || subCommandParams."""
        head = bytes([self.modality or 0, self.sub_command or 0])
        if self.raw_sub_params is None:
            return head
        return head + cbor.encode(dict(self.raw_sub_params))


@dataclass
class PendingEnrollment:
    """The enrollment in progress: only its own next capture (or cancel) continues it."""

    template_id: bytes
    remaining: int

    def continued_by(self, command: int, body: bytes) -> bool:
        if command not in COMMANDS:
            return False
        try:
            params = cbor.decode(body)
        except Exception:  # a body that is not CBOR is answered by the command itself
            return False
        return isinstance(params, dict) and params.get(BioParam.SUB_COMMAND) in (
            BioSub.ENROLL_CAPTURE_NEXT_SAMPLE,
            BioSub.CANCEL_CURRENT_ENROLLMENT,
        )


def handle(key: KeyContext, params: CborMap, transaction: Transaction | None) -> Response | None:
    request = BioRequest.parse(params)
    if request.get_modality:
        return {BioResponse.MODALITY: MODALITY_FINGERPRINT}
    if request.sub_command is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "subCommand missing")
    if request.modality is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "modality missing")
    if request.modality != MODALITY_FINGERPRINT:
        raise CtapError(CtapStatus.INVALID_PARAMETER, f"modality {request.modality}")
    try:
        sub = BioSub(request.sub_command)
    except ValueError:
        raise CtapError(
            CtapStatus.INVALID_SUBCOMMAND, f"subCommand {request.sub_command}"
        ) from None
    if sub not in UNAUTHENTICATED:
        _authorize(key, request)
    return _SUBCOMMANDS[sub](key, request, transaction)


def _authorize(key: KeyContext, request: BioRequest) -> None:
    """A token with `be` (not checked under the bio-enroll-ignores-permission fault)."""
    param, protocol = token_param(key, request.auth, "bio enrollment")
    permission = Permission.BE if key.faults.checks_be_permission else Permission(0)
    key.client_pin.verify_token(protocol, param, request.message(), permission, None)


def _sensor_info(key: KeyContext, request: BioRequest, tx: Transaction | None) -> Response:
    return {
        BioResponse.MODALITY: MODALITY_FINGERPRINT,
        BioResponse.FINGERPRINT_KIND: FINGERPRINT_KIND_TOUCH,
        BioResponse.MAX_CAPTURE_SAMPLES_REQUIRED_FOR_ENROLL: SAMPLES_FOR_ENROLL,
        BioResponse.MAX_TEMPLATE_FRIENDLY_NAME: MAX_TEMPLATE_FRIENDLY_NAME,
    }


def _enroll_begin(key: KeyContext, request: BioRequest, tx: Transaction | None) -> Response:
    state = builtin_uv.bio_state(key)
    if len(state.enrollments) >= MAX_TEMPLATES:
        raise CtapError(CtapStatus.FP_DATABASE_FULL, "no room for another finger")
    template_id = key.random(TEMPLATE_ID_LENGTH)
    while state.find(template_id) is not None or not any(template_id):
        template_id = key.random(TEMPLATE_ID_LENGTH)
    enrollment = PendingEnrollment(template_id, SAMPLES_FOR_ENROLL)
    response = _capture(key, enrollment, tx)
    response[BioResponse.TEMPLATE_ID] = template_id
    return response


def _enroll_next(key: KeyContext, request: BioRequest, tx: Transaction | None) -> Response:
    template_id = request.sub_params.template()
    enrollment = key.pending
    if not isinstance(enrollment, PendingEnrollment):
        raise CtapError(CtapStatus.NOT_ALLOWED, "no enrollment in progress")
    if enrollment.template_id != template_id:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "not the template being enrolled")
    return _capture(key, enrollment, tx)


def _capture(key: KeyContext, enrollment: PendingEnrollment, tx: Transaction | None) -> Response:
    """One sample: a good one brings the template closer; the last one stores it."""
    key.pending = None
    if tx is not None and tx.cancelled.is_set():
        raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled while waiting for a finger")
    reading = key.sensor.read()
    if reading.finger is Finger.NONE:
        raise CtapError(CtapStatus.USER_ACTION_TIMEOUT, "no finger on the sensor")
    if reading.sample is SampleStatus.FP_GOOD:
        enrollment.remaining -= 1
    if enrollment.remaining == 0:
        builtin_uv.bio_state(key).enrollments.append(Enrollment(enrollment.template_id))
        key.persist()
    else:
        key.pending = enrollment
    return {
        BioResponse.LAST_ENROLL_SAMPLE_STATUS: int(reading.sample),
        BioResponse.REMAINING_SAMPLES: enrollment.remaining,
    }


def _cancel(key: KeyContext, request: BioRequest, tx: Transaction | None) -> None:
    key.pending = None


def _enumerate(key: KeyContext, request: BioRequest, tx: Transaction | None) -> Response:
    enrollments = builtin_uv.bio_state(key).enrollments
    if not enrollments:
        raise CtapError(CtapStatus.INVALID_OPTION, "no finger enrolled")
    infos: list[CborType] = [
        {TemplateInfo.ID: e.template_id, TemplateInfo.FRIENDLY_NAME: e.friendly_name or ""}
        for e in enrollments
    ]
    return {BioResponse.TEMPLATE_INFOS: infos}


def _set_friendly_name(key: KeyContext, request: BioRequest, tx: Transaction | None) -> None:
    template_id = request.sub_params.template()
    name = request.sub_params.friendly_name
    if name is None:
        raise CtapError(CtapStatus.MISSING_PARAMETER, "templateFriendlyName missing")
    if len(name.encode()) > MAX_TEMPLATE_FRIENDLY_NAME:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "friendly name above the maximum")
    enrollment = builtin_uv.bio_state(key).find(template_id)
    if enrollment is None:
        raise CtapError(CtapStatus.INVALID_OPTION, "no such template")
    enrollment.friendly_name = name
    key.persist()


def _remove(key: KeyContext, request: BioRequest, tx: Transaction | None) -> None:
    template_id = request.sub_params.template()
    state = builtin_uv.bio_state(key)
    enrollment = state.find(template_id)
    if enrollment is None:
        raise CtapError(CtapStatus.INVALID_OPTION, "no such template")
    state.enrollments.remove(enrollment)
    key.persist()


SubCommand = Callable[[KeyContext, BioRequest, Transaction | None], Response | None]
_SUBCOMMANDS: dict[BioSub, SubCommand] = {
    BioSub.ENROLL_BEGIN: _enroll_begin,
    BioSub.ENROLL_CAPTURE_NEXT_SAMPLE: _enroll_next,
    BioSub.CANCEL_CURRENT_ENROLLMENT: _cancel,
    BioSub.ENUMERATE_ENROLLMENTS: _enumerate,
    BioSub.SET_FRIENDLY_NAME: _set_friendly_name,
    BioSub.REMOVE_ENROLLMENT: _remove,
    BioSub.GET_FINGERPRINT_SENSOR_INFO: _sensor_info,
}
