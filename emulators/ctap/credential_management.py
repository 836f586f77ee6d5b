"""Placeholder: filled in by a later commit."""

from typing import Any

from emulators.ctap.constants import CtapStatus
from emulators.ctap.errors import CtapError


def handle(auth: Any, params: dict[Any, Any], transaction: Any) -> Any:
    raise CtapError(CtapStatus.INVALID_COMMAND, "not built yet")


class PendingWrite:
    pass
