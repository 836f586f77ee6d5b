"""A software authenticator for any relying party: options JSON in, response JSON out.

`SoftwareAuthenticator` is the WebAuthn client a browser would be (python-fido2's
`Fido2Client`: origin and RP ID checks, clientDataJSON, PIN/UV handling) over the CTAP device
of one bench target: the emulated key in-process by default, a UDP emulator, or a real key.
Its answers are the JSON a browser's `PublicKeyCredential.toJSON()` gives, ready to post to a
server under test. Faults (`tokenbench.bench.webauthn.faults`) make the emulated key produce
unusual authenticator data on demand; each has a documented expected rejection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, Ctap2
from fido2.webauthn import UserVerificationRequirement

from tokenbench.bench.errors import UserError
from tokenbench.bench.targets import (
    EmulatedKeyTarget,
    KeyTarget,
    TargetKind,
    parse_target,
    split_options,
)
from tokenbench.bench.webauthn.browser_json import authentication_json, registration_json
from tokenbench.bench.webauthn.faults import check_faults
from tokenbench.bench.webauthn.options import (
    UV_CHOICES,
    OptionsError,
    creation_options,
    request_options,
)

DEFAULT_TARGET = "emu:"
REQUIRED, PREFERRED, DISCOURAGED = (
    UserVerificationRequirement.REQUIRED.value,
    UserVerificationRequirement.PREFERRED.value,
    UserVerificationRequirement.DISCOURAGED.value,
)
UV_METHODS = ("uv", "clientPin", "bioEnroll")  # getInfo options that mean "UV is set up"
TRANSPORT_BY_KIND = {TargetKind.HID: "usb", TargetKind.NFC: "nfc"}
SECURE_SCHEMES = ("https", "http")  # http only for localhost; python-fido2 checks which


class _Interaction(UserInteraction):
    """What a browser asks its user: touch (a real key: the target's countdown), PIN, UV."""

    def __init__(self, target: KeyTarget, pin: str | None) -> None:
        self.target = target
        self.pin = pin
        self.stop_prompt: Callable[[], None] | None = None

    def prompt_up(self) -> None:
        if self.stop_prompt is None:
            self.stop_prompt = self.target.presence_needed()

    def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
        return self.pin

    def done(self) -> None:
        if self.stop_prompt is not None:
            self.stop_prompt()
            self.stop_prompt = None


def _check_origin(origin: str) -> str:
    parsed = urlparse(origin)
    if parsed.scheme not in SECURE_SCHEMES or not parsed.hostname:
        raise UserError(f"origin {origin!r} is not https://HOST[:PORT] (or http://localhost)")
    return origin


def target_with_faults(uri: str, faults: Iterable[str]) -> str:
    """`uri` with the faults added to its `fault=` item; faults need an emulated key."""
    names = check_faults(faults)
    if not names:
        return uri
    scheme, _, rest = uri.partition(":")
    if scheme != "emu":
        raise UserError(
            f"faults need an emulated key (emu:...), not {uri!r}: a real key or another "
            "process cannot be made to misbehave from here (start `tokenbench key emulate "
            "--fault ...` for a UDP emulator with faults)"
        )
    options = split_options(rest)
    given = [n for n in options.pop("fault", "").split("+") if n]
    options["fault"] = "+".join(dict.fromkeys([*given, *names]))
    return "emu:" + ",".join(f"{k}={v}" if v else k for k, v in options.items())


CLIENT_HINTS = {
    ClientError.ERR.BAD_REQUEST: "the RP ID is not the origin's host or a parent domain of it, "
    "or the options ask for something impossible",
    ClientError.ERR.DEVICE_INELIGIBLE: "this key holds no credential the options allow (for a "
    "later `get`, keep the same --target emu:state=FILE as `create`)",
    ClientError.ERR.CONFIGURATION_UNSUPPORTED: "the key cannot do what the options require "
    "(user verification needs a PIN: --pin)",
}


def _refusal(exc: ClientError | CtapError) -> UserError:
    """One line for a refusal: python-fido2's code, its cause and what it usually means."""
    if isinstance(exc, CtapError):
        return UserError(f"the authenticator refused: {getattr(exc.code, 'name', exc.code)}")
    parts = [f"the client refused ({exc.code.name})"]
    if exc.cause:
        parts.append(str(exc.cause).splitlines()[0])
    if exc.code in CLIENT_HINTS:
        parts.append(CLIENT_HINTS[exc.code])
    return UserError(": ".join(parts))


def _reuse_info(client: Fido2Client) -> None:
    """Answer python-fido2's "fresh" getInfo with the one read when `client` was made.

    Fido2Client 2.x re-reads and re-parses getInfo twice per ceremony, about half of its time
    (~5 ms of ~12 here), in case another program changed the key in between (set a PIN,
    turned alwaysUv on). Only for the in-process emulated key: nothing outside this process
    reaches it, and this authenticator changes it (a PIN) only before the client exists.
    The hook is python-fido2's CTAP2 backend; a client without one is left as it is.
    """
    ctap2 = getattr(getattr(client, "_backend", None), "ctap2", None)
    if isinstance(ctap2, Ctap2):
        info = ctap2.info
        vars(ctap2)["get_info"] = lambda: info


class SoftwareAuthenticator:
    """One authenticator and the WebAuthn client in front of it, for one origin.

    `create(options)` / `get(options)` take what a server sends (JSON text, or its parsed
    dict; bare or `{"publicKey": ...}`) and return the response dict to post back. `faults`
    are emulated-key faults (`faults.WEBAUTHN_FAULTS`); `uv` "on"/"off" overrides the options'
    userVerification; `pin` answers the key's PIN request (set first on an emulated key that
    has none, so "uv on" works against a fresh `emu:`). Credentials live as long as the key:
    an `emu:state=FILE` target keeps them in FILE between processes.
    """

    def __init__(
        self,
        origin: str,
        target: str = DEFAULT_TARGET,
        *,
        faults: Iterable[str] = (),
        uv: str | None = None,
        pin: str | None = None,
    ) -> None:
        if uv is not None and uv not in UV_CHOICES:
            raise UserError(f"uv must be one of {', '.join(UV_CHOICES)}, not {uv!r}")
        self.origin = _check_origin(origin)
        self.uv = uv
        built = parse_target(target_with_faults(target, faults))
        if not isinstance(built, KeyTarget):
            raise UserError(f"{target!r} is not a security key target (emu:, udp:, hid:, pcsc:)")
        self.target: KeyTarget = built
        self._interaction = _Interaction(self.target, pin)
        self._client: Fido2Client | None = None

    @property
    def client(self) -> Fido2Client:
        """The WebAuthn client, opened on first use (a real key is touched only when needed)."""
        if self._client is None:
            device = self.target.device()
            try:
                self._set_pin_if_missing(device)
                self._client = Fido2Client(
                    device, DefaultClientDataCollector(self.origin), self._interaction
                )
                if isinstance(self.target, EmulatedKeyTarget):
                    _reuse_info(self._client)
            except CtapError as exc:
                raise _refusal(exc) from None
            except ValueError as exc:  # python-fido2's own PIN rules (length, encoding)
                raise UserError(f"cannot set the key's PIN: {exc}") from None
        return self._client

    def _set_pin_if_missing(self, device: Any) -> None:
        """An emulated key is fresh or the tester's own: give it the PIN it is asked for."""
        pin = self._interaction.pin
        if pin is None or not self.target.emulated:
            return
        ctap2 = Ctap2(device)
        if ctap2.info.options.get("clientPin") is False:
            ClientPin(ctap2).set_pin(pin)

    def create(self, options: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
        """navigator.credentials.create(): the RegistrationResponse JSON (as `toJSON()`)."""
        parsed = creation_options(options, self._user_verification)
        response = self._ceremony(lambda: self.client.make_credential(parsed))
        return registration_json(response, self._transports())

    def get(self, options: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
        """navigator.credentials.get(): the AuthenticationResponse JSON (as `toJSON()`)."""
        parsed = request_options(options, self._user_verification)
        selection = self._ceremony(lambda: self.client.get_assertion(parsed))
        return authentication_json(selection.get_response(0))

    def _user_verification(self, asked: object) -> str:
        """`uv` if given; else what the options ask, as a browser reads it: "preferred" (also
        the default, and what an unknown value means) on a key with no PIN or built-in UV set
        up means going without, where python-fido2 would refuse the ceremony
        (CONFIGURATION_UNSUPPORTED)."""
        if self.uv is not None:
            return UV_CHOICES[self.uv].value
        if asked in (REQUIRED, DISCOURAGED):
            return str(asked)
        options = self.client.info.options
        return PREFERRED if any(options.get(k) for k in UV_METHODS) else DISCOURAGED

    def _transports(self) -> list[str]:
        """The key's own getInfo claim, else what the target reaches it by."""
        claimed = self.client.info.transports
        if claimed:
            return [str(t) for t in claimed]
        return [TRANSPORT_BY_KIND.get(self.target.kind, "usb")]

    def _ceremony(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (ClientError, CtapError) as exc:
            raise _refusal(exc) from None
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            # python-fido2 meeting odd option members the parser let through (it checks
            # what every server sends, not every member's every type)
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise OptionsError(f"the options could not be used: {detail[:200]}") from None
        finally:
            self._interaction.done()

    def close(self) -> None:
        self._client = None
        self.target.close()

    def __enter__(self) -> SoftwareAuthenticator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
