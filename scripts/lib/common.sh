# Shared by scripts/demo, scripts/test and the bench scripts. Source it; do not run it.

KETCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LANG=${LANG:-C.UTF-8}
export LC_ALL=${LC_ALL:-C.UTF-8}
export PATH=/opt/swift/usr/bin:$PATH

# Debian packages Ketch needs at build or run time: name of the package, then a file it provides.
KETCH_APT_PACKAGES=(
  "postgresql-15:/usr/lib/postgresql/15/bin/postgres"
  "libpq-dev:/usr/include/postgresql/libpq-fe.h"
  "libncursesw5-dev:/usr/include/ncursesw/curses.h"
  "libsqlite3-dev:/usr/include/sqlite3.h"
  "pkg-config:/usr/bin/pkg-config"
  "tmux:/usr/bin/tmux"
  "iproute2:/usr/sbin/ip"
  "procps:/usr/bin/pgrep"
  "nftables:/usr/sbin/nft"
  "iptables:/usr/sbin/iptables-legacy"
  "python3:/usr/bin/python3"
  "haproxy:/usr/sbin/haproxy"
  "prometheus:/usr/bin/promtool"
)

# Installs whatever of the above is missing. Needs root; says so clearly when it is not.
ketch_ensure_packages() {
  local missing=() entry pkg file
  for entry in "${KETCH_APT_PACKAGES[@]}"; do
    pkg=${entry%%:*}; file=${entry#*:}
    [ -e "$file" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "ketch: missing packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    return 1
  fi
  echo "ketch: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ketch_require_swift() {
  command -v swift >/dev/null 2>&1 || { echo "ketch: swift not found (expected Swift 6.3 at /opt/swift)" >&2; return 1; }
}

ketch_build() {
  ketch_require_swift
  (cd "$KETCH_ROOT" && swift build "$@")
}

ketch_bin() { echo "$KETCH_ROOT/.build/debug/$1"; }
