"""Built-in user verification with the fingerprint sensor (CTAP 2.1 §6.5.5.7.3, §6.5.5.8).

A key whose profile lists the `bioEnroll` option has a sensor. Once a finger is enrolled,
getInfo says `uv` and `bioEnroll` are true, makeCredential/getAssertion accept the "uv" option
(the sensor verifies the user, and a finger on the sensor is also a touch), and
authenticatorClientPIN issues tokens after built-in UV (subCommand 6) and reports uvRetries
(subCommand 7).

uvRetries counts down on every non-matching reading, persisted before the finger is compared
(as the PIN's retries are), and goes back to the maximum after a match or a correct PIN; at
zero built-in UV is blocked (UV_BLOCKED) until the PIN is entered. One request takes one
sensor reading (what the person presents for it). makeCredential/getAssertion retry it
internally, `MAX_UV_ATTEMPTS_PER_REQUEST` times in all (the spec's
maxUvAttemptsForInternalRetries, §6.5.2.3: an internal limit, 1..5, not a getInfo member),
each costing a retry; subCommand 6 makes one attempt, since preferredPlatformUvAttempts > 1
leaves the retrying to the platform (internalRetry false).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tokenbench.emulators.ctap.client_pin import (
    ClientPinParam,
    ClientPinRequest,
    ClientPinResponse,
    SubCommand,
)
from tokenbench.emulators.ctap.constants import CtapStatus
from tokenbench.emulators.ctap.context import KeyContext
from tokenbench.emulators.ctap.errors import CtapError
from tokenbench.emulators.ctap.fingerprint import (
    UV_RETRIES_MAX,
    BioState,
    Finger,
)
from tokenbench.emulators.ctap.pin_uv_token import Permission
from tokenbench.emulators.ctap.profiles import DeviceProfile
from tokenbench.emulators.ctap.request import Response
from tokenbench.emulators.ctap.transaction import Transaction

MAX_UV_ATTEMPTS_PER_REQUEST = 3
PREFERRED_PLATFORM_UV_ATTEMPTS = 3
"""getInfo preferredPlatformUvAttempts: how often a platform should let the user try."""
SENSOR_OPTION = "bioEnroll"
UV_BIO_ENROLL_OPTION = "uvBioEnroll"

SubCommandHandler = Callable[[ClientPinRequest], Response]


def has_sensor(profile: DeviceProfile) -> bool:
    """Whether the key has a fingerprint sensor (its profile lists bioEnroll, even false)."""
    return SENSOR_OPTION in profile.options


def bio_state(key: KeyContext) -> BioState:
    """The enrollments and uvRetries, created empty on first use."""
    if key.state.bio is None:
        key.state.bio = BioState()
    return key.state.bio


def configured(key: KeyContext) -> bool:
    """Whether built-in UV can be used: a sensor with at least one enrolled finger."""
    return has_sensor(key.profile) and bool(bio_state(key).enrollments)


def live_options(key: KeyContext) -> dict[str, bool]:
    """getInfo's `uv` and `bioEnroll`: false until a finger is enrolled (§6.4)."""
    enrolled = configured(key)
    return {"uv": enrolled, SENSOR_OPTION: enrolled}


def verify_user(
    key: KeyContext, transaction: Transaction | None, *, internal_retry: bool = True
) -> bytes:
    """Built-in UV: the matched template ID, or UV_BLOCKED / UV_INVALID / USER_ACTION_TIMEOUT.

    Every attempt with a non-matching finger costs a retry (unless the
    uv-retries-not-decremented fault); no finger at all costs nothing and ends the request, as
    a real sensor's timeout does. A blocked sensor is not read at all.
    """
    state = bio_state(key)
    if state.uv_retries == 0:
        raise CtapError(CtapStatus.UV_BLOCKED, "built-in UV is blocked: enter the PIN")
    if transaction is not None and transaction.cancelled.is_set():
        raise CtapError(CtapStatus.KEEPALIVE_CANCEL, "cancelled while waiting for a finger")
    reading = key.sensor.read()
    if reading.finger is Finger.NONE:
        raise CtapError(CtapStatus.USER_ACTION_TIMEOUT, "no finger on the sensor")
    for _ in range(MAX_UV_ATTEMPTS_PER_REQUEST if internal_retry else 1):
        matched = key.sensor.match(reading, state.template_ids)
        if matched is not None:
            reset_retries(key)
            return matched
        if key.faults.counts_uv_failures:
            state.uv_retries -= 1
            key.persist()
        if state.uv_retries == 0:
            break
    if state.uv_retries == 0:
        raise CtapError(CtapStatus.UV_BLOCKED, "built-in UV is blocked: enter the PIN")
    raise CtapError(CtapStatus.UV_INVALID, "the finger matches no enrolled template")


def reset_retries(key: KeyContext) -> None:
    """A match, or a correct PIN (§6.5.5.7: the PIN unblocks built-in UV)."""
    if not has_sensor(key.profile):
        return
    state = bio_state(key)
    if state.uv_retries != UV_RETRIES_MAX:
        state.uv_retries = UV_RETRIES_MAX
        key.persist()


def client_pin_subcommands(key: KeyContext) -> dict[int, SubCommandHandler]:
    """authenticatorClientPIN's UV subCommands for a key with a sensor (none without one)."""
    if not has_sensor(key.profile):
        return {}
    return {
        SubCommand.GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS: partial(_token_using_uv, key),
        SubCommand.GET_UV_RETRIES: partial(_uv_retries, key),
    }


def _uv_retries(key: KeyContext, request: ClientPinRequest) -> Response:
    return {ClientPinResponse.UV_RETRIES: bio_state(key).uv_retries}


def _token_using_uv(key: KeyContext, request: ClientPinRequest) -> Response:
    """getPinUvAuthTokenUsingUvWithPermissions: parameters first, then the finger."""
    version = request.needed(request.protocol, ClientPinParam.PIN_UV_AUTH_PROTOCOL)
    key_agreement = request.needed(request.key_agreement, ClientPinParam.KEY_AGREEMENT)
    permissions = request.needed(request.permissions, ClientPinParam.PERMISSIONS)
    proto = key.client_pin.protocol(version)
    if permissions == 0:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "no permissions requested")
    if not configured(key):
        raise CtapError(CtapStatus.NOT_ALLOWED, "no finger enrolled: built-in UV is off")
    _check_uv_permissions(key, permissions)
    return key.client_pin.issue_token_after_uv(
        proto,
        key_agreement,
        Permission(permissions),
        request.rp_id,
        partial(verify_user, key, None, internal_retry=PREFERRED_PLATFORM_UV_ATTEMPTS == 1),
    )


def _check_uv_permissions(key: KeyContext, permissions: int) -> None:
    """What a token from built-in UV may carry (§6.5.5.7.3): `be` only with uvBioEnroll,
    `acfg` only with uvAcfg, pcmr alone."""
    if permissions & ~int(key.client_pin.supported_permissions):
        raise CtapError(CtapStatus.UNAUTHORIZED_PERMISSION, "permission not supported")
    if permissions & Permission.BE and not key.profile.options.get(UV_BIO_ENROLL_OPTION):
        raise CtapError(CtapStatus.UNAUTHORIZED_PERMISSION, "be needs uvBioEnroll")
    if permissions & Permission.ACFG and not key.profile.options.get("uvAcfg"):
        raise CtapError(CtapStatus.UNAUTHORIZED_PERMISSION, "acfg needs uvAcfg")
    if permissions & Permission.PCMR and permissions != Permission.PCMR:
        raise CtapError(CtapStatus.INVALID_PARAMETER, "pcmr is granted alone")
