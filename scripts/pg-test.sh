#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: `scripts/pg-test.sh cargo test -p X`.
#
# The cluster lives in a fresh temporary directory, listens only on 127.0.0.1 at a free port
# (and on a Unix socket inside that directory), and is stopped and deleted when the command
# ends, however it ends. The command sees SERVERSYNC_TEST_POSTGRES_URL, a superuser URL with a
# random password (the tests create one database each). PostgreSQL refuses to run as root, so
# as root the server runs as the unprivileged user $PG_TEST_USER (default `postgres`).
# The server binaries are taken from $PG_BIN, else the newest /usr/lib/postgresql/*/bin, else
# PATH. The command's exit status is the script's.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

bin="${PG_BIN:-}"
if [ -z "$bin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -n "$bin" ]; then initdb="$bin/initdb"; pg_ctl="$bin/pg_ctl"; else
  initdb=$(command -v initdb || true); pg_ctl=$(command -v pg_ctl || true)
fi
if [ ! -x "${initdb:-}" ] || [ ! -x "${pg_ctl:-}" ]; then
  echo "pg-test.sh: initdb/pg_ctl not found (install the PostgreSQL server, or set PG_BIN)" >&2
  exit 1
fi

# As root, run the server's tools as an unprivileged user.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  user="${PG_TEST_USER:-postgres}"
  if ! id "$user" >/dev/null 2>&1; then
    echo "pg-test.sh: running as root needs an unprivileged user (PG_TEST_USER=$user does not exist)" >&2
    exit 1
  fi
  as_user=(runuser -u "$user" --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/serversync-pg.XXXXXX")
chmod 700 "$dir"
[ "${#as_user[@]}" -gt 0 ] && chown "$user" "$dir"
data="$dir/data"

stop() {
  if [ -f "$data/postmaster.pid" ]; then
    "${as_user[@]}" "$pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

# A free loopback port: one nobody answers on (the server fails to start if it is taken
# meanwhile, and then the next one is tried).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# A password of letters and digits: the URL needs no encoding. The file is private.
password=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)
printf '%s\n' "$password" >"$dir/pwfile"
chmod 600 "$dir/pwfile"
[ "${#as_user[@]}" -gt 0 ] && chown "$user" "$dir/pwfile"

"${as_user[@]}" "$initdb" -D "$data" -U serversync --pwfile="$dir/pwfile" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$dir/pwfile"

started=""
for _ in 1 2 3; do
  port=$(free_port) || break
  if "${as_user[@]}" "$pg_ctl" -D "$data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
    start >/dev/null 2>&1; then
    started=1
    break
  fi
done
if [ -z "$started" ]; then
  echo "pg-test.sh: the PostgreSQL server did not start:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
fi
echo "pg-test.sh: PostgreSQL $("$bin/postgres" --version 2>/dev/null | awk '{print $3}') on 127.0.0.1:$port (data in $data)" >&2

export SERVERSYNC_TEST_POSTGRES_URL="postgres://serversync:$password@127.0.0.1:$port/postgres"
set +e
"$@"
status=$?
set -e
exit "$status"
