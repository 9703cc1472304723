# Starts a private PostgreSQL cluster (Debian's binaries) on a free port in a temporary
# directory and exports DATABASE_URL. Source it, then call start_postgres / stop_postgres.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DIR=""

start_postgres() {
  PG_DIR=$(mktemp -d /tmp/tocsin-pg.XXXXXX)
  local port
  port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  local as=()
  # initdb refuses to run as root: run the cluster as the postgres user.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U tocsin --auth=trust -E UTF8 >/dev/null
  "${as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  "${as[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U tocsin tocsin
  export DATABASE_URL="postgres://tocsin@127.0.0.1:$port/tocsin"
}

stop_postgres() {
  [ -n "$PG_DIR" ] || return 0
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
