#!/bin/sh
# Every npm script runs node through this file: `sh scripts/node22.sh [--dotenv] ARGS...`.
#
# The project needs Node.js >= 22.12 (undici 8, vitest 5 and tsx use its APIs), but many machines
# still have Node 20 as `node`. npm itself runs fine on Node 20, so `npm install` works there; this
# launcher then finds a Node 22 for the scripts:
#   1. `node` on PATH, when it is new enough;
#   2. else the copy cached in ~/.cache/node22 (the npm registry's `node-<os>-<arch>@22` package);
#   3. else it installs that package there once, saying so in one line.
# Where none of this works it stops with one line (what is needed, what was found, the command that
# fixes it) instead of a stack trace from deep inside a dependency.
#
# --dotenv: pass `--env-file=.env` when ./.env exists (npm start, npm run keys). Node's own
# --env-file-if-exists prints ".env not found. Continuing without it." on every run without one.
#
# The chosen node goes first on PATH and replaces this shell (exec), so signals reach it directly.
# Environment: CG_NODE_CACHE overrides the cache folder (tests use it).
set -eu

NEED_MAJOR=22
NEED_MINOR=12
say() { printf 'convergence-gateway: %s\n' "$*" >&2; }

# Prints the version of node binary $1 (v22.12.0), or nothing when it does not run.
version_of() { "$1" --version 2>/dev/null || true; }

# True when version $1 (vMAJOR.MINOR.PATCH) is at least NEED_MAJOR.NEED_MINOR.
new_enough() {
  v=${1#v}
  major=${v%%.*}
  rest=${v#*.}
  minor=${rest%%.*}
  case "$major$minor" in '' | *[!0-9]*) return 1 ;; esac
  [ "$major" -gt "$NEED_MAJOR" ] || { [ "$major" -eq "$NEED_MAJOR" ] && [ "$minor" -ge "$NEED_MINOR" ]; }
}

dotenv=no
if [ "${1:-}" = "--dotenv" ]; then
  dotenv=yes
  shift
fi

node=""
found="no node on PATH"
if path_node=$(command -v node 2>/dev/null) && [ -n "$path_node" ]; then
  path_version=$(version_of "$path_node")
  found="${path_version:-a node that does not run} at $path_node"
  if new_enough "$path_version"; then node=$path_node; fi
fi

if [ -z "$node" ]; then
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=unsupported ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=unsupported ;; esac
  package="node-$os-$arch"
  cache=${CG_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/node22}
  cached="$cache/node_modules/$package/bin/node"
  install="npm install --prefix $cache $package@$NEED_MAJOR"
  fix="run \`$install\`, or install Node.js $NEED_MAJOR from https://nodejs.org/, then try again"
  if [ "$os" = unsupported ] || [ "$arch" = unsupported ]; then
    say "needs Node.js >= $NEED_MAJOR.$NEED_MINOR, found $found (no prebuilt Node on npm for $(uname -s) $(uname -m)); fix: install Node.js $NEED_MAJOR from https://nodejs.org/ and try again"
    exit 1
  fi
  if ! new_enough "$(version_of "$cached")"; then
    # One line either way: what is needed, what was found, what happens, and how it ended.
    printf 'convergence-gateway: needs Node.js >= %s, found %s; installing Node.js %s from the npm registry into %s (once) ... ' \
      "$NEED_MAJOR.$NEED_MINOR" "$found" "$NEED_MAJOR" "$cache" >&2
    # Few, short retries: offline, this fails within seconds instead of npm's default minute.
    if npm install --silent --no-audit --no-fund --fetch-retries=1 --fetch-retry-mintimeout=2000 \
      --fetch-retry-maxtimeout=5000 --prefix "$cache" "$package@$NEED_MAJOR" >/dev/null 2>&1 &&
      new_enough "$(version_of "$cached")"; then
      printf 'done\n' >&2
    else
      printf 'failed; fix: %s\n' "$fix" >&2
      exit 1
    fi
  fi
  node=$cached
fi

if [ "$dotenv" = yes ] && [ -f .env ]; then set -- --env-file=.env "$@"; fi
PATH="${node%/*}:$PATH"
export PATH
exec "$node" "$@"
