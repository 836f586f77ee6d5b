"""TagMFADevice, UntagMFADevice, ListMFADeviceTags: tags on virtual MFA devices, as in IAM.

At most 50 tags per device (and 50 keys per UntagMFADevice); keys are unique regardless of case
(a new value for an existing key replaces it), and keys beginning with `aws:` are reserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenbench.verifier import iam_names as names
from tokenbench.verifier.errors import INVALID_INPUT, LIMIT_EXCEEDED, IamError, no_such_device
from tokenbench.verifier.iam_pagination import paginate
from tokenbench.verifier.store import Device, Store


class TagOperations:
    """Mixed into `IamService`, which provides `store` and `account_id`."""

    store: Store
    account_id: str

    def _taggable(self, serial: str) -> Device:
        names.serial_number(serial)
        device = self.store.device(serial)
        if device is None or device.account_id != self.account_id:
            raise no_such_device(serial)
        if device.kind != "virtual":
            raise IamError(INVALID_INPUT, "only virtual MFA devices can be tagged")
        return device

    def tag_mfa_device(
        self, *, SerialNumber: str, Tags: Sequence[dict[str, str]]
    ) -> dict[str, Any]:
        self._taggable(SerialNumber)
        tag_list = names.tags(list(Tags))
        if not self.store.put_tags(SerialNumber, tag_list, limit=names.MAX_TAGS):
            raise IamError(LIMIT_EXCEEDED, f"a device can have at most {names.MAX_TAGS} tags")
        return {}

    def untag_mfa_device(self, *, SerialNumber: str, TagKeys: Sequence[str]) -> dict[str, Any]:
        self._taggable(SerialNumber)
        keys = names.tag_keys(list(TagKeys))
        self.store.remove_tags(SerialNumber, keys)
        return {}

    def list_mfa_device_tags(
        self, *, SerialNumber: str, Marker: str | None = None, MaxItems: int | None = None
    ) -> dict[str, Any]:
        self._taggable(SerialNumber)
        page, more = paginate(self.store.tags(SerialNumber), Marker, MaxItems)
        return {"Tags": [{"Key": k, "Value": v} for k, v in page], **more}
