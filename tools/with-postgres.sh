#!/usr/bin/env bash
# Runs a command beside a throw-away PostgreSQL cluster: made with initdb in a temporary folder,
# listening on 127.0.0.1 on a free port, gone when the command ends. The command finds the
# cluster's URL in CLICKSCRIPT_TEST_POSTGRES (the collector's tests and the browser suite then
# run on PostgreSQL instead of SQLite).
#
#   tools/with-postgres.sh cargo test -p collector
#
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "with-postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/clickscript-pg.XXXXXX")
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
stop() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# A port the kernel hands out as free; another process could take it before the cluster
# does, so the start is tried again on another.
for _ in 1 2 3 4 5; do
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  # Tests need no durability across a power cut: fsync off keeps the suite fast.
  if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
      start >/dev/null; then
    export CLICKSCRIPT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
    echo "with-postgres: PostgreSQL on 127.0.0.1:$port" >&2
    "$@"
    exit $?
  fi
done
cat "$dir/server.log" >&2
echo "with-postgres: the cluster did not start" >&2
exit 1
