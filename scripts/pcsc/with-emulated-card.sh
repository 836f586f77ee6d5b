#!/bin/sh
# Run a command against the emulated key as a contactless card, with a private PC/SC stack.
#
#   scripts/pcsc/with-emulated-card.sh [emulate --vpcd options --] COMMAND [ARGS...]
#   e.g. scripts/pcsc/with-emulated-card.sh .venv/bin/pytest --pyargs tokenbench.bench.suites \
#            --target 'pcsc:Virtual PCD 00 00' --bench-suite nfc
#        scripts/pcsc/with-emulated-card.sh --nfc-break no-command-chaining -- .venv/bin/pytest ...
#
# Everything runs in new network and mount namespaces (root needed): a pcscd with only the vpcd
# reader (its socket on a private /run/pcscd), `tokenbench key emulate --vpcd` plugged into slot 0,
# then COMMAND. The host's pcscd, readers and ports are untouched; pcscd and the card are
# stopped when COMMAND ends, and COMMAND's exit status is returned.
set -eu
if [ "${TOKENBENCH_PCSC_NS:-}" != "inside" ]; then
    TOKENBENCH_PCSC_NS=inside exec unshare --net --mount --fork --kill-child sh "$0" "$@"
fi
unset PCSCLITE_CSOCK_NAME  # clients must find this namespace's pcscd at /run/pcscd
here=$(cd "$(dirname "$0")/../.." && pwd)
emulate_args=""
for arg in "$@"; do
    if [ "$arg" = "--" ]; then
        while [ "$1" != "--" ]; do emulate_args="$emulate_args $1"; shift; done
        shift
        break
    fi
done
work=$(mktemp -d)
mkdir "$work/run" "$work/conf"
cat > "$work/conf/vpcd" <<CONF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
CONF
ip link set lo up
mount --make-rprivate /
mount -t tmpfs tokenbench-pcscd-run /run
mkdir -p /run/pcscd
mount --bind "$work/run" /run/pcscd
pcscd --foreground -c "$work/conf" >"$work/pcscd.log" 2>&1 &
pcscd_pid=$!
# shellcheck disable=SC2086 # the emulate --vpcd options are words
"$here/.venv/bin/tokenbench" key emulate --vpcd 127.0.0.1:35963 $emulate_args 2>"$work/card.log" &
card_pid=$!
cleanup() {
    kill -TERM "$card_pid" 2>/dev/null || true
    wait "$card_pid" 2>/dev/null || true
    kill -TERM "$pcscd_pid" 2>/dev/null || true
    wait "$pcscd_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
tries=0
until [ -S /run/pcscd/pcscd.comm ] && grep -q "as a card" "$work/card.log" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then
        echo "pcscd or the emulated card did not start" >&2
        cat "$work/pcscd.log" "$work/card.log" >&2
        exit 1
    fi
    sleep 0.1
done
sleep 1  # pcscd polls its readers for card insertion
status=0
"$@" || status=$?
exit "$status"
