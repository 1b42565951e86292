# Shared by the bench scripts: a throwaway 4-node cluster on 127.0.2.1-4 with its own ports.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/ketch-bench-XXXXXX)}
chmod 755 "$BENCH_DIR"
BENCH_MEMBER_PORT=${BENCH_MEMBER_PORT:-37459}
BENCH_API_PORT=${BENCH_API_PORT:-37460}
BENCH_DB_PORT=${BENCH_DB_PORT:-35432}
BENCH_HTTP_PORT=${BENCH_HTTP_PORT:-37461}
BENCH_PASSWORD=bench-password
export KETCH_SECRET_FILE=$BENCH_DIR/secret
NODE_PIDS=()

bench_addr() { echo "127.0.2.$(( $1 + 1 ))"; }
bench_members() { local i out=""; for i in 0 1 2 3; do out+="$(bench_addr $i):$BENCH_MEMBER_PORT,"; done; echo "${out%,}"; }
bench_ctl() { local i=$1; shift; "$(ketch_bin ketchctl)" --api-server "$(bench_addr "$i")" --api-port "$BENCH_API_PORT" "$@"; }

bench_start_node() {
  local i=$1
  "$(ketch_bin ketch-node)" --api-server "$(bench_addr "$i")" --api-port "$BENCH_API_PORT" --member-port "$BENCH_MEMBER_PORT" --http-port "$BENCH_HTTP_PORT" \
    --member-list "$(bench_members)" --data-dir "$BENCH_DIR/server$((i+1))" ${BENCH_NODE_ARGS:-} run >>"$BENCH_DIR/server$((i+1)).log" 2>&1 &
  NODE_PIDS[$i]=$!
  # Killed on purpose by the benches: keep bash's "Killed" job notices out of their output.
  disown "${NODE_PIDS[$i]}"
}

BENCH_CHILDREN=()

bench_cleanup() {
  set +e
  local pid
  touch "$BENCH_DIR/stop" 2>/dev/null || true
  for pid in "${BENCH_CHILDREN[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${NODE_PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null; done
  for pid in "${NODE_PIDS[@]}"; do for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$pid" 2>/dev/null; done
  # Postmasters of nodes killed with -9 outlive them: stop those of this run only, by PID.
  local f; for f in "$BENCH_DIR"/server*/*/postmaster.pid; do [ -f "$f" ] && kill -KILL "$(head -1 "$f")" 2>/dev/null; done
  [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$BENCH_DIR"
}

bench_up() {
  ketch_ensure_packages >&2
  ketch_build >&2
  (umask 077; head -c 32 /dev/urandom | base64 > "$KETCH_SECRET_FILE")
  local i
  for i in 0 1 2 3; do bench_start_node $i; done
  for _ in $(seq 100); do
    [ "$(bench_ctl 0 get server 2>/dev/null | grep -c 'health: alive')" -ge 4 ] && break; sleep 0.2
  done
  printf 'data:\n- attributes:\n    name: benchdb\n    quorumGroupSize: 3\n    dbConfig:\n      username: bench\n      password: %s\n      port: %s\n      closedPort: %s\n  type: replica\n' \
    "$BENCH_PASSWORD" "$BENCH_DB_PORT" "$((BENCH_DB_PORT+1))" | bench_ctl 0 create replica -f - >&2
  for _ in $(seq 240); do bench_sql "CREATE TABLE IF NOT EXISTS w(id bigint PRIMARY KEY)" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "bench: database never opened" >&2; return 1
}

bench_conninfo() {
  echo "host=$(bench_addr 0),$(bench_addr 1),$(bench_addr 2),$(bench_addr 3) port=$BENCH_DB_PORT user=bench dbname=benchdb target_session_attrs=read-write connect_timeout=1"
}
bench_sql() { PGPASSWORD=$BENCH_PASSWORD timeout 5 psql "$(bench_conninfo)" -X -qAt -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }

# Index of the server whose Postgres is the open primary (waits up to 10 s: a copy reports its
# state at its next status poll).
bench_primary() {
  local i
  for _ in $(seq 50); do
    for i in 0 1 2 3; do
      bench_ctl "$i" get dbmgr -o json 2>/dev/null | grep -q '"primary-open"\|"open"' && { echo "$i"; return 0; }
    done
    sleep 0.2
  done
  return 1
}

# The C writer (bench/writer.c): one persistent libpq connection through the multi-host string,
# reconnecting at once on failure; appends "id start end" per acknowledged insert.
bench_writer_build() {
  local out=$BENCH_DIR/writer
  ${CC:-cc} -O2 -Wall $(pkg-config --cflags libpq) "$(dirname "${BASH_SOURCE[0]}")/writer.c" $(pkg-config --libs libpq) -o "$out" >&2
}
# Starts the writer on CONNINFO appending to FILE; its PID joins BENCH_CHILDREN.
bench_writer_start() {
  PGPASSWORD=$BENCH_PASSWORD "$BENCH_DIR/writer" "$1" "$2" "$BENCH_DIR/stop" &
  BENCH_CHILDREN+=("$!")
}
# Acknowledged ids missing from the table.
bench_lost() {
  cut -d' ' -f1 "$1" > "$BENCH_DIR/acked.ids"
  bench_sql "SELECT id FROM w" > "$BENCH_DIR/stored.ids"
  awk 'NR==FNR { stored[$1] = 1; next } !($1 in stored)' "$BENCH_DIR/stored.ids" "$BENCH_DIR/acked.ids" | wc -l
}
