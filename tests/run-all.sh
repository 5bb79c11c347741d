#!/usr/bin/env bash
# The one command that runs every test: Python (unit + language server end to end) and the
# VS Code extension (unit + end to end in real VS Code). Sets up what it needs; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== Python tests"
.venv/bin/python -m pytest -q -p no:cacheprovider tests

echo "== Extension tests"
bash extension/scripts/test-all.sh
