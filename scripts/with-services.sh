#!/bin/bash
# Run a command with the services the tests use, and stop them afterwards whatever happens.
#   PostgreSQL: a private throw-away cluster on a unix socket and loopback port, as user postgres.
# Exports TOKENBENCH_PG_URL for the storage tests.
set -euo pipefail

run_dir=$(mktemp -d /tmp/tokenbench-services.XXXXXX)
chmod 755 "$run_dir"
chown postgres: "$run_dir"  # the server writes its log and socket here
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pg_data="$run_dir/pg"
# A free loopback port, so that several runs (developers, CI) never collide.
pg_port=${TOKENBENCH_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

stop_services() {
    if [ -n "${pg_bin:-}" ] && [ -f "$pg_data/postmaster.pid" ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$run_dir"
}
trap stop_services EXIT INT TERM

if [ -z "$pg_bin" ]; then
    echo "with-services: PostgreSQL is not installed" >&2
    exit 1
fi
install -d -o postgres -g postgres "$pg_data"
runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres --no-sync >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -w -l "$run_dir/pg.log" \
    -o "-p $pg_port -k $run_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" \
    start >/dev/null
runuser -u postgres -- "$pg_bin/createdb" -h "$run_dir" -p "$pg_port" tokenbench
export TOKENBENCH_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/tokenbench"
echo "with-services: PostgreSQL ready on 127.0.0.1:$pg_port"

set +e
"$@"
status=$?
set -e
exit $status
