#!/usr/bin/env bash
# npm run bench [-- NAME ...]
#
# Prepares the machine and builds (scripts/setup.sh, idempotent), then runs the
# benchmarks (bench/run.ts): every one by default, or those named
# (detection, partition, failover, address-move, eni-move, end-to-end, end-to-end-host-down, end-to-end-mariadb,
# end-to-end-host-down-mariadb, switchover, salvage, torture,
# daemon-footprint, ha-takeover, ha-end-to-end), and rewrites BENCHMARKS.md from bench/results/.
# Needs root (network namespaces). HEIR_BENCH_RUNS=N changes runs per figure.
# Not part of npm test.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
if [ "$(id -u)" != 0 ]; then
  echo "bench: needs root (network namespaces for the database hosts). Run: sudo npm run bench" >&2
  exit 1
fi
bash scripts/setup.sh
# On the Node.js that setup.sh cached (scripts/node-env.sh), as npm test and the sandbox.
. scripts/node-env.sh
heir_use_node
exec node dist/bench/run.js "$@"
