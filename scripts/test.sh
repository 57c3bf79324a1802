#!/usr/bin/env bash
# The project's test command (npm test): prepares the machine and builds
# (scripts/setup.sh), then runs unit and integration tests (scripts/run-tests.js).
# Optional argument: unit | integration | a substring of a test file name.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
exec node scripts/run-tests.js "$@"
