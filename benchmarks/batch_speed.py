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

Against the bound: `--sweep 1,4,8,16,64` runs the batch at each concurrency and prints rows/s
beside the concurrency bound (concurrency / latency), the CPU per row of the batch and per
request of the endpoint (the fake server's own CPU time, read from /proc), and the cap that CPU
puts on rows/s: one process can do at most 1 / (its CPU per row) rows a second, and the machine
at most cores / (batch + endpoint CPU per row). Each line says which of the two limits the run
(the bound, or the CPU), so a reader sees where we are within 1.2x of the bound and where the
CPU caps it. Rows per step: enough for about two seconds at the bound (at most --rows).
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
    parser.add_argument("--workers", default=None,
                        help="`promptwise batch --workers N|auto` (default 1: one process, for CPU per row; auto is "
                             "the CLI's default, which moves a CPU-bound batch to worker processes when cores are idle)")
    parser.add_argument("--without-aiohttp", action="store_true",
                        help="the batch as the core install runs it: aiohttp not importable, so the openai client "
                             "uses its default HTTP transport instead of aiohttp (the `fast` extra)")
    parser.add_argument("--no-capture", action="store_true", help="tracing without prompts, replies and values "
                                                                  "(tracing.capture_content: false)")
    parser.add_argument("--sweep", metavar="N,N,...", type=lambda text: [int(n) for n in text.split(",")],
                        help="run at each of these concurrencies and print rows/s against the bound and the CPU cap "
                             "(tracing as --tracing on|off; --repeat runs each, medians)")
    args = parser.parse_args()
    if args.sweep and args.tracing == "both":
        parser.error("--sweep takes --tracing on or off")
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
            if args.sweep:
                sweep = []
                for concurrency in args.sweep:
                    args.concurrency = concurrency
                    step = []
                    for attempt in range(args.repeat):
                        figures = _run_batch(root, base_url, origin, args, environment, args.tracing == "on",
                                             f"sweep-{concurrency}-{attempt}", server.pid,
                                             rows=_sweep_rows(args, concurrency))
                        if figures is None:
                            return 1
                        step.append(figures)
                    sweep.append((concurrency, step))
            elif args.tracing != "both":
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
    if args.sweep:
        _print_sweep(sweep, args)
        return 0
    if args.tracing == "both":
        _print_overhead(runs, args)
        return 0
    if args.repeat > 1:
        _print_repeats(repeats, args)
        return 0
    _print_figures(figures, args)
    return 0


def _run_batch(root: Path, base_url: str, origin: str, args, environment: dict, tracing: bool, name: str,
               server_pid: int | None = None, rows: int | None = None) -> dict | None:
    (root / "promptwise.yaml").write_text(
        f"connections:\n  local: {{type: openai_compatible, base_url: '{base_url}'}}\n"
        f"tracing: {{enabled: {'true' if tracing else 'false'}, "
        f"capture_content: {'false' if args.no_capture else 'true'}}}\n")
    urllib.request.urlopen(urllib.request.Request(f"{origin}/_fake/reset", method="POST")).read()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # earlier processes' share, subtracted below
    started = time.perf_counter()
    launcher = ["-c", WITHOUT_AIOHTTP] if args.without_aiohttp else ["-m", "promptwise"]
    workers = ["--workers", args.workers or "1"]
    load_before = os.getloadavg()[0]
    data = "data.jsonl"
    if rows is not None:  # the first `rows` rows of the data file
        data = "data-sweep.jsonl"
        with (root / "data.jsonl").open() as full, (root / data).open("w") as part:
            part.writelines(line for _, line in zip(range(rows), full))
    server_cpu = _process_cpu(server_pid)
    batch = subprocess.run(
        [sys.executable, *launcher, "batch", "flow", "--data", data, "--name", name,
         "--concurrency", str(args.concurrency), "--no-cache", "--no-progress", "--format", "json", *workers],
        cwd=root, capture_output=True, text=True, env=environment)
    process_wall = time.perf_counter() - started
    server_cpu = _process_cpu(server_pid) - server_cpu if server_cpu is not None else None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the batch process (the server still runs)
    if batch.returncode != 0:
        print(batch.stdout, batch.stderr, file=sys.stderr)
        return None
    result = json.loads(batch.stdout)
    stats = json.load(urllib.request.urlopen(f"{origin}/_fake/stats"))
    spans = _stored_spans(root, name) if tracing else 0
    return {"result": result, "stats": stats, "process_wall": process_wall, "spans": spans, "server_cpu": server_cpu,
            "moved": "rows now run in" in batch.stderr,  # --workers auto moved the rows to worker processes
            "load": (load_before + os.getloadavg()[0]) / 2,
            "cpu": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
            "maxrss": usage.ru_maxrss}


def _loop_name() -> str:
    """The event loop the batch runs on (uvloop when installed; PROMPTWISE_EVENT_LOOP=asyncio turns it off)."""
    from promptwise.engine.event_loop import loop_name

    return loop_name()


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) a running process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _sweep_rows(args, concurrency: int) -> int:
    """Rows for one step of --sweep: about two seconds at the concurrency bound, 200 to --rows."""
    return max(200, min(args.rows, int(2 * concurrency / (args.latency_ms / 1000))))


def _print_sweep(sweep: list[tuple[int, list[dict]]], args) -> None:
    """Per concurrency: rows/s against the bound, CPU per row (batch, endpoint) and the CPU cap."""
    import statistics

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Processes that can each keep a core busy: the batch alone, or its workers (at most the cores).
    processes = 1 if not args.workers else min(cores, cores if args.workers == "auto" else int(args.workers))
    print(f"endpoint latency {args.latency_ms:g} ms, tracing {args.tracing}, workers {args.workers or 1}, "
          f"{cores} cores, event loop {_loop_name()}; median of {args.repeat} run(s) per concurrency")
    print("  conc   rows   rows/s    bound  x bound   batch CPU/row  endpoint CPU/req   CPU cap (1 process / "
          "machine)  limited by   load")
    for concurrency, runs in sweep:
        rows = runs[0]["result"]["rows"]
        rate = statistics.median(rows / run["result"]["elapsed"] for run in runs)
        ours = statistics.median(run["result"]["cpu_seconds"] / rows for run in runs)
        served = [run["server_cpu"] / max(1, run["stats"]["requests"]) for run in runs if run["server_cpu"] is not None]
        endpoint = statistics.median(served) if served else None
        bound = concurrency / (args.latency_ms / 1000)
        process_cap = processes / ours if ours else float("inf")
        machine_cap = cores / (ours + (endpoint or 0.0)) if ours else float("inf")
        cap = min(process_cap, machine_cap)
        # What explains the rate: the bound (within 1.2x of it), our CPU (within 1.2x of the cap),
        # else the other processes of a busy machine (load above the cores) or our own waits.
        load = statistics.median(run["load"] for run in runs)
        if rate * 1.2 >= bound:
            limit = "bound"
        elif rate * 1.2 >= cap:
            limit = "CPU"
        else:
            limit = "load" if load > cores else "waits"
        endpoint_text = f"{endpoint * 1000:7.3f} ms" if endpoint is not None else "      ?   "
        print(f"  {concurrency:4d} {rows:6d} {rate:8.0f} {bound:8.0f} {bound / rate:7.2f}x   {ours * 1000:8.3f} ms   "
              f"{endpoint_text}        {process_cap:8.0f} / {machine_cap:6.0f}      {limit:8s} {load:5.1f}")
    print("CPU cap: one process does at most 1 / (its CPU per row) rows a second (x workers), the machine at most "
          "cores / (batch + endpoint CPU per row); the bound needs batch + endpoint CPU per row under "
          f"cores / bound (at concurrency {sweep[-1][0]}: {cores / (sweep[-1][0] / (args.latency_ms / 1000)) * 1000:.3f} "
          "ms). limited by: bound (within 1.2x of it), CPU (within 1.2x of the CPU cap), load (neither: other "
          "processes had the cores, load above their number), waits (neither, on a quiet machine).")


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
          f"{args.workers or 1}, tracing {args.tracing}, event loop {_loop_name()}; {args.repeat} runs")
    for rate, cpu, run in zip(rates, cpus, repeats):
        print(f"  {rate:7.0f} rows/s  {cpu:.3f} ms CPU per row  (failed {run['result']['failed']}, peak in flight "
              f"{run['stats']['peak_in_flight']}, machine load {run['load']:.1f} on {os.cpu_count()} cores"
              + (", moved to worker processes" if run["moved"] else "") + ")")
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
    print(f"event loop:           {_loop_name()}")
    print(f"HTTP transport:       {'the SDK default (no aiohttp, the core install)' if args.without_aiohttp else 'aiohttp (the fast extra)'}")


if __name__ == "__main__":
    sys.exit(main())
