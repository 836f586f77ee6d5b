"""Software MFA devices: TOTP apps and tokens, CTAP2/U2F security keys, and their transports."""
