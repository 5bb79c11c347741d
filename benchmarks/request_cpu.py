"""CPU per served request inside one `promptwise serve` worker, traced and untraced.

    .venv/bin/python benchmarks/request_cpu.py [--requests 3000] [--concurrency 32] [--latency-ms 5]
        [--pairs 3] [--profile traced|untraced] [--top 40]

The worker's app (serving/app.py's `create_app`, the same lifespan: flow, tracing with the span
writer child, metering, access log) is driven in this process over ASGI directly, with no HTTP
server in front: what is measured is the request path this project writes (admission, the
engine's run of log-triage with its 2 model calls to the scripted endpoint of serve_speed.py,
spans, metering, metrics, the answer), not uvicorn's parsing nor a load generator's share. Every
request's log line is its own (serve_speed's --vary-inputs bodies).

Each mode runs in a fresh process (tracing is configured once per process), traced and untraced
alternately `--pairs` times; printed per request: the event loop thread's CPU (`loop`), the
whole worker process's (`worker`: its threads too, the access log's and the meter's) and the span
writer child's (`writer`), with the load average, then the medians. `--profile MODE` runs that
mode once under cProfile and prints the top functions by own time and by cumulative time.
serve_speed.py gives the throughput and latency over real HTTP; this gives a steadier CPU figure
to compare changes with on a shared machine (run it before and after, back to back).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_speed  # noqa: E402 - the endpoint, the bodies and /proc readers are shared with it

ROOT = Path(__file__).resolve().parent.parent


def _scope(body: bytes) -> dict:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/score", "raw_path": b"/score", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
            "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]}


async def _request(app, body: bytes) -> int:
    """One POST /score as uvicorn hands it over: the body, then (once answered) the disconnect."""
    answered = asyncio.Event()
    sent_body = False
    status = 0

    async def receive():
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await app(_scope(body), receive, send)
    answered.set()
    return status


async def _drive(app, bodies: list[bytes], concurrency: int) -> None:
    pending = iter(bodies)
    failures = []

    async def client():
        for body in pending:
            status = await _request(app, body)
            if status != 200:
                failures.append(status)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    if failures:
        raise SystemExit(f"{len(failures)} requests failed (first status {failures[0]})")


def _quiet_access_log() -> None:
    """The access log as `promptwise serve` sets it up (a thread writes the lines), to /dev/null."""
    import logging

    from promptwise.serving.access_log import QueuedLog
    from promptwise.serving.app import access_log

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.addHandler(QueuedLog(handler))
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


def _bodies(count: int) -> list[bytes]:
    serve_speed.VARY = True
    return [json.dumps(serve_speed.body()).encode() for _ in range(count)]


def child_main(args) -> int:
    """One mode in this process: warm up, measure, print one JSON line."""
    from promptwise.engine.event_loop import loop_factory
    from promptwise.serving.app import ServeConfig, create_app
    from promptwise.serving.settings import ServeSettings

    os.environ["PROMPTWISE_BASE_URL"] = args.base_url
    os.environ.setdefault("OPENAI_API_KEY", "unused")
    _quiet_access_log()
    traced = args.child == "traced"
    settings = ServeSettings(max_concurrency=max(256, args.concurrency * 2))
    app = create_app(ServeConfig(Path(args.workspace) / "log-triage", settings, trace=traced))
    bodies = _bodies(args.warmup + args.requests)

    async def main():
        async with app.router.lifespan_context(app):
            await _drive(app, bodies[:args.warmup], args.concurrency)
            await asyncio.sleep(0.3)  # the writer child has taken the warm-up's spans
            me = os.getpid()
            children = [pid for pid in serve_speed.tree_pids(me) if pid != me]
            before = (time.thread_time(), serve_speed.process_cpu_seconds(me),
                      sum(serve_speed.process_cpu_seconds(pid) for pid in children), time.perf_counter())
            profiler = spy = None
            if args.spy_out:  # py-spy (not a dependency) samples the measured phase alone
                spy = subprocess.Popen([args.py_spy, "record", "--pid", str(me), "--rate", "400", "--format", "raw",
                                        "--output", args.spy_out, "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1.0)
            if args.profile_out:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            await _drive(app, bodies[args.warmup:], args.concurrency)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile_out)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait()
            loop_cpu = time.thread_time() - before[0]
            wall = time.perf_counter() - before[3]
            await asyncio.sleep(0.5)  # the writer child has taken the last spans
            worker_cpu = serve_speed.process_cpu_seconds(me) - before[1]
            writer_cpu = sum(serve_speed.process_cpu_seconds(pid) for pid in children) - before[2]
        per = 1000 / args.requests
        print(json.dumps({"mode": args.child, "loop_ms": round(loop_cpu * per, 3),
                          "worker_ms": round(worker_cpu * per, 3), "writer_ms": round(writer_cpu * per, 3),
                          "total_ms": round((worker_cpu + writer_cpu) * per, 3),
                          "req_per_s": round(args.requests / wall, 1),
                          "load_average": [round(x, 2) for x in os.getloadavg()]}))

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())
    return 0


def _run_child(mode: str, workspace: Path, base_url: str, args, profile_out: str | None = None,
               spy_out: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--workspace", str(workspace), "--base-url", base_url,
               "--requests", str(args.requests), "--warmup", str(args.warmup),
               "--concurrency", str(args.concurrency)]
    if profile_out:
        command += ["--profile-out", profile_out]
    if spy_out:
        command += ["--spy-out", spy_out, "--py-spy", str(args.py_spy)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_samples(path: str, top: int) -> None:
    """py-spy's collapsed stacks of the event loop's thread: the top frames by own and by inclusive samples."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        if not any(frame.startswith("Runner.run ") for frame in frames):
            continue  # another thread (access log, span feeder)
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    print(f"{total} samples of the event loop's thread; by own samples:")
    for frame, count in own.most_common(top):
        print(f"  {100 * count / total:5.1f}% {frame}")
    print("by inclusive samples:")
    for frame, count in inclusive.most_common(top * 2):
        print(f"  {100 * count / total:5.1f}% {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the scripted endpoint's answer time")
    parser.add_argument("--pairs", type=int, default=3, help="traced/untraced runs, alternately")
    parser.add_argument("--only", choices=("traced", "untraced"), help="measure one mode only")
    parser.add_argument("--profile", choices=("traced", "untraced"), help="one run of MODE under cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--py-spy", help="with --profile: sample with this py-spy binary instead of cProfile "
                                         "(cProfile's own cost distorts small functions)")
    parser.add_argument("--keep", help="with --profile: keep the raw profile (cProfile's stats, py-spy's stacks) here")
    parser.add_argument("--spy-out", help=argparse.SUPPRESS)
    parser.add_argument("--realtime", action="store_true",
                        help="run under SCHED_RR (Linux, root): other users' processes no longer cut into the measured "
                             "ones (as serve_speed.py --realtime); for comparing changes on a busy machine")
    parser.add_argument("--child", choices=("traced", "untraced"), help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)
    if args.realtime:  # inherited by the endpoint and the measured processes
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(serve_speed.REALTIME_PRIORITY))
        except (AttributeError, PermissionError) as error:
            raise SystemExit(f"--realtime: cannot switch to SCHED_RR ({error}); run as root or without --realtime")
    with tempfile.TemporaryDirectory(prefix="request-cpu-") as folder:
        workspace = Path(folder)
        shutil.copytree(serve_speed.FLOW, workspace / "log-triage")
        shutil.copy(ROOT / "flows" / "promptwise.yaml", workspace / "promptwise.yaml")
        (workspace / ".git").mkdir()
        endpoint = subprocess.Popen([sys.executable, serve_speed.__file__, "--endpoint", "--latency-ms",
                                     str(args.latency_ms)], stdout=subprocess.PIPE, text=True)
        try:
            base_url = endpoint.stdout.readline().strip()
            if args.profile and args.py_spy:
                out = args.keep or str(workspace / "spy.raw")
                print(json.dumps(_run_child(args.profile, workspace, base_url, args, spy_out=out)))
                _print_samples(out, args.top)
                return 0
            if args.profile:
                out = args.keep or str(workspace / "profile.out")
                print(json.dumps(_run_child(args.profile, workspace, base_url, args, out)))
                import pstats

                stats = pstats.Stats(out)
                stats.sort_stats("tottime").print_stats(args.top)
                stats.sort_stats("cumulative").print_stats(args.top)
                return 0
            modes = [args.only] if args.only else ["traced", "untraced"]
            results: dict[str, list[dict]] = {mode: [] for mode in modes}
            for _ in range(args.pairs):
                for mode in modes:
                    result = _run_child(mode, workspace, base_url, args)
                    results[mode].append(result)
                    print(json.dumps(result), flush=True)
        finally:
            serve_speed.stop(endpoint)
    for mode, runs in results.items():
        median = {key: round(statistics.median(run[key] for run in runs), 3)
                  for key in ("loop_ms", "worker_ms", "writer_ms", "total_ms", "req_per_s")}
        print(f"{mode}: median of {len(runs)}: loop {median['loop_ms']:.3f} ms, worker {median['worker_ms']:.3f} ms, "
              f"writer {median['writer_ms']:.3f} ms, worker+writer {median['total_ms']:.3f} ms CPU per request "
              f"({median['req_per_s']:g} req/s in-process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
