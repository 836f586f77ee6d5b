#!/bin/sh
# Guest entry point (tb.cmd) for the key-tools checks, with the host's venv.
exec ./.venv/bin/python tests/keytools/keytools_in_guest.py
