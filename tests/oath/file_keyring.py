"""A keyring backend for ykman in tests: a JSON file named by TOKENBENCH_TEST_KEYRING.

`ykman oath access remember` keeps the access key in the OS keyring (through the `keyring`
package), which a headless test machine does not have. ykman subprocesses get
PYTHON_KEYRING_BACKEND=file_keyring.FileKeyring and this folder on PYTHONPATH; the file lives
in the test's temporary directory. TEST DOUBLE of a desktop keyring; never used outside tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @staticmethod
    def _path() -> Path:
        return Path(os.environ["TOKENBENCH_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}
        return dict(data)

    def _store(self, data: dict[str, str]) -> None:
        self._path().write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._store(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(username)
        self._store(data)
