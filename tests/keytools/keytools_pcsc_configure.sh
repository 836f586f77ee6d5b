#!/bin/sh
# Run by test_keytools_configure_transports.py inside scripts/pcsc/with-emulated-card.sh: the
# key verbs against the emulated card through a real pcscd, one JSON line each. The PINs come
# from the environment the test sets (TOKENBENCH_NEW_PIN, then TOKENBENCH_PIN), never argv.
set -eu
T=.venv/bin/tokenbench
U="pcsc:Virtual PCD 00 00"
$T key pin set --target "$U" --json
export TOKENBENCH_PIN="$TOKENBENCH_NEW_PIN"
$T key config always-uv on --target "$U" --json
$T key config min-pin-length 8 --target "$U" --json
$T key make-credential --rp-id nfc.example --resident --hmac-secret --target "$U" --json
$T key get-assertion --rp-id nfc.example --hmac-salt "$SALT" --target "$U" --json
