"""What the span store's writer does to an event loop's tail: one served worker's traffic replayed
on an asyncio loop, with the writer off, in a thread (tracing/processor.py) or in a child process
(tracing/writer.py), alternately.

    .venv/bin/python benchmarks/span_writer_tail.py [--rate 100] [--seconds 8] [--rounds 3]
        [--modes off,thread,process] [--switch-ms 5] [--realtime]

The spans are the real ones of the log-triage flow: `promptwise run` of it once against the
scripted endpoint of serve_speed.py gives the shapes (names, attributes, captured prompts and
replies: ~11 KB a request), plus a served request's root span. Each replayed request has its log
line made unique (as serve_speed --vary-inputs), so the PII scan's memory of clean texts does not
flatter the writer; content attributes are RedactedText, as the engine sets them. A request is what
the loop of a served worker lives through: it wakes when the request arrives, sleeps through two 50
ms model calls, wakes after each, ends its 8 spans and answers. Its excess is its time minus the
100 ms slept: what waiting for the GIL (and the CPU) added, the in-server overhead's share that
tracing can cause. Printed per mode: p50/p99/max of the excess and of each wake-up's lateness, CPU
per request of this process and of the writer child, spans stored (all of them: nothing may be
lost) and the load average. Each measurement is a fresh process; the modes alternate so that a
drifting machine load hits them all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "log-triage"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_speed import BODY  # noqa: E402  the request serve_speed sends

UNIQUE = "claims-intake-svc"
REALTIME_PRIORITY = 10  # in the log line: replaced by a per-request name


def template(workdir: Path) -> list[tuple[str, dict]]:
    """(name, attributes) of one run's spans of log-triage, in start order, from a real run."""
    shutil.copytree(FLOW, workdir / "log-triage")
    shutil.copy(ROOT / "flows" / "promptwise.yaml", workdir / "promptwise.yaml")
    (workdir / ".git").mkdir()
    endpoint = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "serve_speed.py"), "--endpoint",
                                 "--latency-ms", "1"], stdout=subprocess.PIPE, text=True)
    try:
        base_url = endpoint.stdout.readline().strip()
        env = {**os.environ, "PROMPTWISE_BASE_URL": base_url, "OPENAI_API_KEY": "unused"}
        subprocess.run([sys.executable, "-m", "promptwise", "run", str(workdir / "log-triage"), "--inputs",
                        json.dumps(BODY), "--no-cache"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=workdir)
    finally:
        endpoint.terminate()
        endpoint.wait()
    with sqlite3.connect(workdir / ".promptwise" / "traces.sqlite") as db:
        spans = [(name, json.loads(attributes)) for name, attributes in db.execute(
            "SELECT name, attributes FROM spans ORDER BY start_ns, span_id")]
    request = ("POST /score", {"promptwise.span.kind": "request", "http.route": "/score", "http.request.method": "POST",
                               "promptwise.consumer": "anonymous", "promptwise.flow.name": "log-triage",
                               "promptwise.request.id": "0" * 16, "http.response.status_code": 200})
    return [request, *spans]


def measure(mode: str, spans_file: Path, rate: float, seconds: float) -> dict:
    """One mode, in this (fresh) process: the replay, then the figures as a dict."""
    from opentelemetry import trace

    from promptwise import tracing
    from promptwise.engine import spans as engine_spans
    from promptwise.engine.spans import RedactedText  # content as the engine sets it: JSON it encoded and masked
    from promptwise.span_attributes import CONTENT_ATTRIBUTES as CONTENT

    shapes = json.loads(spans_file.read_text(encoding="utf-8"))
    workspace = Path(tempfile.mkdtemp(prefix="span-writer-tail-"))
    (workspace / ".git").mkdir()
    if mode != "off":
        tracing.configure(workspace, service_name="promptwise-serve", writer_process=mode == "process")
    tracer = engine_spans.current_tracer() or tracing.get_tracer("bench") if mode != "off" else None

    def end_spans(number: int) -> None:
        if tracer is None:
            return
        unique = f"{UNIQUE}-{number}"
        root_name, root_attributes = shapes[0]
        root = tracer.start_span(root_name, attributes={**root_attributes, "promptwise.request.id": f"{number:016x}"})
        context = trace.set_span_in_context(root)
        for name, attributes in shapes[1:]:
            span = tracer.start_span(name, context=context)
            span.set_attributes({key: (RedactedText if key in CONTENT else str)(value.replace(UNIQUE, unique))
                                 if isinstance(value, str) else value for key, value in attributes.items()})
            span.end()
        root.end()

    lateness: list[float] = []
    excess: list[float] = []
    not_queued: list[float] = []  # the excess less the time the loop's thread waited for a CPU (run queue)

    async def request(loop, number: int, due: float) -> None:
        woke = loop.time()
        queued = run_queue_wait() - max(0.0, woke - due)  # the arrival's own wait counted as queued when it was
        lateness.append(woke - due)
        for _ in range(2):  # two model calls
            asked = loop.time()
            await asyncio.sleep(0.05)
            lateness.append(loop.time() - asked - 0.05)
        end_spans(number)
        excess.append(loop.time() - due - 0.1)
        not_queued.append(max(0.0, excess[-1] - (run_queue_wait() - queued)))

    async def replay() -> int:
        loop = asyncio.get_running_loop()
        tasks = []
        start = loop.time()
        number = 0
        while (due := start + number / rate) < start + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            tasks.append(asyncio.ensure_future(request(loop, number, due)))
            number += 1
        await asyncio.gather(*tasks)
        return number

    processor = tracing._store_processor
    child = processor._child if getattr(processor, "in_child", False) else None
    if child is not None and os.sched_getscheduler(0) == os.SCHED_RR:  # --realtime: as serve_speed.py places it
        os.sched_setscheduler(child.pid, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY - 5))
    if processor is not None:
        processor.force_flush(60_000)  # the child has started and written once: its start-up is not counted
    child_before = _cpu_of(child)
    cpu = time.process_time()
    count = asyncio.run(replay())
    cpu = time.process_time() - cpu
    if processor is not None:
        processor.force_flush(60_000)  # the replay's spans written: the child's CPU for them
    child_cpu = _cpu_of(child) - child_before
    if mode != "off":
        tracing.shutdown(timeout_s=60)
    stored = 0
    if mode != "off":
        with sqlite3.connect(workspace / ".promptwise" / "traces.sqlite") as db:
            stored = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    shutil.rmtree(workspace, ignore_errors=True)
    return {"mode": mode, "requests": count, "excess_p50_ms": _ms(excess, 50), "excess_p99_ms": _ms(excess, 99),
            "excess_max_ms": round(max(excess) * 1000, 1), "wake_p99_ms": _ms(lateness, 99),
            "excess_less_run_queue_p50_ms": _ms(not_queued, 50), "excess_less_run_queue_p99_ms": _ms(not_queued, 99),
            "cpu_ms_per_request": round(cpu / count * 1000, 3),
            "writer_child_cpu_ms_per_request": round(child_cpu / count * 1000, 3),
            "spans_expected": count * len(shapes) if mode != "off" else 0, "spans_stored": stored,
            "dropped": processor.dropped if processor is not None else 0,
            "load_average": round(os.getloadavg()[0], 1)}


def run_queue_wait() -> float:
    """Seconds this thread has waited on a run queue for a CPU (Linux schedstat; 0 elsewhere): the
    machine's load, not the GIL (a thread waiting for the GIL sleeps, it is not queued)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stat:
            return int(stat.read().split()[1]) / 1e9
    except OSError:
        return 0.0


def _cpu_of(child) -> float:
    """CPU seconds a child process has used so far (Linux /proc; 0 without a child)."""
    if child is None:
        return 0.0
    fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(values: list[float], percentile: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * percentile / 100))] * 1000, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s (one of 2 workers at 200 req/s)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="off,thread,process")
    parser.add_argument("--switch-ms", type=float, help="sys.setswitchinterval in the measured process")
    parser.add_argument("--realtime", action="store_true",
                        help="run under SCHED_RR (Linux, root): other users' load no longer cuts in; the writer child "
                             "5 priorities below, as serve_speed.py --realtime places it (for A/B, not for publishing)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # one measurement, in a fresh process
    parser.add_argument("--spans", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.switch_ms:
        sys.setswitchinterval(args.switch_ms / 1000)
    if args.realtime and not args.measure:  # inherited by the measurements' processes
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    if args.measure:
        print(json.dumps(measure(args.measure, args.spans, args.rate, args.seconds)))
        return 0
    with tempfile.TemporaryDirectory(prefix="span-writer-tail-") as folder:
        spans_file = Path(folder) / "spans.json"
        shapes = template(Path(folder))
        spans_file.write_text(json.dumps(shapes), encoding="utf-8")
        print(f"log-triage: {len(shapes)} spans a request, {sum(len(json.dumps(a)) for _, a in shapes)} bytes of "
              f"attributes; {args.rate:g} requests/s for {args.seconds:g} s, {args.rounds} rounds"
              + (f", switch interval {args.switch_ms:g} ms" if args.switch_ms else "")
              + (", SCHED_RR" if args.realtime else ""))
        results: dict[str, list[dict]] = {}
        for _ in range(args.rounds):
            for mode in args.modes.split(","):
                command = [sys.executable, __file__, "--measure", mode, "--spans", str(spans_file), "--rate",
                           str(args.rate), "--seconds", str(args.seconds)]
                if args.switch_ms:
                    command += ["--switch-ms", str(args.switch_ms)]
                result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
                print(json.dumps(result), flush=True)
                results.setdefault(mode, []).append(result)
        for mode, runs in results.items():
            print(f"{mode}: medians of {len(runs)}: excess p50/p99/max "
                  + "/".join(f"{statistics.median(r[k] for r in runs):.1f}"
                             for k in ("excess_p50_ms", "excess_p99_ms", "excess_max_ms"))
                  + " ms; less run-queue waits p50/p99 "
                  + "/".join(f"{statistics.median(r[k] for r in runs):.1f}"
                             for k in ("excess_less_run_queue_p50_ms", "excess_less_run_queue_p99_ms"))
                  + f" ms, wake-up p99 {statistics.median(r['wake_p99_ms'] for r in runs):.1f} ms, CPU "
                  f"{statistics.median(r['cpu_ms_per_request'] for r in runs):.2f} ms/request here + "
                  f"{statistics.median(r['writer_child_cpu_ms_per_request'] for r in runs):.2f} in the writer "
                  f"child; spans stored {sum(r['spans_stored'] for r in runs)} of "
                  f"{sum(r['spans_expected'] for r in runs)}, dropped {sum(r['dropped'] for r in runs)}; load "
                  f"{min(r['load_average'] for r in runs)}-{max(r['load_average'] for r in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
