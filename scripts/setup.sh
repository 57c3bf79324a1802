#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build heir and run its test suite.
# Idempotent: every step checks first and does nothing when already done.
#
#   1. apt packages: MariaDB 10.11 server/client (bookworm), OpenSSH server/client,
#      etcd 3.4 server/client (bookworm), iproute2, iputils-arping, procps, ca-certificates,
#      chromium (the topology page's browser test drives it headless through playwright-core;
#      no browser is downloaded). No system service is left running: the lab starts its own
#      mysqld/sshd/etcd processes.
#   2. MySQL 9.7 from Debian sid, downloaded with a private apt state (the system's
#      apt configuration is not touched) and unpacked with `dpkg -x` into one root
#      under the cache folder (HEIR_LAB_CACHE, default /var/cache/heir-lab).
#   2b. The Docker Compose plugin (docker-compose v2) from Debian sid, the same way: one
#      static binary, unpacked into $CACHE/docker-compose/cli-plugins; the unit tests run its
#      `config` command on docker-compose.yml (no Docker engine is needed for that).
#   3. Node.js 24 LTS from the npm registry (the platform package that `npm install node@24`
#      installs, fetched with `npm pack`), unpacked into the same cache folder; the system's
#      node is not touched (scripts/node-env.sh: version, folder, and how the scripts use it).
#      Steps 4 and 5 run on it.
#   4. node_modules (npm ci) when missing, older than package-lock.json, or built for another
#      Node.js ABI (native addons).
#   5. Build: npx tsc -p .
#
# Environment: HEIR_LAB_CACHE (cache folder), HEIR_NODE_VERSION (another Node.js release, see
# scripts/node-env.sh), HEIR_SETUP_SKIP_BUILD=1 (steps 1-4 only).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HEIR_LAB_CACHE:-/var/cache/heir-lab}"
SID_ROOT="$CACHE/mysql-sid/root"
SID_APT="$CACHE/mysql-sid/apt"
COMPOSE_DIR="$CACHE/docker-compose"

step() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

# --- 1. apt packages ---------------------------------------------------------
APT_PACKAGES=(
  mariadb-server-core   # /usr/sbin/mariadbd, mariadb-install-db (no service scripts)
  mariadb-client        # mariadb, mariadb-binlog, mariadb-admin
  openssh-server        # sshd for the network-namespace lab's hosts
  openssh-client        # ssh, ssh-keygen
  etcd-server           # /usr/bin/etcd: the three-member store of the manager high-availability tests
  etcd-client           # etcdctl
  iproute2              # ip netns / link / addr / neigh
  iputils-arping        # arping -U/-A: the havip mover announces the address from the new master
  procps                # ps, pkill-free process inspection
  systemd               # systemd-analyze, systemd-notify, and PID 1 of the unit test (systemd-run.test.ts)
  ca-certificates
  gpgv                  # apt signature checks for the sid download
  debian-archive-keyring
  chromium              # headless browser for the topology page's browser test (driven by playwright-core)
)

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${APT_PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done

# Services whose packages may start them on install; stopped and disabled afterwards.
stop_services() {
  local svc
  for svc in mariadb mysql ssh sshd etcd; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      if systemctl is-active --quiet "$svc" 2>/dev/null; then
        step "stopping system service $svc (the lab runs its own servers)"
        systemctl stop "$svc" || true
      fi
      if systemctl is-enabled --quiet "$svc" 2>/dev/null; then
        systemctl disable "$svc" >/dev/null 2>&1 || true
      fi
    elif [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
}

if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "apt packages missing (${missing[*]}); run this script as root"
  step "installing apt packages: ${missing[*]}"
  # Keep maintainer scripts from starting services during the install.
  POLICY=/usr/sbin/policy-rc.d
  policy_added=0
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    policy_added=1
  fi
  cleanup_policy() { if [ "$policy_added" = 1 ]; then rm -f "$POLICY"; fi; }
  trap cleanup_policy EXIT
  need_update=1
  # The package lists are fresh enough when every missing package has a candidate.
  if ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    need_update=0
    for p in "${missing[@]}"; do
      cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
      if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; break; fi
    done
  fi
  if [ "$need_update" = 1 ]; then
    step "apt-get update"
    apt-get update -qq
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/heir-setup-apt.log 2>&1; then
    # A stale index gives 404s: refresh once and retry.
    step "apt-get install failed; refreshing package lists and retrying"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  fi
  cleanup_policy
  trap - EXIT
  stop_services
else
  step "apt packages present"
fi

for c in mariadbd mariadb-install-db mariadb mariadb-binlog sshd ssh ssh-keygen etcd etcdctl ip unshare nsenter chromium; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || die "command $c not found after installing packages"
done

# Debian sid through a private apt state under $SID_APT: the system's apt configuration, index
# and package database are not touched.
sid_apt_prepare() {
  mkdir -p "$SID_APT/sources" "$SID_APT/lists/partial" "$SID_APT/archives/partial" "$SID_APT/cache" "$SID_APT/prefs"
  cat >"$SID_APT/sources/sid.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  : >"$SID_APT/status"   # empty: apt believes nothing is installed, so it fetches the whole closure
  APT_OPTS=(
    -oDir::Etc::SourceList=/dev/null
    -oDir::Etc::SourceParts="$SID_APT/sources"
    -oDir::Etc::Preferences=/dev/null
    -oDir::Etc::PreferencesParts="$SID_APT/prefs"
    -oDir::State::Lists="$SID_APT/lists"
    -oDir::State::status="$SID_APT/status"
    -oDir::State::extended_states="$SID_APT/extended_states"
    -oDir::Cache="$SID_APT/cache"
    -oDir::Cache::archives="$SID_APT/archives"
    -oAPT::Install-Recommends=false
    -oAPT::Install-Suggests=false
    -oAcquire::Languages=none
    -oDebug::NoLocking=1
  )
  apt-get "${APT_OPTS[@]}" update -qq || die "apt-get update of the private sid index failed"
}

# --- 2. MySQL 9.7 from Debian sid ----------------------------------------------
mkdir -p "$CACHE"
if [ -f "$SID_ROOT/.complete" ]; then
  step "MySQL from sid present: $(cat "$SID_ROOT/.complete") in $SID_ROOT"
else
  [ "$(id -u)" = 0 ] || die "MySQL 9.7 root missing at $SID_ROOT; run this script as root once"
  step "downloading MySQL server/client core from Debian sid (private apt state in $SID_APT)"
  sid_apt_prepare
  apt-get "${APT_OPTS[@]}" install --download-only -y -qq mysql-server-core mysql-client-core >/dev/null \
    || die "downloading mysql-server-core/mysql-client-core from sid failed"
  n="$(ls "$SID_APT"/archives/*.deb | wc -l)"
  step "unpacking $n packages into $SID_ROOT"
  tmp_root="$CACHE/mysql-sid/root.tmp.$$"
  rm -rf "$tmp_root"
  mkdir -p "$tmp_root"
  for deb in "$SID_APT"/archives/*.deb; do dpkg -x "$deb" "$tmp_root"; done
  # Debian's merged /usr: make /lib and /lib64 paths resolve inside the root.
  LOADER="$tmp_root/usr/lib64/ld-linux-x86-64.so.2"
  [ -e "$LOADER" ] || LOADER="$tmp_root/lib64/ld-linux-x86-64.so.2"
  [ -e "$LOADER" ] || die "no ld-linux-x86-64.so.2 in the unpacked sid root"
  LIBS="$tmp_root/usr/lib/x86_64-linux-gnu:$tmp_root/lib/x86_64-linux-gnu"
  ver="$("$LOADER" --library-path "$LIBS" "$tmp_root/usr/sbin/mysqld" --no-defaults --version 2>&1 | grep -oE 'Ver [0-9]+\.[0-9]+\.[0-9]+' | head -1 | cut -d' ' -f2)"
  [ -n "$ver" ] || die "the unpacked mysqld does not run through its loader"
  rm -rf "$SID_ROOT"
  mv "$tmp_root" "$SID_ROOT"
  echo "$ver" >"$SID_ROOT/.complete"
  rm -f "$SID_APT"/archives/*.deb
  step "MySQL $ver ready in $SID_ROOT"
fi

# --- 2b. Docker Compose plugin from Debian sid ---------------------------------------
# Bookworm has only docker-compose 1.29 (Python), which rejects today's Compose files; sid's
# docker-compose package is the Go plugin, statically linked, so it runs here unpacked.
if [ -f "$COMPOSE_DIR/.complete" ] && [ -x "$COMPOSE_DIR/cli-plugins/docker-compose" ]; then
  step "Docker Compose present: $(cat "$COMPOSE_DIR/.complete") in $COMPOSE_DIR"
else
  [ "$(id -u)" = 0 ] || die "Docker Compose missing at $COMPOSE_DIR; run this script as root once"
  step "downloading the docker-compose plugin from Debian sid"
  sid_apt_prepare
  tmp_compose="$CACHE/docker-compose.tmp.$$"
  rm -rf "$tmp_compose"
  mkdir -p "$tmp_compose/root"
  (cd "$tmp_compose" && apt-get "${APT_OPTS[@]}" download docker-compose >/dev/null 2>&1) \
    || { rm -rf "$tmp_compose"; die "downloading docker-compose from sid failed"; }
  dpkg -x "$tmp_compose"/docker-compose_*.deb "$tmp_compose/root"
  bin="$tmp_compose/root/usr/libexec/docker/cli-plugins/docker-compose"
  ver="$("$bin" version --short 2>/dev/null || true)"
  [ -n "$ver" ] || { rm -rf "$tmp_compose"; die "the unpacked docker-compose does not run"; }
  rm -rf "$COMPOSE_DIR"
  mkdir -p "$COMPOSE_DIR/cli-plugins"
  mv "$bin" "$COMPOSE_DIR/cli-plugins/docker-compose"
  rm -rf "$tmp_compose"
  echo "$ver" >"$COMPOSE_DIR/.complete"
  step "Docker Compose $ver ready in $COMPOSE_DIR"
fi

# --- 3. Node.js 24 from the npm registry --------------------------------------
# shellcheck source=scripts/node-env.sh
. "$REPO/scripts/node-env.sh"
if [ -f "$HEIR_NODE_HOME/.complete" ] && [ -x "$HEIR_NODE_HOME/bin/node" ]; then
  step "Node.js present: $(cat "$HEIR_NODE_HOME/.complete") in $HEIR_NODE_HOME"
else
  case "$HEIR_NODE_ARCH" in
    x64 | arm64) ;;
    *) die "no Node.js package for this machine's architecture ($(uname -m))" ;;
  esac
  NODE_DIR="$(dirname "$HEIR_NODE_HOME")"
  mkdir -p "$NODE_DIR" 2>/dev/null && [ -w "$NODE_DIR" ] \
    || die "Node.js $HEIR_NODE_VERSION missing at $HEIR_NODE_HOME and $NODE_DIR is not writable; run this script as root once"
  command -v npm >/dev/null 2>&1 || die "npm not found: the system's npm fetches Node.js $HEIR_NODE_VERSION once"
  pkg="node-linux-$HEIR_NODE_ARCH@$HEIR_NODE_VERSION"
  step "downloading Node.js $HEIR_NODE_VERSION from the npm registry ($pkg)"
  tmp_node="$NODE_DIR/.tmp.$$"
  rm -rf "$tmp_node"
  mkdir -p "$tmp_node/root"
  # npm pack checks the tarball against the registry's integrity hash and runs no install script.
  (cd "$tmp_node" && npm pack --silent "$pkg" >/dev/null) || { rm -rf "$tmp_node"; die "npm pack $pkg failed"; }
  tar -xzf "$tmp_node"/node-linux-*.tgz -C "$tmp_node/root" --strip-components=1 --no-same-owner \
    || { rm -rf "$tmp_node"; die "unpacking $pkg failed"; }
  got="$("$tmp_node/root/bin/node" --version 2>&1 || true)"
  [ "$got" = "v$HEIR_NODE_VERSION" ] || { rm -rf "$tmp_node"; die "the unpacked node does not run (printed: $got)"; }
  rm -rf "$HEIR_NODE_HOME"
  mv "$tmp_node/root" "$HEIR_NODE_HOME"
  rm -rf "$tmp_node"
  echo "$got" >"$HEIR_NODE_HOME/.complete"
  step "Node.js $got ready in $HEIR_NODE_HOME"
fi
heir_use_node
step "steps 4-5 run on Node.js $(node --version) ($(command -v node)), npm $(npm --version)"

# --- 4. node modules -------------------------------------------------------------
cd "$REPO"
# node_modules is stale when a package in package-lock.json is missing or has another version,
# or when it was installed by another Node.js ABI (native addons are compiled for one).
ABI_STAMP=node_modules/.heir-node-abi
node_abi() { node -p 'process.versions.modules + "-" + process.platform + "-" + process.arch'; }
modules_stale() {
  [ -d node_modules ] || return 0
  [ "$(cat "$ABI_STAMP" 2>/dev/null)" = "$(node_abi)" ] || return 0
  node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    for (const [p, meta] of Object.entries(lock.packages || {})) {
      if (!p.startsWith("node_modules/") || meta.optional || meta.link) continue;
      let v;
      try { v = JSON.parse(fs.readFileSync(p + "/package.json", "utf8")).version; } catch { process.exit(1); }
      if (meta.version && v !== meta.version) process.exit(1);
    }' && return 1 || return 0
}
if modules_stale; then
  step "npm ci"
  npm ci --no-audit --no-fund
  node_abi >"$ABI_STAMP"
else
  step "node_modules up to date"
fi

# --- 5. build ------------------------------------------------------------------
if [ "${HEIR_SETUP_SKIP_BUILD:-0}" != 1 ]; then
  step "building (npx tsc -p .)"
  npx tsc -p .
fi
step "done"
