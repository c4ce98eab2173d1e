#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: `start DIR` initialises a cluster in DIR (trust auth,
# 127.0.0.1, a free port), starts it and prints its URL; `stop DIR` stops it and removes DIR;
# `pause DIR` stops it keeping DIR, `resume DIR` starts it again on the same port (an outage).
# Installs the server with apt when its binaries are missing (a fresh CI machine).
set -euo pipefail

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)"
}

# initdb refuses to run as root: the cluster then belongs to the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir="$1" bin port
  bin="$(find_bin || true)"
  if [ -z "$bin" ]; then
    echo "installing PostgreSQL with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    bin="$(find_bin)"
  fi
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c max_connections=300" \
    start >/dev/null
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
  local dir="$1" bin
  bin="$(find_bin)"
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
}

pause() {
  as_owner "$(find_bin)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

# restart on a stopped cluster starts it with the options of its last start (postmaster.opts).
resume() {
  as_owner "$(find_bin)/pg_ctl" -D "$1/data" -l "$1/server.log" -w restart >/dev/null 2>&1
}

case "${1:-}" in
  start) start "${2:?start DIR}" ;;
  stop) stop "${2:?stop DIR}" ;;
  pause) pause "${2:?pause DIR}" ;;
  resume) resume "${2:?resume DIR}" ;;
  *) echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2 ;;
esac
