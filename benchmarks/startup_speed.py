"""Start-up of the CLI and the language server: wall time and CPU, median of N runs.

    .venv/bin/python benchmarks/startup_speed.py [--runs 10]

Each figure is a fresh process of the installed console script (`.venv/bin/promptwise`), as an
editor or a shell would start it: `--version`, `--help`, `check` of one flow (the log-triage
example, with its eval.yaml), a computed-only `eval` module load, and the language server
until it answers `initialize`. CPU is user + system of that process (what a busy machine
cannot hide); wall time includes waiting for a core. Aims: --version and --help < 0.1 s,
check < 0.3 s, language server ready < 0.5 s.

`tracing set-up` is what a run, batch or served worker pays once to turn tracing on
(`tracing.configure` of a workspace without a `tracing:` section, with whatever OpenTelemetry
packages are installed).

The last two lines are references, not Promptwise: what importing pygls and lsprotocol costs
(the floor of the language server's start) and what the bare interpreter costs.

Bytecode: the measured processes read and write `__pycache__` as Python does by default (and as
`pip install` leaves a package, compiled). PYTHONDONTWRITEBYTECODE, when the environment sets it,
is cleared for them: otherwise every module edited since its .pyc was written would be compiled
again on every start, which is not what a user's install does.

To see where the time goes: `python -X importtime -m promptwise --version 2> imports.txt`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTWISE = Path(sys.executable).parent / "promptwise"
TICKS = os.sysconf("SC_CLK_TCK")
# The measured processes' environment: as a user's, bytecode cached (see the module's docstring).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(argv: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of a command to its exit."""
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV, check=False)
    return time.perf_counter() - started, children_cpu() - cpu


def process_cpu(pid: int) -> float:
    """user + system CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def lsp_ready() -> tuple[float, float]:
    """(wall, cpu) seconds from starting `promptwise lsp` to its answer to `initialize`."""
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": os.getpid(), "rootUri": (ROOT / "flows").as_uri(), "capabilities": {}}}).encode()
    started = time.perf_counter()
    server = subprocess.Popen([str(PROMPTWISE), "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(request) + request)
    server.stdin.flush()
    length = 0
    while True:  # headers of the answer
        header = server.stdout.readline()
        if not header:
            raise SystemExit("the language server exited before answering initialize")
        if header.lower().startswith(b"content-length:"):
            length = int(header.split(b":")[1])
        if header in (b"\r\n", b"\n"):
            break
    answer = json.loads(server.stdout.read(length))
    wall = time.perf_counter() - started
    cpu = process_cpu(server.pid)
    server.kill()
    server.wait()
    assert answer.get("id") == 1 and "result" in answer, answer
    return wall, cpu


CASES = {
    "promptwise --version": lambda: timed_command([str(PROMPTWISE), "--version"]),
    "promptwise --help": lambda: timed_command([str(PROMPTWISE), "--help"]),
    "promptwise check flows/log-triage": lambda: timed_command([str(PROMPTWISE), "check", "flows/log-triage"]),
    "import commands.eval + computed evaluators": lambda: timed_command([
        sys.executable, "-c", "import promptwise.commands.eval, promptwise.evaluation.computed"]),
    "language server: initialize answered": lsp_ready,
    "tracing set-up (configure, no tracing: section)": lambda: timed_command([
        sys.executable, "-c", "import pathlib, sys; from promptwise import tracing; "
        "tracing.configure(pathlib.Path(sys.argv[1])); tracing.shutdown()", str(EMPTY_WORKSPACE)]),
    # What no change of ours can save: the server needs pygls, and lsprotocol's ~560 attrs
    # classes are built (code generated and compiled) at its import; then pygls builds the
    # protocol's converter (every class's type hints resolved, hooks registered) to read the
    # first message at all. The second line is the floor of "initialize answered".
    "reference: import pygls + lsprotocol": lambda: timed_command([
        sys.executable, "-c", "import lsprotocol.types, pygls.lsp.server"]),
    "reference: ... + build pygls's converter": lambda: timed_command([
        sys.executable, "-c", "import lsprotocol.types, pygls.lsp.server; from pygls.protocol import "
        "default_converter; default_converter()"]),
    "reference: python -c pass": lambda: timed_command([sys.executable, "-c", "pass"]),
}


EMPTY_WORKSPACE = Path(tempfile.mkdtemp(prefix="promptwise-startup-"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not PROMPTWISE.exists():
        raise SystemExit(f"{PROMPTWISE} not found: run with the interpreter of the venv Promptwise is installed in")
    print(f"median of {args.runs} runs (os.cpu_count()={os.cpu_count()}, load {os.getloadavg()[0]:.1f}; "
          f"PYTHONDONTWRITEBYTECODE {'cleared' if 'PYTHONDONTWRITEBYTECODE' in os.environ else 'unset'})")
    print(f"  {'':45} {'wall':>8} {'cpu':>8}")
    for name, case in CASES.items():
        case()  # warm the page cache and the .pyc files
        walls, cpus = zip(*(case() for _ in range(args.runs)))
        print(f"  {name:45} {statistics.median(walls) * 1000:6.0f} ms {statistics.median(cpus) * 1000:6.0f} ms",
              flush=True)
    print(f"load at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(EMPTY_WORKSPACE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
