"""The emulated CTAP 2.1 / U2F security key, transport-free.

`Authenticator(env, profile)` is the key: `process(cmd || CBOR)` answers CTAP2 commands and
`process_u2f(APDU)` answers CTAP1; neither ever raises. Transports (CTAPHID, NFC) wrap it.

Modules, one idea each:
  constants, errors          protocol numbers (CtapStatus, CtapCommand, map keys), CtapError
  env, presence, state, randomness
                             what the key takes from the world: RNG, clock, user presence,
                             persistent state (versioned JSON, atomic file replace)
  request                    reading request maps with CTAP's errors (`Members`); every
                             command parses into a frozen dataclass before any rule runs
  context                    `KeyContext`: all a command handler sees of the key, and the
                             one `pending` slot for multi-call commands
  credentials                credential IDs = AES-GCM-wrapped key seeds bound to the RP ID hash
  authenticator              the KeyContext: dispatch, getInfo, reset, selection, counters
  make_credential, get_assertion, user_verification, extensions, auth_data
                             the WebAuthn ceremonies and their pinUvAuthParam/extension rules
  credential_management, large_blobs, config
                             the CTAP 2.1 management commands
  u2f                        CTAP1/U2F APDUs sharing the CTAP2 credential IDs
  profiles                   DeviceProfile, named profiles, getInfo import from real keys
  getinfo_members            the getInfo member table: keys, names, meanings; encoding the
                             emulator's response, decoding a real key's
  client_pin, pin_protocols, attestation
                             PIN/UV auth protocols, authenticatorClientPIN, vendor CA
  faults, misbehaviour, transaction
                             fault names and the strategies the core runs them with;
                             contracts shared with the transports
"""
