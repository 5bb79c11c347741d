#!/usr/bin/env bash
# The main job on the example flows, start to finish: check them, estimate what a batch would
# cost, run and evaluate log-triage over its 64 labelled logs, then compare the two variants of
# report-assistant's analyst view and write an HTML report.
#
# With PROMPTWISE_BASE_URL and OPENAI_API_KEY set, the flows call that endpoint (for OpenAI:
# PROMPTWISE_BASE_URL=https://api.openai.com/v1). Without them, the script starts the local
# scripted model (fake-llm-rules.yaml), so the demo needs no network and no key.
set -euo pipefail
cd "$(dirname "$0")"

promptwise=../.venv/bin/promptwise
python=../.venv/bin/python
if [ ! -x "$promptwise" ]; then
  promptwise=promptwise
  python=python3
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${PROMPTWISE_BASE_URL:-}" ]; then
  step "Starting the local scripted model (set PROMPTWISE_BASE_URL to use a real endpoint)"
  address_file=$(mktemp)
  log_file=$(mktemp)
  "$python" -m promptwise.devtools.fake_openai --port 0 --latency-ms 150 --rules fake-llm-rules.yaml \
    >"$address_file" 2>"$log_file" &
  model_pid=$!
  trap 'kill "$model_pid" 2>/dev/null; rm -f "$address_file" "$log_file"' EXIT
  for _ in $(seq 100); do
    [ -s "$address_file" ] && break
    sleep 0.1
  done
  PROMPTWISE_BASE_URL=$(head -n 1 "$address_file")
  if [ -z "$PROMPTWISE_BASE_URL" ]; then
    echo "demo: the local model did not start:" >&2
    cat "$log_file" >&2
    exit 1
  fi
  export PROMPTWISE_BASE_URL OPENAI_API_KEY=${OPENAI_API_KEY:-local-demo-key}
  echo "model at $PROMPTWISE_BASE_URL"
fi

step "promptwise check ."
"$promptwise" check .

step "promptwise estimate log-triage --data log-triage/data.jsonl"
"$promptwise" estimate log-triage --data log-triage/data.jsonl

step "promptwise eval log-triage --data log-triage/data.jsonl --fail-under category_match.pass_rate=0.9"
"$promptwise" eval log-triage --data log-triage/data.jsonl --fail-under category_match.pass_rate=0.9

step "promptwise compare --flow report-assistant --variants analyst_view --data report-assistant/data.jsonl"
"$promptwise" compare --flow report-assistant --variants analyst_view --data report-assistant/data.jsonl \
  --html .promptwise/analyst_view-variants.html

step "Stored runs (promptwise runs list)"
"$promptwise" runs list --limit 5
