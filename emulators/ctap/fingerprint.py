"""The emulated fingerprint sensor, and the enrolled templates it matches against.

The sensor is the world's side of built-in user verification, as `presence.py` is for touch:
nobody puts a finger on an emulated key, so by default every reading is the first enrolled
finger (a match at once) and every enrollment sample is good. One reading is what the person
presents for one request: one UV request (all its internal attempts), or one sample. Tests and
the key's control channel queue other readings: a non-matching finger, a named finger
(template ID), no finger at all (the reading times out), or an enrollment sample with another
lastEnrollSampleStatus.

The templates and the UV retry counter (`BioState`) are persistent key state; the sensor's
queue is not (it models what the person does next).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from tokenbench.emulators.ctap.state_fields import int_field, list_field

MODALITY_FINGERPRINT = 0x01
"""authenticatorBioEnrollment modality (CTAP 2.1 §6.7.1)."""
FINGERPRINT_KIND_TOUCH = 1
"""fingerprintKind: a touch sensor (2 would be a swipe sensor)."""
USER_VERIFY_FINGERPRINT_INTERNAL = 0x00000002
"""getInfo uvModality: the FIDO registry's fingerprint-internal user verification method."""
SAMPLES_FOR_ENROLL = 4
"""maxCaptureSamplesRequiredForEnroll: good samples that make one template."""
MAX_TEMPLATE_FRIENDLY_NAME = 32
"""maxTemplateFriendlyName, in bytes of UTF-8 (the spec's unit)."""
MAX_TEMPLATES = 5
"""Fingers the sensor's database holds; one more is FP_DATABASE_FULL."""
TEMPLATE_ID_LENGTH = 2
UV_RETRIES_MAX = 8
"""uvRetries after a match or a correct PIN; at zero built-in UV is blocked."""


class SampleStatus(IntEnum):
    """lastEnrollSampleStatus (CTAP 2.1 §6.7.4, CTAP2_ENROLL_FEEDBACK_*)."""

    FP_GOOD = 0x00
    FP_TOO_HIGH = 0x01
    FP_TOO_LOW = 0x02
    FP_TOO_LEFT = 0x03
    FP_TOO_RIGHT = 0x04
    FP_TOO_FAST = 0x05
    FP_TOO_SLOW = 0x06
    FP_POOR_QUALITY = 0x07
    FP_TOO_SKEWED = 0x08
    FP_TOO_SHORT = 0x09
    FP_MERGE_FAILURE = 0x0A
    FP_EXISTS = 0x0B
    NO_USER_ACTIVITY = 0x0D
    NO_UP_TRANSITION = 0x0E


class Finger(Enum):
    """What is on the sensor for one reading."""

    ENROLLED = "match"  # an enrolled finger (the first one, or the named template)
    OTHER = "nomatch"  # a finger that matches no template
    NONE = "absent"  # nobody touches: the reading times out


@dataclass(frozen=True)
class Reading:
    """One reading of the sensor: the finger, and the sample quality an enrollment sees."""

    finger: Finger = Finger.ENROLLED
    template_id: bytes | None = None
    """For `Finger.ENROLLED`: which template matches (None: the first enrolled one)."""
    sample: SampleStatus = SampleStatus.FP_GOOD

    @classmethod
    def parse(cls, text: str) -> Reading:
        """`match`, `match=HEXID`, `nomatch`, `absent`, `sample=too-fast` (any SampleStatus,
        with or without its FP_ prefix): the control channel's words. ValueError otherwise."""
        word, _, value = text.strip().partition("=")
        if word == "sample":
            name = value.upper().replace("-", "_")
            status = SampleStatus.__members__.get(name) or SampleStatus.__members__.get(
                f"FP_{name}"
            )
            if status is None:
                raise ValueError(f"unknown sample status {value!r}")
            return cls(sample=status)
        try:
            finger = Finger(word)
        except ValueError:
            raise ValueError(f"unknown finger reading {text!r}") from None
        if value and finger is not Finger.ENROLLED:
            raise ValueError(f"{word} takes no template ID")
        return cls(finger, bytes.fromhex(value) if value else None)


class FingerprintSensor:
    """The readings to come: queued ones first, then the unattended default (a match)."""

    def __init__(self) -> None:
        self._queue: deque[Reading] = deque()
        self._lock = threading.Lock()
        self.readings = 0

    def present(self, *readings: Reading) -> None:
        """Queue what the next readings will be."""
        with self._lock:
            self._queue.extend(readings)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def read(self) -> Reading:
        with self._lock:
            self.readings += 1
            return self._queue.popleft() if self._queue else Reading()

    def match(self, reading: Reading, templates: Sequence[bytes]) -> bytes | None:
        """The template a reading matches, or None (a finger no template matches)."""
        if reading.finger is not Finger.ENROLLED or not templates:
            return None
        if reading.template_id is None:
            return templates[0]
        return reading.template_id if reading.template_id in templates else None


@dataclass
class Enrollment:
    template_id: bytes
    friendly_name: str | None = None


@dataclass
class BioState:
    """The persistent part: enrolled templates (oldest first) and the UV retry counter."""

    enrollments: list[Enrollment] = field(default_factory=list)
    uv_retries: int = UV_RETRIES_MAX

    @property
    def template_ids(self) -> list[bytes]:
        return [e.template_id for e in self.enrollments]

    def find(self, template_id: bytes) -> Enrollment | None:
        return next((e for e in self.enrollments if e.template_id == template_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enrollments": [
                {"template_id": e.template_id.hex(), "friendly_name": e.friendly_name}
                for e in self.enrollments
            ],
            "uv_retries": self.uv_retries,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BioState:
        """Inverse of `to_dict`; ValueError/TypeError on a corrupt record (see state_fields)."""
        enrollments = []
        for entry in list_field(data, "enrollments"):
            if not isinstance(entry, Mapping):
                raise ValueError("an enrollment is not an object")
            name = entry.get("friendly_name")
            if name is not None and not isinstance(name, str):
                raise ValueError("friendly_name is not a string")
            template_id = bytes.fromhex(str(entry["template_id"]))
            if not template_id:
                raise ValueError("empty template ID")
            enrollments.append(Enrollment(template_id, name))
        retries = int_field(data, "uv_retries", UV_RETRIES_MAX, 0, UV_RETRIES_MAX)
        return cls(enrollments, retries)
