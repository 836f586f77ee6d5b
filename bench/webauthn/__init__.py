"""A software authenticator for any relying party: a server's options JSON in, response JSON out.

`SoftwareAuthenticator(origin, target="emu:")` runs the WebAuthn ceremonies a browser would,
over any bench target (the emulated key in-process by default, a UDP emulator, a real key),
with unusual authenticator data on demand (`faults`, `uv`). The `tokenbench webauthn` command
and the `webauthn_authenticator` pytest fixture (`tokenbench.bench.webauthn.pytest_plugin`)
are thin layers over it. See docs/webauthn-client.md.
"""

from tokenbench.bench.webauthn.authenticator import SoftwareAuthenticator
from tokenbench.bench.webauthn.faults import EXPECTED, UV_OFF, WEBAUTHN_FAULTS
from tokenbench.bench.webauthn.options import OptionsError

__all__ = ["EXPECTED", "UV_OFF", "WEBAUTHN_FAULTS", "OptionsError", "SoftwareAuthenticator"]
