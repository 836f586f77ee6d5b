"""The relying side: IAM-style MFA rules, TOTP and WebAuthn verification, seed import, storage."""
