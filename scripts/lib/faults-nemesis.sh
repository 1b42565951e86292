# Nemeses for scripts/faults: each injects one fault and records it; kf_heal_all undoes every
# fault still standing. Faults are logged to faults.txt as '<start-ns> <healed-ns|-> <name>'.
# Source it after faults-hosts.sh.

KF_LEASE_MS=${KF_LEASE_MS:-2000}
KF_FAULT_START=""
KF_FAULT_NAME=""
KF_PAUSED=()        # PIDs stopped with SIGSTOP
KF_FROZEN=()        # server indexes frozen by cgroup
KF_CUT=()           # server indexes with an nft table
KF_KILLED=()        # server indexes whose ketch-node must be restarted
KF_FILLED=()        # filler files
KF_QUEUED=()        # server indexes with an NFQUEUE rule (badnet delay/reorder)
KF_DELAYQ_PIDS=()   # kf-delayq.py processes releasing those queues

kf_fault_begin() { KF_FAULT_NAME=$1; KF_FAULT_START=$(kf_now); kf_log "inject $1"; KF_FAULTS_INJECTED=$((KF_FAULTS_INJECTED + 1)); }
kf_fault_end() {
  [ -n "$KF_FAULT_START" ] || return 0
  echo "$KF_FAULT_START $(kf_now) $KF_FAULT_NAME" >> "$KF_DIR/faults.txt"
  kf_log "healed $KF_FAULT_NAME"
  KF_FAULT_START=""
}

kf_sleep_leases() { sleep "$(awk -v l="$1" -v ms="$KF_LEASE_MS" 'BEGIN { printf "%.3f", l * ms / 1000 }')"; }
kf_pick() { local a=("$@"); echo "${a[$((RANDOM % ${#a[@]}))]}"; }

# A target: "primary" or "standby" (an in-sync data-quorum standby), as a server index.
kf_target() {
  local p s
  p=$(kf_wait_primary 60) || { kf_log "no open primary to pick a target from"; return 1; }
  if [ "$1" = primary ]; then echo "$p"; return 0; fi
  s=$(kf_sync_standbys | head -1)
  [ -n "$s" ] && { echo "$s"; return 0; }
  for s in $(seq $KF_NODES); do [ "$s" != "$p" ] && { echo "$s"; return 0; }; done
}

# --- crash ---------------------------------------------------------------------------------
kf_crash_one() {   # what(node|postgres|both) server
  local what=$1 i=$2 pm
  pm=$(kf_postmaster "$i" || true)
  case "$what" in
    node|both) kill -KILL "${KF_NODE_PIDS[$i]}" 2>/dev/null; KF_KILLED+=("$i") ;;
  esac
  case "$what" in
    postgres|both) [ -n "$pm" ] && kill -KILL "$pm" 2>/dev/null ;;
  esac
}

kf_nemesis_crash() {
  local what role i j
  what=$(kf_pick node postgres both); role=$(kf_pick primary standby)
  if [ $((RANDOM % 4)) = 0 ]; then
    i=$(kf_target primary) || return 0
    kf_fault_begin "crash-two-in-turn-$what"
    kf_crash_one "$what" "$i"; sleep 4
    j=$(kf_wait_primary 30 || true)
    [ -n "$j" ] && [ "$j" != "$i" ] && kf_crash_one "$what" "$j"
    sleep 4
  else
    i=$(kf_target "$role") || return 0
    kf_fault_begin "crash-$what-$role(server$i)"
    kf_crash_one "$what" "$i"
    sleep $((3 + RANDOM % 6))
  fi
  kf_heal_all
}

# --- pause ---------------------------------------------------------------------------------
kf_nemesis_pause() {
  local what role leases i pids
  what=$(kf_pick node postgres host); role=$(kf_pick primary standby); leases=$(kf_pick 0.5 1 2 10)
  i=$(kf_target "$role") || return 0
  kf_fault_begin "pause-$what-$role(server$i)-${leases}leases"
  case "$what" in
    node) pids=${KF_NODE_PIDS[$i]} ;;
    postgres) pids=$(kf_postgres_pids "$i") ;;
    host) pids="" ; echo FROZEN > "$(kf_freezer "$i")/freezer.state"; KF_FROZEN+=("$i") ;;
  esac
  for p in $pids; do kill -STOP "$p" 2>/dev/null && KF_PAUSED+=("$p"); done
  kf_sleep_leases "$leases"
  kf_heal_all
}

# --- partition -----------------------------------------------------------------------------
# Drops all traffic between server i and the given addresses (both directions, or one: in|out).
kf_cut() {
  local i=$1 dir=$2; shift 2
  local ns; ns=$(kf_ns "$i")
  ip netns exec "$ns" nft add table inet kf 2>/dev/null
  ip netns exec "$ns" nft 'add chain inet kf in { type filter hook input priority 0; }' 2>/dev/null
  ip netns exec "$ns" nft 'add chain inet kf out { type filter hook output priority 0; }' 2>/dev/null
  local a
  for a in "$@"; do
    [ "$dir" = out ] || ip netns exec "$ns" nft add rule inet kf in ip saddr "$a" drop
    [ "$dir" = in ] || ip netns exec "$ns" nft add rule inet kf out ip daddr "$a" drop
  done
  KF_CUT+=("$i")
}

# Splits servers into groups, e.g. "1,2|3,4": no traffic between groups.
kf_split() {
  local spec=$1 g1=${1%%|*} g2=${1#*|} a b
  for a in ${g1//,/ }; do for b in ${g2//,/ }; do kf_cut "$a" both "$(kf_addr "$b")"; kf_cut "$b" both "$(kf_addr "$a")"; done; done
}

kf_nemesis_partition() {
  local kind p others o1 o2 o3 s
  kind=$(kf_pick primary-alone two-two three-one-primary-majority bridge one-way)
  p=$(kf_target primary) || return 0
  others=(); for s in $(seq $KF_NODES); do [ "$s" != "$p" ] && others+=("$s"); done
  o1=${others[0]}; o2=${others[1]}; o3=${others[2]}
  kf_fault_begin "partition-$kind(primary=server$p)"
  case "$kind" in
    primary-alone) kf_split "$p|$o1,$o2,$o3" ;;
    two-two) kf_split "$p,$o1|$o2,$o3" ;;
    three-one-primary-majority) kf_split "$o3|$p,$o1,$o2" ;;
    bridge) kf_split "$p|$o2,$o3"; kf_split "$o1|$o3"; kf_log "bridge: server$o2 sees both sides" ;;
    one-way)
      if [ $((RANDOM % 2)) = 0 ]; then kf_cut "$p" out "$(kf_addr "$o1")" "$(kf_addr "$o2")" "$(kf_addr "$o3")"; kf_log "one-way: primary's packets to peers dropped"
      else kf_cut "$p" in "$(kf_addr "$o1")" "$(kf_addr "$o2")" "$(kf_addr "$o3")"; kf_log "one-way: peers' packets to the primary dropped"; fi ;;
  esac
  sleep $((4 + RANDOM % 10))
  kf_heal_all
}

# --- bad network -------------------------------------------------------------------------
# This kernel has no sch_netem: loss and duplication are nft rules; delay, jitter and reordering
# hold each outgoing packet of the server in an NFQUEUE (iptables-legacy, --queue-bypass) that
# scripts/lib/kf-delayq.py, running in the server's namespace, releases after delay +/- jitter.
kf_nemesis_badnet() {
  local kind i pct ns d j
  kind=$(kf_pick loss duplicate delay reorder)
  i=$(kf_target "$(kf_pick primary standby)") || return 0
  ns=$(kf_ns "$i")
  case "$kind" in
    loss|duplicate)
      pct=$(kf_pick 5 20 40)
      kf_fault_begin "badnet-$kind-${pct}pct(server$i)"
      ip netns exec "$ns" nft add table inet kf
      ip netns exec "$ns" nft 'add chain inet kf in { type filter hook input priority 0; }'
      ip netns exec "$ns" nft 'add chain inet kf out { type filter hook output priority 0; }'
      KF_CUT+=("$i") ;;
    delay|reorder)
      if [ "$kind" = delay ]; then d=$(kf_pick 20 100 300); j=$((d / 2)); else d=10; j=10; fi
      kf_fault_begin "badnet-$kind-${d}ms-jitter${j}ms(server$i)"
      ip netns exec "$ns" python3 "$KETCH_ROOT/scripts/lib/kf-delayq.py" 0 "$d" "$j" "$RANDOM" 2>>"$KF_DIR/nemesis.log" &
      KF_DELAYQ_PIDS+=("$!")
      ip netns exec "$ns" iptables-legacy -w -I OUTPUT ! -o lo -j NFQUEUE --queue-num 0 --queue-bypass
      KF_QUEUED+=("$i") ;;
  esac
  case "$kind" in
    loss)
      ip netns exec "$ns" nft add rule inet kf in numgen random mod 100 '<' "$pct" drop
      ip netns exec "$ns" nft add rule inet kf out numgen random mod 100 '<' "$pct" drop ;;
    duplicate)
      # `dup` is refused in an inet table ("unsupported family"): the copies come from an ip
      # table of their own (until 28 Nov the rules failed and nothing was duplicated).
      ip netns exec "$ns" nft add table ip kfdup
      ip netns exec "$ns" nft 'add chain ip kfdup out { type filter hook output priority 0; }'
      local s; for s in $(seq $KF_NODES) 254; do
        [ "$s" = "$i" ] && continue
        local a; [ "$s" = 254 ] && a=10.213.$KF_NET.254 || a=$(kf_addr "$s")
        ip netns exec "$ns" nft add rule ip kfdup out ip daddr "$a" numgen random mod 100 '<' "$pct" dup to "$a" \
          || echo "faults: could not install the duplicate rule toward $a on server$i" >&2
      done ;;
  esac
  sleep $((5 + RANDOM % 10))
  kf_heal_all
}

# --- disk full -----------------------------------------------------------------------------
kf_nemesis_diskfull() {
  local i f
  i=$(kf_target "$(kf_pick primary standby)") || return 0
  f=$(kf_data "$i")/filler
  kf_fault_begin "disk-full(server$i)"
  KF_FILLED+=("$f")
  dd if=/dev/zero of="$f" bs=1M status=none 2>/dev/null || true
  sleep $((5 + RANDOM % 10))
  kf_heal_all
}

# --- sync-commit cancel --------------------------------------------------------------------
kf_nemesis_synccancel() {
  local kind p s pids t
  kind=$(kf_pick cancel terminate restart-primary)
  p=$(kf_target primary) || return 0
  s=$(kf_target standby) || return 0
  kf_fault_begin "sync-$kind(primary=server$p,held-standby=server$s)"
  # Hold commits: the standby's Postgres stops acknowledging WAL.
  pids=$(kf_postgres_pids "$s")
  for t in $pids; do kill -STOP "$t" 2>/dev/null && KF_PAUSED+=("$t"); done
  sleep 0.5
  case "$kind" in
    cancel|terminate)
      for t in $(seq 10); do
        kf_psql "$p" "SELECT count($(kf_fn_name "$kind")(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'" >/dev/null
        sleep 0.3
      done ;;
    restart-primary)
      # kill -9 of the primary's node and postmaster while commits wait; the heal starts the node again.
      kf_crash_one both "$p"
      sleep 2 ;;
  esac
  kf_heal_all
}
# pg_cancel_backend / pg_terminate_backend
kf_fn_name() { [ "$1" = cancel ] && echo pg_cancel_backend || echo pg_terminate_backend; }

# --- clock ---------------------------------------------------------------------------------
# Restarts the primary with its clock (node and watchdog) at RATE, makes it primary again,
# then stops its node so the others must take over while its clock is off.
kf_clock_fault() {
  local name=$1 rate=$2 hold=${3:-10} p
  p=$(kf_target primary) || return 0
  kf_fault_begin "$name-rate-$rate(server$p)"
  local k
  if [ "${KF_CLOCK_RATE[$p]:-1}" != "$rate" ]; then
    kill -TERM "${KF_NODE_PIDS[$p]}"
    for k in $(seq 200); do kf_node_alive "$p" || break; sleep 0.1; done
    KF_CLOCK_RATE[$p]=$rate
    kf_start_node "$p"
    kf_wait_primary 60 >/dev/null
    for k in $(seq 60); do [ "$(kf_alive_count "$p")" -ge 4 ] && break; sleep 0.5; done
  fi
  if [ "$(kf_primary)" != "$p" ]; then
    timeout 70 "$KF_BIN/ketchctl" --api-server "$(kf_addr "$p")" --secret-file "$KF_DATA/secret" --timeout 65 \
      failover "$KF_DB" --to "$(kf_addr "$p")" >>"$KF_DIR/nemesis.log" 2>&1 || kf_log "failover to server$p refused"
  fi
  for k in $(seq 60); do [ "$(kf_primary)" = "$p" ] && break; sleep 0.5; done
  kf_log "primary before the partition: server$(kf_primary || echo '?') (clock rate $rate on server$p)"
  sleep 2
  # Cut it from its peers and stop its node: it can neither renew nor step down, so only its
  # watchdog — on the same skewed clock — ends its service, while the others take over on theirs.
  # Clients still reach its Postgres.
  kill -STOP "${KF_NODE_PIDS[$p]}" && KF_PAUSED+=("${KF_NODE_PIDS[$p]}")
  kf_split "$p|$(for k in $(seq $KF_NODES); do [ "$k" != "$p" ] && printf '%s,' "$k"; done | sed 's/,$//')"
  sleep "$hold"
  kf_heal_all
  KF_CLOCK_RATE[$p]=1
  kill -TERM "${KF_NODE_PIDS[$p]}"
  for k in $(seq 200); do kf_node_alive "$p" || break; sleep 0.1; done
  kf_start_node "$p"
}
# Within the 10% drift bound: 7% slow or 7% fast.
kf_nemesis_clock() { if [ $((RANDOM % 2)) = 0 ]; then kf_clock_fault clock-slow 0.93; else kf_clock_fault clock-fast 1.07; fi; }
# 0.12 × real time: its 1.64 s lease lasts 13.7 s of real time, longer than a takeover that must
# rewind a standby (about 11 s here); it renews every 100 ms of its clock (0.8 s real) so the
# acceptors' 2 s grants do not lapse between renewals while nothing is wrong.
kf_nemesis_clockbeyond() { kf_clock_fault clock-beyond-bound 0.12 20; }

# --- heal ----------------------------------------------------------------------------------
kf_heal_all() {
  local p i f
  for i in "${KF_CUT[@]}"; do
    ip netns exec "$(kf_ns "$i")" nft delete table inet kf 2>/dev/null
    ip netns exec "$(kf_ns "$i")" nft delete table ip kfdup 2>/dev/null
  done; KF_CUT=()
  for i in "${KF_QUEUED[@]}"; do ip netns exec "$(kf_ns "$i")" iptables-legacy -w -F OUTPUT 2>/dev/null; done; KF_QUEUED=()
  for p in "${KF_DELAYQ_PIDS[@]}"; do kill "$p" 2>/dev/null; done; KF_DELAYQ_PIDS=()
  for i in "${KF_FROZEN[@]}"; do echo THAWED > "$(kf_freezer "$i")/freezer.state"; done; KF_FROZEN=()
  for p in "${KF_PAUSED[@]}"; do kill -CONT "$p" 2>/dev/null; done; KF_PAUSED=()
  for f in "${KF_FILLED[@]}"; do rm -f "$f"; done; KF_FILLED=()
  for i in "${KF_KILLED[@]}"; do
    kf_node_alive "$i" && continue
    # The lock on a killed node's data dir goes with it; a second start is refused while it lives.
    kf_start_node "$i"
  done; KF_KILLED=()
  kf_fault_end
}
