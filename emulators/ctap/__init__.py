"""The emulated CTAP 2.1 / U2F security key, transport-free.

`Authenticator(env, profile)` is the key: `process(cmd || CBOR)` answers CTAP2 commands and
`process_u2f(APDU)` answers CTAP1; neither ever raises. Transports (CTAPHID, NFC) wrap it.

Modules, one idea each:
  constants, errors          protocol numbers (CtapStatus, CtapCommand, map keys), CtapError
  env, presence, state       what the key takes from the world: RNG, clock, user presence,
                             persistent state (versioned JSON, atomic file replace)
  credentials                credential IDs = AES-GCM-wrapped key seeds bound to the RP ID hash
  authenticator              dispatch, getInfo, reset, selection, counters, fault injection
  make_credential, get_assertion, user_verification, extensions, auth_data
                             the WebAuthn ceremonies and their pinUvAuthParam/extension rules
  credential_management, large_blobs, config
                             the CTAP 2.1 management commands
  u2f                        CTAP1/U2F APDUs sharing the CTAP2 credential IDs
  profiles                   DeviceProfile, named profiles, getInfo import from real keys
  client_pin, pin_protocols, attestation
                             PIN/UV auth protocols, authenticatorClientPIN, vendor CA
  faults, transaction        contracts shared with the transports
"""
