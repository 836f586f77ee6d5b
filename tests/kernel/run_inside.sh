#!/bin/sh
# Guest entry point (tb.cmd): run the in-guest checks with the host's venv.
exec ./.venv/bin/python tests/kernel/inside_guest.py
