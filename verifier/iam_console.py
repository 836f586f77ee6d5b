"""The console enrolment path: what a web console calls, next to the IAM API in `verifier.iam`.

In IAM, FIDO security keys and passkeys are registered only through the console's WebAuthn
ceremony (never with EnableMFADevice), and sign in by assertion (never with GetSessionToken).
The console also cleans up before adding a virtual device: it deletes the account's unassigned
virtual devices first, which is why an abandoned enrolment there never blocks a name.

A ceremony is begun and finished in two calls; the challenge waits in the store (so any worker
of a service, or a later CLI run, can finish it) and is consumed atomically when the answer
arrives, so it can be answered once.

Counter regressions: `verifier.webauthn` raises CounterRegression; here the credential is marked
possibly cloned, the stored counter is left as it was, and the assertion - and every later one
from that credential - is refused unless the policy allows regressions.
"""

from __future__ import annotations

import base64
from typing import Any

from tokenbench.verifier import iam_names as names
from tokenbench.verifier import webauthn
from tokenbench.verifier.errors import (
    ACCESS_DENIED,
    ENTITY_ALREADY_EXISTS,
    INVALID_INPUT,
    NO_SUCH_ENTITY,
    IamError,
    limit_exceeded,
)
from tokenbench.verifier.iam import (
    ADMIN,
    Caller,
    IamService,
    Session,
)
from tokenbench.verifier.iam_names import KIND_FIDO, MAX_DEVICES_PER_IDENTITY
from tokenbench.verifier.store import Ceremony, Device, Store

CEREMONY_SECONDS = 300.0
KIND_REGISTER, KIND_SIGN_IN = "register", "sign-in"
FIDO_LABEL_RANDOM_BYTES = 15
DEFAULT_FIDO_LABEL = "fidosecuritykey"


class ConsoleEnrolment:
    """Console flows over one `IamService` and one relying-party policy."""

    def __init__(
        self,
        service: IamService,
        policy: webauthn.RelyingPartyPolicy,
        *,
        ceremony_seconds: float = CEREMONY_SECONDS,
    ) -> None:
        self.service = service
        self.policy = policy
        self.ceremony_seconds = ceremony_seconds

    @property
    def store(self) -> Store:
        return self.service.store

    # --- virtual devices ----------------------------------------------------------------------

    def add_virtual_device(
        self, *, UserName: str | None, VirtualMFADeviceName: str, caller: Caller = ADMIN
    ) -> dict[str, Any]:
        """Delete the account's unassigned virtual devices, then create a new one (labelled
        with the user's name); the console then enables it with two codes."""
        identity = self.service.target(caller, UserName, changes_mfa=True)
        names.device_name(VirtualMFADeviceName)
        removed = self.store.delete_unassigned_virtual(self.service.account_id)
        created = self.service.create_virtual_mfa_device(
            VirtualMFADeviceName=VirtualMFADeviceName, label_owner=identity.user_name
        )
        created["RemovedUnassignedDevices"] = removed
        return created

    # --- FIDO registration --------------------------------------------------------------------

    def begin_fido_registration(
        self, *, UserName: str | None, DeviceName: str | None = None, caller: Caller = ADMIN
    ) -> tuple[str, dict[str, Any]]:
        """(ceremony id, PublicKeyCredentialCreationOptions) for navigator.credentials.create."""
        identity = self.service.target(caller, UserName, changes_mfa=True)
        label = DEFAULT_FIDO_LABEL if DeviceName is None else names.device_name(DeviceName)
        if self.store.count_assigned(identity.id) >= self.service.device_limit:
            raise _limit(identity.user_name)
        own = self._fido_devices(identity.id)
        challenge = webauthn.new_challenge(self.service.rng)
        options = webauthn.registration_options(
            self.policy,
            identity.user_handle,
            identity.user_name,
            challenge,
            [d.credential_id for d in own if d.credential_id],
        )
        ceremony_id = self._save(KIND_REGISTER, identity.id, challenge, label)
        return ceremony_id, options

    def finish_fido_registration(
        self, *, CeremonyId: str, ClientDataJSON: bytes, AttestationObject: bytes
    ) -> dict[str, Any]:
        """Verify the authenticator's answer and add the device; returns its SerialNumber."""
        ceremony = self._take(CeremonyId, KIND_REGISTER)
        identity = self.store.identity_by_id(ceremony.identity_id)
        if identity is None:
            raise IamError(NO_SUCH_ENTITY, "the user of this ceremony no longer exists")
        try:
            registered = webauthn.verify_registration(
                self.policy, ceremony.challenge, ClientDataJSON, AttestationObject
            )
        except webauthn.WebAuthnError as exc:
            raise IamError(INVALID_INPUT, f"registration refused: {exc}") from None
        now = self.service.clock.now()
        label = (
            (ceremony.device_name or DEFAULT_FIDO_LABEL)
            + "-"
            + _random_suffix(self.service.rng(FIDO_LABEL_RANDOM_BYTES))
        )
        owner = None if identity.is_root else identity.user_name
        serial = names.fido_serial(self.service.account_id, owner, label)
        device = Device(
            serial=serial,
            kind=KIND_FIDO,
            created_at=now,
            name=ceremony.device_name,
            enable_date=now,
            credential_id=registered.credential_id,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            aaguid=registered.aaguid,
            attestation_format=registered.attestation_format,
            attestation_trusted=registered.attestation_trusted,
            backup_eligible=registered.backup_eligible,
            backup_state=registered.backup_state,
        )
        outcome = self.store.add_assigned_device(device, identity, limit=self.service.device_limit)
        if outcome == "limit":
            raise _limit(identity.user_name)
        if outcome != "ok":
            raise IamError(
                ENTITY_ALREADY_EXISTS, "this credential is already registered for this user"
            )
        return {"SerialNumber": serial, "AttestationTrusted": registered.attestation_trusted}

    # --- FIDO sign-in -------------------------------------------------------------------------

    def begin_fido_sign_in(self, *, UserName: str) -> tuple[str, dict[str, Any]]:
        """(ceremony id, PublicKeyCredentialRequestOptions) listing the identity's keys."""
        identity = self.service.identity(UserName)
        allowed = [d.credential_id for d in self._fido_devices(identity.id) if d.credential_id]
        if not allowed:
            raise IamError(ACCESS_DENIED, f"{UserName} has no FIDO security key")
        challenge = webauthn.new_challenge(self.service.rng)
        options = webauthn.authentication_options(self.policy, challenge, allowed)
        return self._save(KIND_SIGN_IN, identity.id, challenge, None), options

    def finish_fido_sign_in(
        self,
        *,
        CeremonyId: str,
        CredentialId: bytes,
        ClientDataJSON: bytes,
        AuthenticatorData: bytes,
        Signature: bytes,
        UserHandle: bytes | None = None,
    ) -> Session:
        ceremony = self._take(CeremonyId, KIND_SIGN_IN)
        identity = self.store.identity_by_id(ceremony.identity_id)
        device = (
            self.store.device_by_credential(identity.id, bytes(CredentialId)) if identity else None
        )
        if identity is None or device is None or device.kind != KIND_FIDO:
            raise IamError(ACCESS_DENIED, "this security key is not registered for this user")
        if device.possibly_cloned and not self.policy.allow_counter_regression:
            raise IamError(ACCESS_DENIED, "this security key is suspended: possibly cloned")
        stored = webauthn.StoredCredential(
            credential_id=device.credential_id or b"",
            public_key=device.public_key or b"",
            sign_count=device.sign_count or 0,
            backup_eligible=bool(device.backup_eligible),
            user_handle=identity.user_handle,
        )
        try:
            result = webauthn.verify_assertion(
                self.policy,
                ceremony.challenge,
                stored,
                bytes(CredentialId),
                ClientDataJSON,
                AuthenticatorData,
                Signature,
                UserHandle,
            )
        except webauthn.CounterRegression:
            self.store.mark_possibly_cloned(device.serial)
            raise IamError(
                ACCESS_DENIED, "signature counter went backwards: the key may be cloned"
            ) from None
        except webauthn.WebAuthnError as exc:
            raise IamError(ACCESS_DENIED, f"assertion refused: {exc}") from None
        if not self.store.record_sign_count(
            device.serial, new_count=result.new_sign_count, backup_state=result.backup_state
        ):
            # Another sign-in stored this counter value (or a later one) first.
            raise IamError(ACCESS_DENIED, "this assertion was already used")
        return self.service.new_session(identity, device.serial)

    # --- helpers --------------------------------------------------------------------------------

    def _fido_devices(self, identity_id: int) -> list[Device]:
        return self.store.devices(identity_id=identity_id, kinds=[KIND_FIDO])

    def _save(self, kind: str, identity_id: int, challenge: bytes, label: str | None) -> str:
        now = self.service.clock.now()
        ceremony_id = base64.urlsafe_b64encode(self.service.rng(24)).decode()
        ceremony = Ceremony(
            ceremony_id, kind, identity_id, challenge, label, now + self.ceremony_seconds
        )
        self.store.save_ceremony(ceremony, now=now)
        return ceremony_id

    def _take(self, ceremony_id: str, kind: str) -> Ceremony:
        ceremony = self.store.take_ceremony(ceremony_id, kind)
        if ceremony is None or ceremony.expires_at <= self.service.clock.now():
            raise IamError(INVALID_INPUT, "no such ceremony: it expired or was already answered")
        return ceremony


def _random_suffix(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def _limit(user_name: str) -> IamError:
    return limit_exceeded(user_name, MAX_DEVICES_PER_IDENTITY)
