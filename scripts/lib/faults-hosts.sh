# Hosts for scripts/faults: each Ketch server (ketch-node + its Postgres) in its own network
# namespace, joined to a bridge by a veth pair; private addresses, no route out. Source it.
# Everything is named after the run (KF_RUN), so `scripts/faults --clean RUN` can remove what a
# crashed run left behind.

KF_NODES=4
KF_NODE_PIDS=()
declare -A KF_NODE_EXTRA=()   # extra ketch-node flags per server index

kf_ns() { echo "${KF_RUN}n$1"; }                 # network namespace of server i (1-4)
kf_addr() { echo "10.213.$KF_NET.$1"; }
kf_data() { echo "$KF_DATA/n$1"; }
# Server i's service journal lives off its data dir, which the disk-full nemesis fills up.
kf_journal_dir() { echo "$KF_DIR/journal.d/n$1"; }
kf_freezer() { echo "/sys/fs/cgroup/freezer/${KF_RUN}n$1"; }
kf_hosts() { local i out=""; for i in $(seq $KF_NODES); do out+="$(kf_addr $i),"; done; echo "${out%,}"; }
kf_now() { "$KF_BIN/ketch-faults" now; }
kf_log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$KF_DIR/nemesis.log" >&2; }

# A /24 under 10.213.0.0/16 that no interface uses yet.
# Sets KF_NET to a 10.213.k.0/24 that no interface uses, and holds a lock (fd 9) until
# kf_hosts_up has put this run's bridge on it, so runs started together never share a network.
# The addresses are read once: `ip ... | grep -q` under pipefail failed whenever grep's early
# exit cut ip off (SIGPIPE), and a network in use was taken for free (two runs on 10.213.0.0/24,
# the second one's clients reaching the first one's nodes).
kf_pick_net() {
  local k addrs
  exec 9>/run/lock/ketch-faults-net.lock
  flock -w 120 9 || { echo "faults: waited 120 s for another run to set up its network (/run/lock/ketch-faults-net.lock)" >&2; return 1; }
  addrs=$(ip -o -4 addr show)
  for k in $(seq 0 250); do
    if ! grep -q " 10\.213\.$k\." <<<"$addrs"; then KF_NET=$k; return 0; fi
  done
  echo "faults: no free 10.213.x.0/24 network; clean old runs with scripts/faults --clean" >&2; return 1
}

kf_hosts_up() {
  local i ns
  ip link add "${KF_RUN}br" type bridge
  ip addr add "10.213.$KF_NET.254/24" dev "${KF_RUN}br"
  ip link set "${KF_RUN}br" up
  exec 9>&-   # the network is taken: let the next run pick
  for i in $(seq $KF_NODES); do
    ns=$(kf_ns $i)
    ip netns add "$ns"
    ip link add "${KF_RUN}h$i" type veth peer name "${KF_RUN}p$i"
    ip link set "${KF_RUN}p$i" netns "$ns"
    ip -n "$ns" link set "${KF_RUN}p$i" name eth0
    ip -n "$ns" addr add "$(kf_addr $i)/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip link set "${KF_RUN}h$i" master "${KF_RUN}br" up
    mkdir -p "$(kf_data $i)"
    # Every server's data on its own small filesystem, so one can be filled up.
    mount -t tmpfs -o "size=${KF_FS_MB:-1024}m,mode=755" "kf-$KF_RUN-$i" "$(kf_data $i)"
    mkdir -p "$(kf_freezer $i)"
  done
}

# Removes everything of run $1 (namespaces, links, mounts, cgroups, processes in them).
kf_clean_run() {
  local run=$1 ns f pid m cg
  for cg in /sys/fs/cgroup/freezer/${run}n*; do
    [ -d "$cg" ] || continue
    echo THAWED > "$cg/freezer.state" 2>/dev/null
    for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; done
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${run}n" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; done
  done
  sleep 0.3
  for cg in /sys/fs/cgroup/freezer/${run}n*; do [ -d "$cg" ] && rmdir "$cg" 2>/dev/null; done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${run}n" || true); do ip netns del "$ns" 2>/dev/null; done
  ip link del "${run}br" 2>/dev/null
  for m in $(awk -v r="kf-$run-" 'index($1, r) == 1 {print $2}' /proc/mounts); do umount -l "$m" 2>/dev/null; done
  rm -rf "/tmp/kf-$run" 2>/dev/null
  true
}

kf_node_env() {
  local i=$1
  local rate=${KF_CLOCK_RATE[$i]:-1}
  mkdir -p "$(kf_journal_dir "$i")"
  echo "KETCH_SERVICE_JOURNAL=$(kf_journal_dir "$i") KETCH_DB_CLIENT_NETWORKS=10.213.$KF_NET.0/24,127.0.0.0/8 KETCH_TEST_CLOCK_RATE=$rate KETCH_SECRET_FILE=$KF_DATA/secret"
}

# Starts server i inside its namespace and freezer cgroup; its PID is KF_NODE_PIDS[i].
kf_start_node() {
  local i=$1 members="" j
  for j in $(seq $KF_NODES); do members+="$(kf_addr $j),"; done
  # shellcheck disable=SC2046
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$(kf_freezer $i)" \
    ip netns exec "$(kf_ns $i)" env $(kf_node_env $i) \
    "$KF_BIN/ketch-node" --api-server "$(kf_addr $i)" --member-list "${members%,}" --data-dir "$(kf_data $i)" \
    ${KF_NODE_ARGS:-} ${KF_NODE_EXTRA[$i]:-} run >>"$KF_DIR/logs/server$i.log" 2>&1 &
  KF_NODE_PIDS[$i]=$!
  echo "$! server$i" >> "$KF_DIR/pids"
}

kf_node_alive() { [ -n "${KF_NODE_PIDS[$1]:-}" ] && kill -0 "${KF_NODE_PIDS[$1]}" 2>/dev/null; }

kf_ctl() { local i=$1; shift; timeout 20 "$KF_BIN/ketchctl" --api-server "$(kf_addr "$i")" --secret-file "$KF_DATA/secret" --timeout 10 "$@"; }

# PID of server i's postmaster (from its pid file; checked to be alive), or nothing.
kf_postmaster() {
  local f pid
  for f in "$(kf_data "$1")"/*/postmaster.pid; do
    [ -f "$f" ] || continue
    pid=$(head -1 "$f" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  done
  return 1
}

# The postmaster and all its children.
kf_postgres_pids() {
  local pm; pm=$(kf_postmaster "$1") || return 0
  echo "$pm"; ps -o pid= --ppid "$pm" 2>/dev/null | tr -d ' '
}

# Superuser SQL on server i over its Unix socket, inside its namespace.
kf_psql() {
  local i=$1; shift
  timeout 10 ip netns exec "$(kf_ns "$i")" runuser -u postgres -- psql -h "$(kf_data "$i")" -p 5432 -d postgres -X -qAt -c "$1" 2>/dev/null
}

# Index (1-4) of the server whose copy is the open primary.
kf_primary() {
  local i
  for i in $(seq $KF_NODES); do
    kf_node_alive "$i" || continue
    kf_ctl "$i" get dbmgr -o json 2>/dev/null | grep -q '"primary-open"' && { echo "$i"; return 0; }
  done
  return 1
}

# Indexes of the in-sync data-quorum standbys, from any live node's view of the replica.
kf_sync_standbys() {
  local i p
  p=$(kf_primary || true)
  for i in $p $(seq $KF_NODES); do
    kf_node_alive "$i" || continue
    kf_ctl "$i" get replica -o json 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)["data"]
for r in d:
    for m in r["attributes"]["members"]:
        if m.get("dataState")=="in-sync" and m["role"]!="primary": print(m["name"])' | while read -r a; do echo "${a##*.}"; done
    return 0
  done
}

kf_in_sync_addrs() {
  local s out=""; for s in $(kf_sync_standbys); do out+="$(kf_addr "$s"),"; done; echo "${out%,}"
}

kf_wait_primary() {
  local deadline=$(( $(date +%s) + ${1:-60} )) p
  while [ "$(date +%s)" -lt "$deadline" ]; do p=$(kf_primary) && { echo "$p"; return 0; }; sleep 0.5; done
  return 1
}

kf_alive_count() { local n; n=$(kf_ctl "$1" get server 2>/dev/null | grep -c 'health: alive'); echo "${n:-0}"; }
