"""Hardware-token seed imports and legacy SMS devices: the device rows that do not start in
CreateVirtualMFADevice.

Imported seeds become unassigned hardware devices (sealed under the KEK); EnableMFADevice then
accepts exactly those serials. An import is all or nothing: a serial the store already knows
refuses the whole file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import ENTITY_ALREADY_EXISTS, IamError, limit_exceeded
from tokenbench.verifier.iam_names import KIND_HARDWARE, KIND_SMS
from tokenbench.verifier.seeds import ImportedSeed, SeedCipher, read_seed_file
from tokenbench.verifier.store import Device, DuplicateError, Identity, Store


class SeedOperations:
    """Mixed into `IamService`, which provides the attributes below."""

    store: Store
    cipher: SeedCipher
    clock: Any
    account_id: str
    device_limit: int

    def identity(self, user_name: str) -> Identity:  # provided by IamService
        raise NotImplementedError

    def import_seeds(self, seeds: Sequence[ImportedSeed]) -> dict[str, Any]:
        """Store imported hardware seeds (sealed), all or nothing."""
        now = self.clock.now()
        devices = [
            Device(
                serial=seed.serial,
                kind=KIND_HARDWARE,
                created_at=now,
                manufacturer=seed.manufacturer,
                seed_sealed=self.cipher.seal(seed.serial, seed.secret),
                algorithm=seed.params.algorithm,
                digits=seed.params.digits,
                period=seed.params.period,
            )
            for seed in seeds
        ]
        for device in devices:
            if self.store.device(device.serial) is not None:
                raise IamError(
                    ENTITY_ALREADY_EXISTS,
                    f"serial {device.serial} is already known; nothing was imported",
                )
        try:
            self.store.add_devices(devices)
        except DuplicateError:
            raise IamError(
                ENTITY_ALREADY_EXISTS, "a serial in the file is already known; nothing imported"
            ) from None
        return {"SerialNumbers": [d.serial for d in devices]}

    def import_seed_file(
        self, path: str | os.PathLike[str], *, password: str | None = None, psk: bytes | None = None
    ) -> dict[str, Any]:
        """Read a PSKC or CSV seed file and import every token in it, or none."""
        return self.import_seeds(read_seed_file(path, password=password, psk=psk))

    def add_legacy_sms_device(self, *, UserName: str) -> dict[str, Any]:
        """An SMS device as a migrated legacy account has it: listed and counted, never
        enable-able again once removed."""
        identity = self.identity(UserName)
        if self.store.count_assigned(identity.id) >= self.device_limit:
            raise limit_exceeded(identity.user_name, self.device_limit)
        serial = names.sms_serial(self.account_id, identity.user_name)
        now = self.clock.now()
        device = Device(serial=serial, kind=KIND_SMS, created_at=now)
        outcome = self.store.add_assigned_device(
            Device(**{**device.__dict__, "enable_date": now}), identity, limit=self.device_limit
        )
        if outcome == "limit":
            raise limit_exceeded(identity.user_name, self.device_limit)
        if outcome != "ok":
            raise IamError(ENTITY_ALREADY_EXISTS, f"{serial} exists")
        return {"SerialNumber": serial}
