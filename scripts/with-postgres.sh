#!/usr/bin/env bash
# Runs COMMAND... against a throwaway PostgreSQL 15 server:
#
#   scripts/with-postgres.sh cargo test -p rolecall-store-postgres
#
# Installs the server binaries when missing (Debian's `postgresql` package; needs root), starts a
# private cluster as the `postgres` OS user in a temporary directory, listening on 127.0.0.1 on a
# free port with trust authentication, exports
# ROLECALL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres (TLS on too: the CA that
# verifies it is ROLECALL_TEST_PG_CA, for sslmode=verify-full), runs the command, and
# always stops the server and removes the directory. Exits with the command's status.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

PG_BIN=""
find_bin() {
  PG_BIN=""
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      PG_BIN="$d"
      return 0
    fi
  done
  return 1
}

APT_INSTALL="$(dirname "$0")/apt-install.sh"
if ! find_bin; then
  "$APT_INSTALL" with-postgres postgresql
  find_bin || { echo "with-postgres: no PostgreSQL server binaries after install" >&2; exit 1; }
fi

# initdb refuses to run as root: run the server as an unprivileged OS user.
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres 2>/dev/null \
      || useradd -r -U -M -s /bin/false postgres
  fi
  if command -v runuser >/dev/null 2>&1; then
    RUN_AS=(runuser -u postgres --)
  else
    RUN_AS=(su postgres -s /bin/sh -c)
  fi
fi
as_pg() {
  if [ "${#RUN_AS[@]}" -eq 0 ]; then
    "$@"
  elif [ "${RUN_AS[0]}" = runuser ]; then
    "${RUN_AS[@]}" "$@"
  else
    "${RUN_AS[@]}" "$(printf '%q ' "$@")"
  fi
}

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    while :; do
      p=$(( (RANDOM % 20000) + 40000 ))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
  fi
}

# Under /tmp (not $TMPDIR, which may sit where the postgres user cannot reach).
DIR="$(mktemp -d /tmp/rolecall-pg.XXXXXX)"
chmod 0755 "$DIR"
mkdir -p "$DIR/data" "$DIR/socket"
if [ "$(id -u)" -eq 0 ]; then
  chown -R postgres: "$DIR"
fi
chmod 0700 "$DIR/data"

STARTED=0
cleanup() {
  local status=$?
  if [ "$STARTED" -eq 1 ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }

# TLS as well as plain connections: a test CA and a server certificate for 127.0.0.1/localhost,
# so tests can connect with sslmode=verify-full (ROLECALL_TEST_PG_CA is the CA to trust).
command -v openssl >/dev/null 2>&1 || "$APT_INSTALL" with-postgres openssl
TLS="$DIR/tls"
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=rolecall test CA" -keyout "$TLS/ca.key" -out "$TLS/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$TLS/server.key" -out "$TLS/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$TLS/ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
  -days 2 -extfile "$TLS/ext" -out "$TLS/server.pem" >/dev/null 2>&1
chmod 0600 "$TLS/server.key"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$TLS"; fi
chmod 0755 "$TLS"; chmod 0644 "$TLS/ca.pem"

PORT=""
for attempt in 1 2 3 4 5; do
  PORT="$(free_port)"
  if as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR/socket -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$TLS/server.pem -c ssl_key_file=$TLS/server.key" \
      start >/dev/null; then
    STARTED=1
    break
  fi
  echo "with-postgres: start on port $PORT failed (attempt $attempt)" >&2
  tail -n 20 "$DIR/server.log" >&2 || true
done
if [ "$STARTED" -ne 1 ]; then
  echo "with-postgres: could not start PostgreSQL" >&2
  exit 1
fi

export ROLECALL_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export ROLECALL_TEST_PG_CA="$TLS/ca.pem"
echo "with-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $ROLECALL_TEST_DATABASE_URL" >&2

set +e
"$@"
status=$?
set -e
exit "$status"
