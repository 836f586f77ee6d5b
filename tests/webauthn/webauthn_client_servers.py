"""Three independent relying parties behind one small interface, for the software authenticator.

py_webauthn (Duo's `webauthn`), python-fido2's `Fido2Server` and our verifier each issue their
own options JSON, as their users' servers would send it, and judge the responses with their
own code. A refusal becomes `Rejected(message)`; the message is the library's own.
What each one reports about an accepted credential (`backed_up`, the sign count) is kept so a
test can show what a server accepts but flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import webauthn
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    UserVerificationRequirement,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
)
from webauthn.helpers.structs import UserVerificationRequirement as PyUv

from tokenbench.verifier.webauthn import (
    RelyingPartyPolicy,
    StoredCredential,
    WebAuthnError,
    authentication_options,
    new_challenge,
    registration_options,
    verify_assertion,
    verify_registration,
)

RP_ID = "shop.example"
ORIGIN = f"https://{RP_ID}"
USER_ID = b"user-0001"
USER_NAME = "alice"


class Rejected(Exception):
    """The relying party refused the response; the text is the library's own reason."""


@dataclass
class Verdict:
    """What an accepting server stored about the credential or assertion."""

    sign_count: int
    backed_up: bool
    user_verified: bool


class RelyingParty(Protocol):
    name: str

    def registration_options(self) -> str: ...
    def finish_registration(self, response: dict[str, Any]) -> Verdict: ...
    def authentication_options(self) -> str: ...
    def finish_authentication(self, response: dict[str, Any]) -> Verdict: ...


@dataclass
class PyWebauthn:
    """py_webauthn as its documentation shows it: options_to_json out, verify_* in."""

    uv_required: bool
    name: str = "py_webauthn"
    _challenge: bytes = b""
    _credential: Any = None
    _count: int = 0

    def _uv(self) -> PyUv:
        return PyUv.REQUIRED if self.uv_required else PyUv.PREFERRED  # the library's default

    def registration_options(self) -> str:
        options = webauthn.generate_registration_options(
            rp_id=RP_ID,
            rp_name="Shop",
            user_name=USER_NAME,
            user_id=USER_ID,
            authenticator_selection=AuthenticatorSelectionCriteria(user_verification=self._uv()),
        )
        self._challenge = options.challenge
        return webauthn.options_to_json(options)

    def finish_registration(self, response: dict[str, Any]) -> Verdict:
        try:
            verified = webauthn.verify_registration_response(
                credential=json.dumps(response),
                expected_challenge=self._challenge,
                expected_origin=ORIGIN,
                expected_rp_id=RP_ID,
                require_user_verification=self.uv_required,
            )
        except InvalidRegistrationResponse as exc:
            raise Rejected(str(exc)) from None
        self._credential, self._count = verified, verified.sign_count
        return Verdict(
            verified.sign_count,
            verified.credential_backed_up,
            verified.user_verified,
        )

    def authentication_options(self) -> str:
        options = webauthn.generate_authentication_options(
            rp_id=RP_ID,
            allow_credentials=[PublicKeyCredentialDescriptor(id=self._credential.credential_id)],
            user_verification=self._uv(),
        )
        self._challenge = options.challenge
        return webauthn.options_to_json(options)

    def finish_authentication(self, response: dict[str, Any]) -> Verdict:
        try:
            verified = webauthn.verify_authentication_response(
                credential=json.dumps(response),
                expected_challenge=self._challenge,
                expected_origin=ORIGIN,
                expected_rp_id=RP_ID,
                credential_public_key=self._credential.credential_public_key,
                credential_current_sign_count=self._count,
                require_user_verification=self.uv_required,
            )
        except InvalidAuthenticationResponse as exc:
            raise Rejected(str(exc)) from None
        self._count = verified.new_sign_count
        return Verdict(
            verified.new_sign_count, verified.credential_backed_up, verified.user_verified
        )


@dataclass
class PythonFido2:
    """python-fido2's Fido2Server, asking for no attestation (its default, and most sites')."""

    uv_required: bool
    name: str = "python-fido2"
    server: Fido2Server = field(
        default_factory=lambda: Fido2Server(
            PublicKeyCredentialRpEntity(id=RP_ID, name="Shop"),
            attestation=AttestationConveyancePreference.NONE,
        )
    )
    _state: Any = None
    _credentials: list[Any] = field(default_factory=list)

    def _uv(self) -> UserVerificationRequirement:
        return (
            UserVerificationRequirement.REQUIRED
            if self.uv_required
            else UserVerificationRequirement.PREFERRED
        )

    def registration_options(self) -> str:
        user = PublicKeyCredentialUserEntity(id=USER_ID, name=USER_NAME, display_name=USER_NAME)
        options, self._state = self.server.register_begin(user, user_verification=self._uv())
        return json.dumps(dict(options))  # {"publicKey": {...}}, as its examples send it

    def finish_registration(self, response: dict[str, Any]) -> Verdict:
        try:
            auth_data = self.server.register_complete(self._state, response)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        assert auth_data.credential_data is not None
        self._credentials = [auth_data.credential_data]
        return Verdict(auth_data.counter, auth_data.is_backed_up(), auth_data.is_user_verified())

    def authentication_options(self) -> str:
        options, self._state = self.server.authenticate_begin(
            self._credentials, user_verification=self._uv()
        )
        return json.dumps(dict(options))

    def finish_authentication(self, response: dict[str, Any]) -> Verdict:
        try:
            self.server.authenticate_complete(self._state, self._credentials, response)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        from fido2.webauthn import AuthenticationResponse

        auth_data = AuthenticationResponse.from_dict(response).response.authenticator_data
        return Verdict(auth_data.counter, auth_data.is_backed_up(), auth_data.is_user_verified())


@dataclass
class Tokenbench:
    """Our verifier (tokenbench.verifier.webauthn), with its console's option builders."""

    uv_required: bool
    name: str = "tokenbench"
    _challenge: bytes = b""
    _stored: StoredCredential | None = None

    @property
    def policy(self) -> RelyingPartyPolicy:
        uv = "required" if self.uv_required else "preferred"
        return RelyingPartyPolicy(RP_ID, frozenset({ORIGIN}), user_verification=uv)

    def registration_options(self) -> str:
        self._challenge = new_challenge()
        return json.dumps(
            registration_options(self.policy, USER_ID, USER_NAME, self._challenge, [])
        )

    def finish_registration(self, response: dict[str, Any]) -> Verdict:
        from fido2.webauthn import RegistrationResponse

        parsed = RegistrationResponse.from_dict(response).response
        try:
            registered = verify_registration(
                self.policy,
                self._challenge,
                bytes(parsed.client_data),
                bytes(parsed.attestation_object),
            )
        except WebAuthnError as exc:
            raise Rejected(str(exc)) from None
        self._stored = StoredCredential(
            registered.credential_id,
            registered.public_key,
            registered.sign_count,
            registered.backup_eligible,
            USER_ID,
        )
        return Verdict(registered.sign_count, registered.backup_state, registered.user_verified)

    def authentication_options(self) -> str:
        assert self._stored is not None
        self._challenge = new_challenge()
        return json.dumps(
            authentication_options(self.policy, self._challenge, [self._stored.credential_id])
        )

    def finish_authentication(self, response: dict[str, Any]) -> Verdict:
        from fido2.webauthn import AuthenticationResponse

        assert self._stored is not None
        parsed = AuthenticationResponse.from_dict(response)
        body = parsed.response
        try:
            result = verify_assertion(
                self.policy,
                self._challenge,
                self._stored,
                bytes(parsed.raw_id),
                bytes(body.client_data),
                bytes(body.authenticator_data),
                bytes(body.signature),
                body.user_handle,
            )
        except WebAuthnError as exc:
            raise Rejected(str(exc)) from None
        self._stored.sign_count = result.new_sign_count
        return Verdict(result.new_sign_count, result.backup_state, result.user_verified)


SERVERS = {"py_webauthn": PyWebauthn, "python-fido2": PythonFido2, "tokenbench": Tokenbench}
