#!/usr/bin/env bash
# The one command that runs every test: Python (unit + language server end to end) and the
# VS Code extension (unit + end to end in real VS Code). Sets up what it needs; idempotent.
# Every suite runs even when an earlier one fails; a summary at the end says which failed,
# and the exit code is non-zero if any did.
set -uo pipefail
cd "$(dirname "$0")/.."

setup_failed() {
  echo "run-all: setup failed: $1" >&2
  exit 1
}

# System tools the tests drive: Neovim (a second LSP client, tests/lsp/test_neovim.py).
if ! command -v nvim >/dev/null 2>&1; then
  echo "== apt-get install neovim"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null; } \
    || setup_failed "apt-get install neovim (needed by tests/lsp/test_neovim.py)"
fi
# PostgreSQL's server: the team-database registry's tests start a throwaway cluster
# (tests/deploy/postgres_cluster.py); Debian keeps initdb in /usr/lib/postgresql/N/bin.
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "== apt-get install postgresql"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
    || setup_failed "apt-get install postgresql (needed by tests/deploy/test_registry_teamdb.py)"
fi

# Python: a virtual environment in the checkout, with the exact versions of constraints.txt
# (the lock) so that a new release of a dependency cannot change what the tests run against.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv || setup_failed "python3 -m venv .venv"
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]' \
  || setup_failed "pip install -e '.[test]' with constraints.txt"
export PROMPTWISE_E2E_PYTHON="$PWD/.venv/bin/python"

results=()
failures=0
suite() {
  local name=$1
  shift
  echo
  echo "== $name"
  local started=$SECONDS
  "$@"
  local status=$?
  local took=$((SECONDS - started))
  if [ "$status" -eq 0 ]; then
    results+=("passed  $name (${took} s)")
  else
    results+=("FAILED  $name (exit $status, ${took} s)")
    failures=$((failures + 1))
  fi
}

suite "python: unit and language server" .venv/bin/python -m pytest -q -p no:cacheprovider tests
suite "extension: install, type-check, build, unit" bash extension/scripts/test-all.sh --no-e2e
suite "extension: end to end in code-server" npm run --silent test:e2e

echo
echo "== summary"
printf '%s\n' "${results[@]}"
total=${#results[@]}
echo "suites: $((total - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
