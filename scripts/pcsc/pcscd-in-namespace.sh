#!/bin/sh
# Run pcscd with a private reader configuration, private socket directory and private network.
#
# Meant to be started as:  unshare --net --mount --fork --kill-child sh pcscd-in-namespace.sh RUN_DIR CONF_DIR
# Inside the new namespaces it brings up loopback (the vpcd driver listens on TCP there), hides
# the host's /run behind a tmpfs and bind-mounts RUN_DIR on /run/pcscd (pcscd 1.9.9 always puts
# its socket and pid file there), then execs pcscd in the foreground with the reader.conf.d of
# CONF_DIR. Clients outside reach it with PCSCLITE_CSOCK_NAME=RUN_DIR/pcscd.comm; virtual cards
# must connect from the same network namespace (/proc/<pcscd pid>/ns/net).
set -eu
run_dir=$1
conf_dir=$2
shift 2
ip link set lo up
mount --make-rprivate /
mount -t tmpfs tokenbench-pcscd-run /run
mkdir -p /run/pcscd
mount --bind "$run_dir" /run/pcscd
exec pcscd --foreground -c "$conf_dir" "$@"
