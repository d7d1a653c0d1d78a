#!/usr/bin/env bash
# A private PostgreSQL server for the replica tests and the benchmark: its own data folder, its
# own port on 127.0.0.1, password authentication (scram-sha-256) and TLS with a CA made here.
# As root the server runs as the `postgres` user (initdb refuses root).
#
# Usage: tests/replicas/postgres.sh start|stop|restart|status DIR
#   start    creates DIR (must not exist or be empty), starts the server, writes DIR/env:
#            PGPORT, PGDATA, HOOKRUN_TEST_POSTGRES (a URL without password),
#            HOOKRUN_TEST_POSTGRES_PASSWORD_FILE, HOOKRUN_TEST_POSTGRES_CA
#   stop     stops the server started in DIR (fast shutdown) and leaves DIR
#   restart  stops and starts it again on the same port (what clients see as a restart)
#   status   exits 0 when it runs
set -euo pipefail

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
[ "$#" -eq 2 ] || usage
action=$1
dir=$2
case "$action" in start|stop|restart|status) ;; *) usage ;; esac
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac

bindir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "postgres.sh: PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
  exit 1
fi

# Runs a PostgreSQL program as the server's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_ctl_() {
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 "$@"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_certificates() {
  local tls=$dir/tls
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=hookrun test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1
  printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n' >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 3 -extfile "$tls/ext.cnf" -out "$tls/server.pem" >/dev/null 2>&1
  chmod 600 "$tls/server.key"
}

start() {
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    echo "postgres.sh: $dir is not empty" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$dir"; then
    echo "postgres.sh: the postgres user cannot reach $dir (a parent folder is private)" >&2
    exit 1
  fi
  local password port
  password=$(openssl rand -hex 16)
  printf '%s\n' "$password" >"$dir/password"
  chmod 644 "$dir/password" # the test processes read it; the folder is a temporary one
  make_certificates
  mkdir -p "$dir/data" "$dir/run"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$dir/data" "$dir/run" "$dir/tls"
  fi
  touch "$dir/server.log"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$dir/server.log"
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --pwfile="$dir/password" -E UTF8 --locale=C.UTF-8 >/dev/null
  port=$(free_port)
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
max_connections = 200
ssl = on
ssl_cert_file = '$dir/tls/server.pem'
ssl_key_file = '$dir/tls/server.key'
EOF
  pg_ctl_ start >/dev/null
  cat >"$dir/env" <<EOF
PGPORT=$port
PGDATA=$dir/data
HOOKRUN_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres
HOOKRUN_TEST_POSTGRES_PASSWORD_FILE=$dir/password
HOOKRUN_TEST_POSTGRES_CA=$dir/tls/ca.pem
HOOKRUN_TEST_POSTGRES_DIR=$dir
EOF
}

case "$action" in
  start) start ;;
  stop) pg_ctl_ stop -m fast >/dev/null ;;
  restart) pg_ctl_ restart -m fast >/dev/null ;;
  status) pg_ctl_ status >/dev/null ;;
esac
