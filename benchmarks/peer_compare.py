"""Promptwise side by side with its peers, Prompt flow and promptfoo, on one workload in one run.

    .venv/bin/python benchmarks/peer_compare.py [--rows 1000] [--concurrency 16] [--latency-ms 50]
        [--repeat 1] [--startup-runs 5] [--pf /tmp/pfvenv/bin/pf] [--promptfoo /tmp/pfoo]
        [--skip-install-size]

The workload: N rows of support tickets (data.csv: `ticket`, `expected`), one chat call per row
asking for a one-word label (a system message and `Ticket: {{ticket}}`; gpt-4o-mini,
temperature 0, max_tokens 5), then an exact-match assertion of the reply against `expected`.
Every tool talks to the same local OpenAI-compatible endpoint (benchmarks/peer_endpoint.py:
the project's fake server on 127.0.0.1 in a process of its own, answering each call after a
fixed latency by keyword rules; one row in ten is a ticket the rules label wrongly, so each tool
must report 90 % passed). The endpoint records every request: the table shows the calls it got,
the peak in flight (the concurrency each tool really reached) and a digest of all the messages
sent, equal when the tools sent byte-identical prompts.

What each tool runs (each a fresh process tree; wall time from start to exit, CPU = user + system
of the tool's processes, reaped children included, from getrusage; the endpoint's CPU is not in it.
Checked once as a child subreaper: only pf leaves a process its tree does not reap, one, 0.05 s
of CPU, so the CPU figures miss nothing that matters):
- promptwise: `promptwise eval classify --data data.csv --concurrency N --no-cache --format json`:
  the flow classify/flow.dag.yaml (one llm node, template classify.jinja2) over the rows, then the
  `exact_match` evaluator of classify/eval.yaml (strip: false, so as strict as the others). One
  process, N rows in flight on its event loop. Twice: as installed (tracing on: every row, node
  and model call stored as spans with prompts and replies in .promptwise/traces.sqlite) and with
  `tracing: {enabled: false}`. The run and its scores are stored (.promptwise/).
- Prompt flow: `pf run create --flow classify --data data.csv` (the SAME flow folder), then
  `pf run create --flow evaluate --run <that run>`: an evaluation flow of a python node comparing
  prediction and reference with `==` and an aggregation node logging the pass rate. PF_WORKER_COUNT=N:
  N worker processes, each one row at a time. Its tracing is off (PF_DISABLE_TRACING, trace
  destination none), its telemetry off (pf.yaml telemetry.enabled false), its PyPI version check
  pre-empted (a fresh pf_version_check.json in its home), its Azure Monitor exporter's control
  plane and statsbeat off. Not counted: `pf run show-metrics` (the pass count is read from the
  runs' files), `pf connection create` (set-up).
- promptfoo: `promptfoo eval -c promptfooconfig.yaml -j N --no-cache --no-table --no-progress-bar
  -o out.json`: the openai chat provider (apiBaseUrl = the endpoint) with the same messages as
  a JSON chat prompt, tests from the same data.csv, `defaultTest` an `equals` assertion on
  `{{expected}}`. N tests in flight in one Node.js process. Results written to its SQLite
  database as it does by default (PROMPTFOO_CONFIG_DIR in the temporary folder). Telemetry,
  update check, sharing and remote generation off by their environment variables. It exits 100
  when an assertion fails (here: 10 % of rows by design), counted as a completed run.

Nothing leaves the machine: HTTP(S)_PROXY point every tool at a closed local port (NO_PROXY the
endpoint), because promptfoo 0.121 still posts one "telemetry disabled" event to r.promptfoo.app
when PROMPTFOO_DISABLE_TELEMETRY=1, and Prompt flow's Azure Monitor exporter would fetch its
configuration; with the proxy such calls fail at once on 127.0.0.1. `--check-network` runs each
eval once more under `strace -f -e trace=connect` and prints where each tool connected.

Unequal, by the tools' design: Prompt flow runs rows in N processes (forked workers, started per
run) where the others keep N in flight in one process; its evaluation is a second run with its
own workers. promptwise traces by default (its first column); the others do not trace here.
pf sends `top_p: 1` and `stream: false` besides the same model, temperature and max_tokens (the
notes under the table show what each sent). The promptwise measured is the one beside the Python
running this script (this checkout's .venv: with the `fast` extra's aiohttp when installed there,
which its model calls then use; its install size is then measured with that extra).

Also: start-up (`--version` of each CLI, median of --startup-runs fresh processes, wall and CPU),
and install size: promptwise = a fresh venv of this checkout with constraints.txt (install_size.py's
way, about a minute; the core, or promptwise[fast] as above); Prompt flow = the distributions of
`promptflow` + `promptflow-tools` (the llm node's package) and what they require, in the pf venv,
from each one's RECORD; promptfoo = its node_modules (file sizes and `du`). The runtimes (Python,
Node.js) are not counted.

Install the peers (not dependencies of this project):
    python3 -m venv /tmp/pfvenv && /tmp/pfvenv/bin/pip install promptflow==1.18.5 promptflow-tools==1.6.1
    npm install --prefix /tmp/pfoo promptfoo@0.121.20
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import install_size  # noqa: E402  (benchmarks/ is not a package)
import peer_endpoint  # noqa: E402

PROMPTFOO_VERSION = "0.121.20"
PF_INSTALL = "python3 -m venv /tmp/pfvenv && /tmp/pfvenv/bin/pip install promptflow==1.18.5 promptflow-tools==1.6.1"
PROMPTFOO_INSTALL = f"npm install --prefix /tmp/pfoo promptfoo@{PROMPTFOO_VERSION}"

SYSTEM = "You sort customer support tickets. Answer with one word: billing, access, outage or other."
TICKETS = {
    "billing": ("I was charged twice for invoice {n}", "Please refund order {n}"),
    "access": ("I cannot log in to account {n}", "The password reset for user {n} fails"),
    "outage": ("The dashboard is down since 09:{m:02d}", "Checkout page {n} answers 503"),
    "other": ("How do I change the language of report {n}?", "Can I export project {n} to a spreadsheet?"),
}
# One row in ten: a billing ticket the rules below call an outage, so every tool sees failures.
TRICKY = ("billing", "The refund page is down for order {n}")
# The scripted model: first match on the last user message wins.
RULES = [
    [r"^Ticket: .*\b(down|503|outage|unavailable)\b", "outage"],
    [r"^Ticket: .*\b(log in|password|locked)\b", "access"],
    [r"^Ticket: .*\b(charged|refund|invoice)\b", "billing"],
    [r"^Ticket: ", "other"],
]

FLOW = """\
inputs:
  ticket: {type: string}
outputs:
  label: {type: string, reference: "${classify.output}"}
nodes:
- name: classify
  type: llm
  source: {type: code, path: classify.jinja2}
  inputs: {model: gpt-4o-mini, temperature: 0, max_tokens: 5, ticket: "${inputs.ticket}"}
  connection: open_ai_connection
  api: chat
"""
TEMPLATE = f"system:\n{SYSTEM}\n\nuser:\nTicket: {{{{ticket}}}}\n"
EVAL_YAML = """\
evaluators:
  - name: label_match
    type: exact_match
    inputs: {prediction: "${run.outputs.label}", reference: "${data.expected}"}
    strip: false
    threshold: 1.0
"""
PF_EVAL_FLOW = """\
inputs:
  prediction: {type: string}
  reference: {type: string}
outputs:
  match: {type: int, reference: "${exact_match.output}"}
nodes:
- name: exact_match
  type: python
  source: {type: code, path: exact_match.py}
  inputs: {prediction: "${inputs.prediction}", reference: "${inputs.reference}"}
- name: pass_rate
  type: python
  source: {type: code, path: pass_rate.py}
  inputs: {matches: "${exact_match.output}"}
  aggregation: true
"""
PF_EXACT_MATCH = """\
from promptflow.core import tool


@tool
def exact_match(prediction: str, reference: str) -> int:
    return int(prediction == reference)
"""
PF_PASS_RATE = """\
from promptflow.core import log_metric, tool


@tool
def pass_rate(matches: list) -> float:
    rate = sum(matches) / len(matches) if matches else 0.0
    log_metric("pass_rate", rate)
    return rate
"""
PROMPTFOO_CONFIG = """\
description: peer_compare classify
prompts: [file://prompt.json]
providers:
  - id: openai:chat:gpt-4o-mini
    config: {{apiBaseUrl: '{base_url}', apiKey: unused, temperature: 0, max_tokens: 5}}
defaultTest:
  assert:
    - {{type: equals, value: '{{{{expected}}}}'}}
tests: file://{data}
"""
NETWORK_CHECK_ROWS = 50  # --check-network: the first rows, enough for every kind of call a tool makes
# The proxy of every tool: a closed local port, where whatever tries to go beyond the endpoint fails.
CLOSED_PORT_PROXY = "http://127.0.0.1:9"


def ticket_rows(count: int) -> list[tuple[str, str]]:
    """(ticket, expected label) for each row: the labels in turn, every tenth row (7, 17, ...) tricky."""
    labels = list(TICKETS)
    rows = []
    for index in range(count):
        label, text = TRICKY if index % 10 == 7 else (labels[index % 4], TICKETS[labels[index % 4]][index // 4 % 2])
        rows.append((text.format(n=100000 + index, m=index % 60), label))
    return rows


def expected_passes(count: int) -> int:
    return count - sum(1 for index in range(count) if index % 10 == 7)


def write_workload(root: Path, rows: int) -> None:
    with (root / "data.csv").open("w", newline="", encoding="utf-8") as data:
        writer = csv.writer(data)
        writer.writerow(["ticket", "expected"])
        writer.writerows(ticket_rows(rows))
    (root / "rules.json").write_text(json.dumps(RULES), encoding="utf-8")
    classify = root / "classify"
    classify.mkdir()
    (classify / "flow.dag.yaml").write_text(FLOW, encoding="utf-8")
    (classify / "classify.jinja2").write_text(TEMPLATE, encoding="utf-8")
    (classify / "eval.yaml").write_text(EVAL_YAML, encoding="utf-8")
    evaluate = root / "evaluate"
    evaluate.mkdir()
    (evaluate / "flow.dag.yaml").write_text(PF_EVAL_FLOW, encoding="utf-8")
    (evaluate / "exact_match.py").write_text(PF_EXACT_MATCH, encoding="utf-8")
    (evaluate / "pass_rate.py").write_text(PF_PASS_RATE, encoding="utf-8")
    (root / "prompt.json").write_text(json.dumps([{"role": "system", "content": SYSTEM},
                                                 {"role": "user", "content": "Ticket: {{ticket}}"}]), encoding="utf-8")


def quiet_environment() -> dict:
    """The environment of every tool's process: nothing reaches beyond 127.0.0.1."""
    environment = {key: value for key, value in os.environ.items()
                   if key.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                                          "PYTHONDONTWRITEBYTECODE", "OPENAI_BASE_URL", "OPENAI_API_KEY")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        environment[name] = CLOSED_PORT_PROXY
    environment["NO_PROXY"] = environment["no_proxy"] = "127.0.0.1,localhost"
    return environment


def measured(command: list[str], cwd: Path, environment: dict, wrap: tuple = ()) -> dict:
    """Run a command to its end: wall seconds, CPU seconds of its process tree, exit code, output.
    `wrap`: a command to run it under (strace, for --check-network)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([*wrap, *command], cwd=cwd, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall": wall, "cpu": cpu, "code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def failure(name: str, step: dict) -> str:
    tail = (step["stderr"] or step["stdout"]).strip().splitlines()[-12:]
    return f"{name} exited {step['code']}:\n    " + "\n    ".join(tail)


# ----- the three tools -----

def run_promptwise(promptwise: Path, root: Path, base_url: str, args, environment: dict, tracing: bool,
                   name: str, wrap: tuple = (), data: str = "data.csv") -> dict:
    (root / "promptwise.yaml").write_text(
        f"connections:\n  open_ai_connection: {{type: openai_compatible, base_url: '{base_url}'}}\n"
        + ("" if tracing else "tracing: {enabled: false}\n"), encoding="utf-8")
    step = measured([str(promptwise), "eval", "classify", "--data", data, "--concurrency", str(args.concurrency),
                     "--no-cache", "--format", "json", "--name", name], root, environment, wrap)
    if step["code"] != 0:
        return {"error": failure("promptwise eval", step), **step}
    metrics = json.loads(step["stdout"])["metrics"]["label_match"]
    return {**step, "passed": metrics["passed"], "scored": metrics["scored"]}


def prepare_prompt_flow(pf: Path, root: Path, base_url: str, environment: dict) -> dict:
    """Prompt flow's home in the temporary folder, quiet, with the endpoint's connection."""
    home = root / "pf-home"
    home.mkdir()
    (home / "pf.yaml").write_text("telemetry:\n  enabled: false\ntrace:\n  destination: none\n", encoding="utf-8")
    # `pf run create` asks PyPI for a newer version unless it did within a day.
    now = str(datetime.datetime.now())
    version = subprocess.run([str(pf.parent / "python"), "-c", "from importlib.metadata import version; "
                              "print(version('promptflow'))"], capture_output=True, text=True).stdout.strip()
    (home / "pf_version_check.json").write_text(json.dumps({
        "last_check_time": now, "last_hint_time": now, "latest_version": version, "current_version": version}))
    environment = {**environment, "PF_HOME_DIRECTORY": str(home), "PF_DISABLE_TRACING": "true",
                   "PROMPTFLOW_DISABLE_TRACING": "true", "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
                   "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
    (root / "connection.yaml").write_text(f"name: open_ai_connection\ntype: open_ai\napi_key: unused\n"
                                          f"base_url: {base_url}\n", encoding="utf-8")
    step = measured([str(pf), "connection", "create", "--file", "connection.yaml"], root, environment)
    if step["code"] != 0:
        sys.exit(failure("pf connection create", step))
    return environment


def run_prompt_flow(pf: Path, root: Path, args, environment: dict, name: str, wrap: tuple = (),
                    data: str = "data.csv") -> dict:
    environment = {**environment, "PF_WORKER_COUNT": str(args.concurrency)}
    run = measured([str(pf), "run", "create", "--flow", "classify", "--data", data, "--name", name,
                    "--column-mapping", "ticket=${data.ticket}"], root, environment, wrap)
    if run["code"] != 0:
        return {"error": failure("pf run create", run), **run}
    evaluation = measured([str(pf), "run", "create", "--flow", "evaluate", "--data", data, "--run", name,
                           "--name", f"{name}-eval", "--column-mapping", "prediction=${run.outputs.label}",
                           "reference=${data.expected}"], root, environment, wrap)
    if evaluation["code"] != 0:
        return {"error": failure("pf run create (evaluation)", evaluation), **evaluation}
    outputs = Path(environment["PF_HOME_DIRECTORY"]) / ".runs" / f"{name}-eval" / "flow_outputs" / "output.jsonl"
    matches = [json.loads(line).get("match") for line in outputs.read_text(encoding="utf-8").splitlines() if line]
    return {"wall": run["wall"] + evaluation["wall"], "cpu": run["cpu"] + evaluation["cpu"],
            "parts": f"run {run['wall']:.1f} s + evaluation {evaluation['wall']:.1f} s",
            "passed": sum(1 for match in matches if match == 1), "scored": len(matches)}


def promptfoo_environment(root: Path, environment: dict) -> dict:
    home = root / "promptfoo-home"
    home.mkdir(exist_ok=True)
    return {**environment, "PROMPTFOO_CONFIG_DIR": str(home), "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
            "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1", "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1"}


def run_promptfoo(promptfoo: Path, root: Path, base_url: str, args, environment: dict, name: str,
                  wrap: tuple = (), data: str = "data.csv") -> dict:
    (root / "promptfooconfig.yaml").write_text(PROMPTFOO_CONFIG.format(base_url=base_url, data=data),
                                               encoding="utf-8")
    output = root / f"{name}.json"
    step = measured([str(promptfoo), "eval", "-c", "promptfooconfig.yaml", "-j", str(args.concurrency), "--no-cache",
                     "--no-table", "--no-progress-bar", "-o", output.name], root, environment, wrap)
    if step["code"] not in (0, 100) or not output.is_file():  # 100: some assertion failed
        return {"error": failure("promptfoo eval", step), **step}
    stats = json.loads(output.read_text(encoding="utf-8"))["results"]["stats"]
    return {**step, "passed": stats["successes"], "scored": stats["successes"] + stats["failures"] + stats["errors"]}


# ----- start-up and install size -----

def startup(command: list[str], runs: int, environment: dict) -> dict:
    walls, cpus = [], []
    for _ in range(runs):
        step = measured(command, Path.cwd(), environment)
        if step["code"] != 0:
            return {"error": failure(" ".join(command), step)}
        walls.append(step["wall"])
        cpus.append(step["cpu"])
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "min": min(walls), "max": max(walls)}


def promptwise_install_size() -> dict:
    """A fresh venv of this checkout as the eval above ran it: the core, plus the `fast` extra
    (aiohttp) when the interpreter running this script has it (then `eval` used it)."""
    fast = importlib.util.find_spec("aiohttp") is not None
    with tempfile.TemporaryDirectory(prefix="peer-size-") as folder:
        source = Path(folder) / "source"
        source.mkdir()
        install_size.copy_working_tree(source)
        figures = install_size.measure(source, "fast" if fast else "", Path(folder))
    return {"bytes": figures["bytes"], "disk": figures["disk"], "packages": figures["distributions"],
            "what": f"fresh venv of {'promptwise[fast]' if fast else 'the core'} with constraints.txt"}


CLOSURE = """
import json, re, sys
from importlib import metadata
from packaging.requirements import Requirement
def key(name): return re.sub(r"[-_.]+", "-", name).lower()
seen, todo = {}, [(name, ("",)) for name in sys.argv[1:]]
while todo:
    name, extras = todo.pop()
    try: dist = metadata.distribution(name)
    except metadata.PackageNotFoundError: continue
    if key(name) in seen: continue
    seen[key(name)] = dist.metadata["Name"]
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras):
            todo.append((req.name, ("", *req.extras)))
print(json.dumps(sorted(seen)))
"""


def prompt_flow_install_size(pf: Path) -> dict:
    """promptflow + promptflow-tools and what they require, in the pf venv: each distribution's RECORD."""
    python = pf.parent / "python"
    closure = subprocess.run([str(python), "-c", CLOSURE, "promptflow", "promptflow-tools"],
                             capture_output=True, text=True, check=True)
    wanted = set(json.loads(closure.stdout))
    packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    total = disk = count = 0
    for info in packages.glob("*.dist-info"):
        name = re.sub(r"[-_.]+", "-", info.name[:-len(".dist-info")].rsplit("-", 1)[0]).lower()
        if name not in wanted or not (info / "RECORD").is_file():
            continue
        count += 1
        for row in (info / "RECORD").read_text(encoding="utf-8").splitlines():
            path = packages / row.rsplit(",", 2)[0]
            if path.is_file() and not path.is_symlink():
                stat = path.lstat()
                total += stat.st_size
                disk += stat.st_blocks * 512
    return {"bytes": total, "disk": disk, "packages": count, "what": "promptflow + promptflow-tools closure in its venv"}


def promptfoo_install_size(prefix: Path) -> dict:
    total = disk = count = 0
    for path in (prefix / "node_modules").rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.lstat()
            total += stat.st_size
            disk += stat.st_blocks * 512
            parent = path.parent
            count += path.name == "package.json" and (parent.parent.name == "node_modules" or (
                parent.parent.name.startswith("@") and parent.parent.parent.name == "node_modules"))
    return {"bytes": total, "disk": disk, "packages": count, "what": "node_modules of --prefix"}


CONNECT = re.compile(r'connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), '
                     r'(?:sin_addr=inet_addr\("([^"]+)"\)|sin6_flowinfo=[^,]*, inet_pton\(AF_INET6, "([^"]+)")')


def connections(traces: Path, endpoint_port: int) -> dict:
    """Where the traced processes connected (strace -ff files): the endpoint, the closed proxy port
    (something tried to reach beyond the machine), DNS (a name looked up) and anything else."""
    counts = {"endpoint": 0, "blocked": 0, "dns": 0, "other": []}
    for trace in traces.glob("trace*"):
        for match in CONNECT.finditer(trace.read_text(encoding="utf-8", errors="replace")):
            port, address = int(match.group(1)), match.group(2) or match.group(3)
            if port == endpoint_port and address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
                counts["endpoint"] += 1
            elif port == 9 and address == "127.0.0.1":
                counts["blocked"] += 1
            elif port == 53:
                counts["dns"] += 1
            else:
                counts["other"].append(f"{address}:{port}")
    return counts


# ----- the report -----

def median_of(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if key in run and "error" not in run]
    return statistics.median(values) if values else None


def print_table(columns: list[dict], args) -> None:
    rows = args.rows
    width = max(24, *(len(column["label"]) for column in columns))
    line = "-" * (28 + (width + 2) * len(columns))

    def row(title: str, cells: list[str]) -> None:
        print(f"{title:<28}" + "".join(f"{cell:>{width + 2}}" for cell in cells))

    print(line)
    row("", [column["label"] for column in columns])
    print(line)
    cells = {name: [] for name in ("wall", "rate", "cpu", "cpu_row", "passed", "calls", "peak", "digest", "shape",
                                   "parts", "start", "start_cpu", "size", "du", "packages")}
    for column in columns:
        runs = column.get("runs") or []
        good = [run for run in runs if "error" not in run]
        wall, cpu = median_of(runs, "wall"), median_of(runs, "cpu")
        spread = f" ({min(r['wall'] for r in good):.1f}-{max(r['wall'] for r in good):.1f})" if len(good) > 1 else ""
        cells["wall"].append(f"{wall:.2f}{spread}" if wall is not None else column.get("skip", "-"))
        cells["rate"].append(f"{rows / wall:.0f}" if wall else "-")
        cells["cpu"].append(f"{cpu:.2f}" if cpu is not None else "-")
        cells["cpu_row"].append(f"{cpu / rows * 1000:.2f}" if cpu is not None else "-")
        cells["passed"].append(f"{good[-1]['passed']}/{good[-1]['scored']}" if good else "-")
        endpoint = good[-1]["endpoint"] if good else {}
        cells["calls"].append(str(endpoint.get("completed", "-")))
        cells["peak"].append(str(endpoint.get("peak_in_flight", "-")))
        cells["digest"].append(str(endpoint.get("prompts_digest", "-")))
        shapes = endpoint.get("shapes") or []
        cells["shape"].append("; ".join(shape_text(shape) for shape in shapes) or "-")
        cells["parts"].append(good[-1].get("parts", "") if good else "")
        start = column.get("startup") or {}
        cells["start"].append(f"{start['wall'] * 1000:.0f}" if "wall" in start else "-")
        cells["start_cpu"].append(f"{start['cpu'] * 1000:.0f}" if "cpu" in start else "-")
        size = column.get("size") or {}
        cells["size"].append(f"{size['bytes'] / 1e6:.1f}" if size else "-")
        cells["du"].append(f"{size['disk'] / 1e6:.1f}" if size else "-")
        cells["packages"].append(str(size["packages"]) if size else "-")
    row(f"eval of {rows} rows: wall s", cells["wall"])
    row("rows/s", cells["rate"])
    row("CPU s (tool's processes)", cells["cpu"])
    row("CPU ms per row", cells["cpu_row"])
    row(f"passed (expected {expected_passes(rows)})", cells["passed"])
    row("model calls answered", cells["calls"])
    row("peak calls in flight", cells["peak"])
    row("digest of all prompts", cells["digest"])
    row("--version: wall ms (median)", cells["start"])
    row("--version: CPU ms (median)", cells["start_cpu"])
    row("install: MB (file sizes)", cells["size"])
    row("install: du MB", cells["du"])
    row("install: packages", cells["packages"])
    print(line)
    for column in columns:
        notes = [text for text in (column.get("skip"),) if text]
        good = [run for run in column.get("runs") or [] if "error" not in run]
        if good and good[-1].get("parts"):
            notes.append(good[-1]["parts"])
        if good:
            notes.append("requests: " + "; ".join(shape_text(s) for s in good[-1]["endpoint"].get("shapes") or []))
        if column.get("size"):
            notes.append(f"install measured as: {column['size']['what']}")
        network = column.get("network")
        if network:
            notes.append(f"network (strace): {network['endpoint']} connections to the endpoint, {network['blocked']} "
                         f"to the closed proxy port (attempts to leave the machine), {network['dns']} DNS, other: "
                         f"{', '.join(sorted(set(network['other']))) or 'none'}")
        for run in column.get("runs") or []:
            if "error" in run:
                notes.append(run["error"])
        print(f"{column['label']}: " + " | ".join(notes))


def shape_text(shape: dict) -> str:
    fields = [f"{key}={shape[key]}" for key in ("model", "temperature", "max_tokens", "stream")
              if shape.get(key) is not None]
    if shape.get("other_keys"):
        fields.append("+" + ",".join(shape["other_keys"]))
    return f"{shape['calls']} x " + " ".join(fields)


def find_pf(given: Path | None) -> Path | None:
    for candidate in (given, os.environ.get("PROMPTWISE_BENCH_PF"), "/tmp/pfvenv/bin/pf"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def find_promptfoo(given: Path | None) -> Path | None:
    """The promptfoo command: --promptfoo is an npm --prefix folder or the command itself."""
    for candidate in (given, Path("/tmp/pfoo")):
        if candidate is None:
            continue
        for path in (candidate, candidate / "node_modules" / ".bin" / "promptfoo"):
            if path.is_file():
                return path
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="rows in flight, the same for all: promptwise --concurrency, PF_WORKER_COUNT, promptfoo -j")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the endpoint's delay before each answer")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the eval, the tools in turn; medians")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--pf", type=Path, help="Prompt flow's pf (default $PROMPTWISE_BENCH_PF, /tmp/pfvenv/bin/pf)")
    parser.add_argument("--promptfoo", type=Path,
                        help="promptfoo's npm --prefix folder or its command (default /tmp/pfoo)")
    parser.add_argument("--skip-install-size", action="store_true", help="skip the install sizes (the fresh venv)")
    parser.add_argument("--check-network", action="store_true",
                        help="run each eval once more under `strace -f -e trace=connect` and list where each tool "
                             "connected: the endpoint, the closed proxy port (an attempt to leave), anything else")
    args = parser.parse_args(argv)
    if args.check_network and shutil.which("strace") is None:
        parser.error("--check-network needs strace (apt-get install strace)")
    if args.rows < 1 or args.concurrency < 1 or args.repeat < 1 or args.startup_runs < 1:
        parser.error("--rows, --concurrency, --repeat and --startup-runs take a positive number")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    promptwise = Path(sys.executable).parent / "promptwise"
    pf, promptfoo = find_pf(args.pf), find_promptfoo(args.promptfoo)
    columns = [{"label": "promptwise", "runs": []}, {"label": "promptwise untraced", "runs": []},
               {"label": "Prompt flow", "runs": []}, {"label": "promptfoo", "runs": []}]
    if pf is None:
        columns[2]["skip"] = f"skipped: no pf (give --pf PATH; install: {PF_INSTALL})"
    if promptfoo is None:
        columns[3]["skip"] = f"skipped: no promptfoo (give --promptfoo PATH; install: {PROMPTFOO_INSTALL})"
    environment = quiet_environment()
    print(f"peer_compare: {args.rows} rows, concurrency {args.concurrency}, endpoint latency {args.latency_ms:g} ms "
          f"(bound: {args.rows / args.concurrency * args.latency_ms / 1000:.2f} s); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="peer-compare-") as folder:
        root = Path(folder)
        write_workload(root, args.rows)
        endpoint = subprocess.Popen([sys.executable, str(HERE / "peer_endpoint.py"), "--rules", str(root / "rules.json"),
                                     "--latency-ms", str(args.latency_ms)], stdout=subprocess.PIPE, text=True,
                                    env=environment)
        try:
            base_url, control = endpoint.stdout.readline().split()
            pf_environment = prepare_prompt_flow(pf, root, base_url, environment) if pf else None
            foo_environment = promptfoo_environment(root, environment)
            tools = {"promptwise": lambda *run: run_promptwise(promptwise, root, base_url, args, environment, True,
                                                                *run),
                     "promptwise untraced": lambda *run: run_promptwise(promptwise, root, base_url, args, environment,
                                                                         False, *run),
                     "Prompt flow": lambda *run: run_prompt_flow(pf, root, args, pf_environment, *run),
                     "promptfoo": lambda *run: run_promptfoo(promptfoo, root, base_url, args, foo_environment, *run)}
            for attempt in range(args.repeat):
                for column in columns:
                    if column.get("skip"):
                        continue
                    peer_endpoint.ask(int(control), "reset")
                    result = tools[column["label"]](f"r{attempt}-{column['label'].replace(' ', '-')}", ())
                    result["endpoint"] = peer_endpoint.ask(int(control), "summary")
                    column["runs"].append(result)
                    print(f"  round {attempt + 1} {column['label']}: "
                          + (f"{result['wall']:.2f} s, CPU {result['cpu']:.2f} s" if "error" not in result
                             else "failed"), flush=True)
            if args.check_network:
                print(f"  the network check (each eval again under strace, {NETWORK_CHECK_ROWS} rows) ...", flush=True)
                with (root / "data.csv").open(encoding="utf-8") as full, \
                        (root / "data-check.csv").open("w", encoding="utf-8") as part:
                    part.writelines(line for _, line in zip(range(NETWORK_CHECK_ROWS + 1), full))
                for column in columns:
                    if not column.get("skip"):
                        traces = root / f"strace-{column['label'].replace(' ', '-')}"
                        traces.mkdir()
                        wrap = ("strace", "-f", "-ff", "-qq", "-e", "trace=connect", "-o", str(traces / "trace"))
                        tools[column["label"]](f"net-{column['label'].replace(' ', '-')}", wrap, "data-check.csv")
                        column["network"] = connections(traces, int(base_url.rsplit(":", 1)[1].split("/")[0]))
        finally:
            endpoint.terminate()
            endpoint.wait(timeout=10)
        commands = {"promptwise": [str(promptwise), "--version"], "Prompt flow": [str(pf), "--version"] if pf else None,
                    "promptfoo": [str(promptfoo), "--version"] if promptfoo else None}
        for column in columns:
            command = commands.get(column["label"])
            if command:
                extra = pf_environment if column["label"] == "Prompt flow" else foo_environment
                column["startup"] = startup(command, args.startup_runs, extra or environment)
    if not args.skip_install_size:
        print("  install sizes (a fresh venv of promptwise: about a minute) ...", flush=True)
        columns[0]["size"] = promptwise_install_size()
        if pf:
            columns[2]["size"] = prompt_flow_install_size(pf)
        if promptfoo:
            prefix = promptfoo.parent.parent.parent if promptfoo.parent.name == ".bin" else promptfoo.parent
            columns[3]["size"] = promptfoo_install_size(prefix)
    print_table(columns, args)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores: on a busy machine "
          "the wall times swell with the load; CPU per row holds better")
    return 0


if __name__ == "__main__":
    sys.exit(main())
