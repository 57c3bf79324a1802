#!/usr/bin/env bash
# The project's test command (npm test): prepares the machine (scripts/setup.sh),
# builds, then runs unit and integration tests (scripts/run-tests.js), on the
# Node.js 24 that setup.sh cached (scripts/node-env.sh).
# Optional argument: unit | integration | a substring of a test file name.
# A build with type errors fails the run, after the tests have run on what
# tsc emitted (so CI still shows which tests pass).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
HEIR_SETUP_SKIP_BUILD=1 bash scripts/setup.sh
# The build and the tests run on the Node.js that setup.sh cached (scripts/node-env.sh), not the system's.
. scripts/node-env.sh
heir_use_node
echo "[test] on Node.js $(node --version) ($(command -v node))"
echo "[test] building (npx tsc -p .)"
build_rc=0
npx tsc -p . || build_rc=$?
test_rc=0
node scripts/run-tests.js "$@" || test_rc=$?
if [ "$build_rc" != 0 ]; then
  echo "[test] FAIL: npx tsc -p . reported errors (see above)" >&2
  exit 1
fi
exit "$test_rc"
