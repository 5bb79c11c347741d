"""Batch speed: N rows through a one-llm-node flow against a local endpoint with fixed latency.

    .venv/bin/python benchmarks/batch_speed.py [--rows 1000] [--concurrency N (default: the CLI's, 32)] [--latency-ms 50]

The fake OpenAI-compatible server runs in its own process; the batch runs as
`promptwise batch` in another (so CPU time and peak memory are the batch's own, Python start-up
and imports included). Prints wall time, rows/s, peak requests in flight (counted by the
server), CPU time per row, peak memory, and the comparison with the concurrency bound
(rows / concurrency x latency) and with Prompt flow's measured 34 s for 1,000 rows.

The batch runs as an installed command would: Python may cache bytecode (an inherited
PYTHONDONTWRITEBYTECODE is dropped for it, and the engine is imported once beforehand so the
cache exists), since `pip install` compiles it too. The default --concurrency is the CLI's.

Tracing: `--tracing on` (the default, as users run it: spans for every row, node and model call
with prompts and replies, written to .promptwise/traces.sqlite), `off` (`tracing: {enabled:
false}` in promptwise.yaml), or `both`: off and on alternately `--repeat` times each, printing
the median of each and the overhead of tracing on rows/s and on CPU time per row.
`--no-capture` traces without prompts, replies and values (`tracing.capture_content: false`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROMPT_FLOW_SECONDS_FOR_1000 = 34.0  # `pf run create`, same flow and endpoint (issue 4)

FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {reference: "${chat.output}"}
nodes:
- name: chat
  type: llm
  source: {type: code, path: chat.jinja2}
  inputs: {model: gpt-4o-mini, temperature: 0, question: "${inputs.question}"}
  connection: local
  api: chat
"""

TEMPLATE = "system:\nYou answer in one short sentence.\nuser:\n{{question}}\n"

# `python -c WITHOUT_AIOHTTP batch ...`: promptwise's CLI with aiohttp refused, as if not installed.
WITHOUT_AIOHTTP = """
import runpy, sys
class NoAiohttp:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "aiohttp":
            raise ModuleNotFoundError("No module named 'aiohttp'", name=name)
sys.meta_path.insert(0, NoAiohttp())
runpy.run_module("promptwise", run_name="__main__", alter_sys=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None, help="default: the CLI's default")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--tracing", choices=("on", "off", "both"), default="on")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of each setting: medians are printed (default 3 with --tracing both, else 1)")
    parser.add_argument("--workers", default=None, help="`promptwise batch --workers N|auto` (default: not given, 1)")
    parser.add_argument("--without-aiohttp", action="store_true",
                        help="the batch as the core install runs it: aiohttp not importable, so the openai client "
                             "uses its default HTTP transport instead of aiohttp (the `fast` extra)")
    parser.add_argument("--no-capture", action="store_true", help="tracing without prompts, replies and values "
                                                                  "(tracing.capture_content: false)")
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 3 if args.tracing == "both" else 1
    if args.concurrency is None:
        from promptwise.engine.batch import DEFAULT_CONCURRENCY

        args.concurrency = DEFAULT_CONCURRENCY
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import promptwise.cli, promptwise.commands.batch, promptwise.engine.batch, "
                    "promptwise.engine.dag, promptwise.engine.progress"], env=environment, check=True)

    server = subprocess.Popen([sys.executable, "-m", "promptwise.devtools.fake_openai", "--port", "0",
                               "--latency-ms", str(args.latency_ms)], stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        origin = base_url.removesuffix("/v1")
        with tempfile.TemporaryDirectory(prefix="promptwise-bench-") as folder:
            root = Path(folder)
            (root / "flow").mkdir()
            (root / "flow" / "flow.dag.yaml").write_text(FLOW)
            (root / "flow" / "chat.jinja2").write_text(TEMPLATE)
            with (root / "data.jsonl").open("w") as data:
                for index in range(args.rows):
                    data.write(json.dumps({"question": f"What is fact number {index} about the sea?"}) + "\n")
            if args.tracing != "both":
                repeats = []
                for attempt in range(args.repeat):
                    figures = _run_batch(root, base_url, origin, args, environment, args.tracing == "on",
                                         f"bench-{attempt}")
                    if figures is None:
                        return 1
                    repeats.append(figures)
            else:
                runs: dict[bool, list[dict]] = {False: [], True: []}
                for attempt in range(args.repeat):
                    for tracing in (False, True):
                        figures = _run_batch(root, base_url, origin, args, environment, tracing,
                                             f"bench-{attempt}-{'on' if tracing else 'off'}")
                        if figures is None:
                            return 1
                        runs[tracing].append(figures)
    finally:
        server.terminate()
        server.wait(timeout=10)
    if args.tracing == "both":
        _print_overhead(runs, args)
        return 0
    if args.repeat > 1:
        _print_repeats(repeats, args)
        return 0
    _print_figures(figures, args)
    return 0


def _run_batch(root: Path, base_url: str, origin: str, args, environment: dict, tracing: bool, name: str) -> dict | None:
    (root / "promptwise.yaml").write_text(
        f"connections:\n  local: {{type: openai_compatible, base_url: '{base_url}'}}\n"
        f"tracing: {{enabled: {'true' if tracing else 'false'}, "
        f"capture_content: {'false' if args.no_capture else 'true'}}}\n")
    urllib.request.urlopen(urllib.request.Request(f"{origin}/_fake/reset", method="POST")).read()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # earlier processes' share, subtracted below
    started = time.perf_counter()
    launcher = ["-c", WITHOUT_AIOHTTP] if args.without_aiohttp else ["-m", "promptwise"]
    workers = ["--workers", args.workers] if args.workers else []
    load_before = os.getloadavg()[0]
    batch = subprocess.run(
        [sys.executable, *launcher, "batch", "flow", "--data", "data.jsonl", "--name", name,
         "--concurrency", str(args.concurrency), "--no-cache", "--no-progress", "--format", "json", *workers],
        cwd=root, capture_output=True, text=True, env=environment)
    process_wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the batch process (the server still runs)
    if batch.returncode != 0:
        print(batch.stdout, batch.stderr, file=sys.stderr)
        return None
    result = json.loads(batch.stdout)
    stats = json.load(urllib.request.urlopen(f"{origin}/_fake/stats"))
    spans = _stored_spans(root, name) if tracing else 0
    return {"result": result, "stats": stats, "process_wall": process_wall, "spans": spans,
            "load": (load_before + os.getloadavg()[0]) / 2,
            "cpu": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
            "maxrss": usage.ru_maxrss}


def _stored_spans(root: Path, run: str) -> int:
    import sqlite3

    with sqlite3.connect(root / ".promptwise" / "traces.sqlite") as db:
        return db.execute("SELECT coalesce(sum(span_count), 0) FROM traces WHERE run_id = ?", (run,)).fetchone()[0]


def _print_overhead(runs: dict[bool, list[dict]], args) -> None:
    import statistics

    def median(tracing: bool, figure) -> float:
        return statistics.median(figure(run) for run in runs[tracing])

    rows = args.rows
    throughput = {t: median(t, lambda run: rows / run["result"]["elapsed"]) for t in (False, True)}
    cpu_row = {t: median(t, lambda run: run["result"]["cpu_seconds"] / rows * 1000) for t in (False, True)}
    wall = {t: median(t, lambda run: run["process_wall"]) for t in (False, True)}
    print(f"rows: {rows}, endpoint latency {args.latency_ms:.0f} ms, concurrency {args.concurrency}; "
          f"median of {args.repeat} runs each, alternating off/on; content capture "
          f"{'off' if args.no_capture else 'on'}")
    for tracing in (False, True):
        label = "tracing on " if tracing else "tracing off"
        each = ", ".join(f"{rows / run['result']['elapsed']:.0f}" for run in runs[tracing])
        peak = max(run["stats"]["peak_in_flight"] for run in runs[tracing])
        print(f"{label}:  {throughput[tracing]:.0f} rows/s (runs: {each}), CPU {cpu_row[tracing]:.2f} ms per row, "
              f"process wall {wall[tracing]:.2f} s, peak in flight {peak}"
              + (f", {runs[True][-1]['spans']} spans stored per run" if tracing else ""))
    print(f"overhead:     {(1 - throughput[True] / throughput[False]) * 100:+.1f}% rows/s, "
          f"{(cpu_row[True] / cpu_row[False] - 1) * 100:+.1f}% CPU per row "
          f"({cpu_row[True] - cpu_row[False]:+.2f} ms)")


def _print_repeats(repeats: list[dict], args) -> None:
    """Each run's rows/s and CPU per row, their medians, and the median against the concurrency bound."""
    import statistics

    rows = args.rows
    bound_rate = args.concurrency / (args.latency_ms / 1000)
    rates = [rows / run["result"]["elapsed"] for run in repeats]
    cpus = [run["result"]["cpu_seconds"] / rows * 1000 for run in repeats]
    print(f"rows: {rows}, endpoint latency {args.latency_ms:g} ms, concurrency {args.concurrency}, workers "
          f"{args.workers or 1}, tracing {args.tracing}; {args.repeat} runs")
    for rate, cpu, run in zip(rates, cpus, repeats):
        print(f"  {rate:7.0f} rows/s  {cpu:.3f} ms CPU per row  (failed {run['result']['failed']}, peak in flight "
              f"{run['stats']['peak_in_flight']}, machine load {run['load']:.1f} on {os.cpu_count()} cores)")
    rate, cpu = statistics.median(rates), statistics.median(cpus)
    print(f"median: {rate:.0f} rows/s, {cpu:.3f} ms CPU per row (batch and worker processes, while rows ran)")
    print(f"concurrency bound: {bound_rate:.0f} rows/s -> rows take {bound_rate / rate:.2f}x the bound")


def _print_figures(figures: dict, args) -> None:
    result, stats, process_wall, usage_cpu = figures["result"], figures["stats"], figures["process_wall"], figures["cpu"]
    rows = args.rows
    batch_wall = result["elapsed"]
    bound = rows / args.concurrency * args.latency_ms / 1000
    cpu = usage_cpu
    prompt_flow = PROMPT_FLOW_SECONDS_FOR_1000 * rows / 1000
    print(f"rows:                 {rows} ({result['completed']} completed, {result['failed']} failed)")
    print(f"endpoint latency:     {args.latency_ms:.0f} ms, concurrency {args.concurrency}")
    print(f"wall time (rows):     {batch_wall:.2f} s  ({rows / batch_wall:.0f} rows/s)")
    print(f"wall time (process):  {process_wall:.2f} s  (start-up, imports and checks included)")
    print(f"concurrency bound:    {bound:.2f} s  -> rows take {batch_wall / bound:.2f}x the bound "
          f"({(batch_wall / bound - 1) * 100:+.0f}%)")
    print(f"vs Prompt flow:       {prompt_flow:.0f} s -> {prompt_flow / process_wall:.1f}x faster (whole process)")
    print(f"peak in flight:       {stats['peak_in_flight']} requests (server count; {stats['requests']} requests)")
    print(f"CPU time:             {result['cpu_seconds'] / rows * 1000:.2f} ms per row while rows ran; "
          f"{cpu:.2f} s for the whole process (start-up and imports included)")
    print(f"peak memory:          {figures['maxrss'] / 1024:.0f} MB (max RSS of the batch process)")
    print(f"tracing:              {args.tracing}" + (f" ({figures['spans']} spans stored)" if figures["spans"] else ""))
    print(f"HTTP transport:       {'the SDK default (no aiohttp, the core install)' if args.without_aiohttp else 'aiohttp (the fast extra)'}")


if __name__ == "__main__":
    sys.exit(main())
