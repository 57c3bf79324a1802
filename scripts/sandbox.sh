#!/usr/bin/env bash
# npm run sandbox [-- --mariadb | --switchover | --keep | --no-setup | --help]
#
# Prepares the machine (scripts/setup.sh: apt packages, MySQL 9.7 from sid, npm
# deps, build; idempotent), then starts the local sandbox on Node.js 24 (the one
# setup.sh caches, see scripts/node-env.sh): three database hosts in
# network namespaces, the ECS API emulator holding the ENI with the floating
# address, heir's daemon and a writer; kills the master and shows the failover.
# Needs root (network namespaces). Exit 0 when no acknowledged row was lost.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

setup=1
args=()
for a in "$@"; do
  case "$a" in
    --no-setup) setup=0 ;;
    -h|--help) setup=0; args+=("$a") ;;
    *) args+=("$a") ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "sandbox: needs root (network namespaces for the three database hosts). Run: sudo npm run sandbox" >&2
  exit 1
fi

if [ "$setup" = 1 ]; then
  echo "[sandbox] preparing the machine (scripts/setup.sh; idempotent)"
  bash scripts/setup.sh
elif [ ! -f dist/test/sandbox/main.js ]; then
  echo "sandbox: not built (dist/test/sandbox/main.js missing); run without --no-setup or npm run build" >&2
  exit 1
fi
# The sandbox and the daemon it starts run on the Node.js that setup.sh cached (scripts/node-env.sh).
. scripts/node-env.sh
heir_use_node

exec node dist/test/sandbox/main.js "${args[@]+"${args[@]}"}"
