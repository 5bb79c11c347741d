#!/usr/bin/env bash
# Every extension test: installs npm packages when package-lock.json changed, type-checks,
# builds, runs the unit tests (node --test), then the end-to-end suite in code-server (whose
# setup is idempotent: the first run installs code-server and chromium, later runs reuse them).
# Usage: extension/scripts/test-all.sh [--no-e2e]
set -euo pipefail
cd "$(dirname "$0")/../.."

run_e2e=1
[ "${1:-}" = "--no-e2e" ] && run_e2e=0

# npm ci only when node_modules was not installed from this exact lock file.
stamp=node_modules/.promptwise-package-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

echo "== extension: type-check and build"
npm run --silent typecheck
npm run --silent build

echo "== extension: unit tests"
npm run --silent test:unit

if [ "$run_e2e" = 1 ]; then
  echo "== extension: end to end in code-server"
  npm run --silent test:e2e
fi
