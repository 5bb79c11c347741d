"""Serving speed: the log-triage flow behind `promptwise serve`, 64 concurrent clients, a local
endpoint that answers every model call in 50 ms; side by side with `pf flow serve` when given.

    .venv/bin/python benchmarks/serve_speed.py [--requests 2000] [--clients 64] [--latency-ms 50]
        [--workers 1] [--rate 200] [--also-no-trace] [--vary-inputs] [--pf /tmp/pfvenv/bin/pf]

Three processes: the fake OpenAI-compatible endpoint, the server, and this script (the load,
with aiohttp). For each server it prints:
- closed loop (`--clients` each send their next request when the last is answered, `--requests`
  in all): requests/s, p50/p99 latency, serving overhead = latency minus the time the endpoint
  spent (model calls per request x latency; the endpoint counts the calls), CPU time of the
  server process(es) per request, and their resident memory after the run;
- open loop at `--rate` requests/s for 10 s (arrivals on schedule, whatever the answers do):
  p50/p99 latency and overhead of the answered requests, timed from their scheduled arrival, and
  how many were not answered (503 when the server sheds load);
- for promptwise, the serving layer alone: latency minus the flow's run time, which the server
  reports in a `Server-Timing: flow;dur=MS` header (HTTP, admission, queueing for the CPU);
- promptwise twice: as configured for production monitoring (alert rules checked every 10 s,
  online evaluation of 10% of requests by pii, prompt_injection and json_valid) and without it,
  so what monitoring adds per request is the difference (CPU time and latency).

Prompt flow runs when its `pf` command is found: `--pf PATH`, else $PROMPTWISE_BENCH_PF, else
`pf` on PATH. It is not a dependency of this project; install it in a virtual environment of its
own (`python -m venv /tmp/pfvenv && /tmp/pfvenv/bin/pip install promptflow`). Its connection
`open_ai_connection` is created there pointing at the same endpoint, and its tracing is off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "log-triage"
BODY = {"log_text": "2026-03-04T10:22:31.877Z ERROR claims-intake-svc [corr=5d0e7b42] Call to policy-admin GET "
                    "/policies/MTR-30-558190/coverage failed after 3 retries: java.net.SocketTimeoutException: Read "
                    "timed out (30000 ms)", "system_name": "claims-intake", "audience": "claims operations managers"}

VARY = False  # --vary-inputs: every request's log line its own (ids, times), as real traffic is
_sent = 0


def body() -> dict:
    """The next request's body: BODY, or with --vary-inputs BODY with its ids and time made unique
    (the server's span writer remembers content strings it has scanned for personal data, so
    identical requests would flatter it)."""
    global _sent
    if not VARY:
        return BODY
    _sent += 1
    text = (BODY["log_text"].replace("5d0e7b42", f"{_sent * 2654435761 % 2**32:08x}")
            .replace("MTR-30-558190", f"MTR-{_sent % 90 + 10}-{_sent * 7919 % 1000000:06d}")
            .replace("10:22:31.877", f"{_sent // 3600 % 24:02d}:{_sent // 60 % 60:02d}:{_sent % 60:02d}.{_sent % 1000:03d}"))
    return {**BODY, "log_text": text}


CLASSIFICATION = ('{"category": "integration_failure", "proposed_category": null, "confidence": 0.88, '
                  '"evidence": "call between systems failed"}')
SUMMARY = ("Claims intake could not check a policy's coverage because the policy system did not answer in time; "
           "the claim was saved and flagged for a manual check.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds:.0f} s")


def fake_stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_fake/stats") as response:
        return json.load(response)


def tree_pids(pid: int) -> list[int]:
    """The process and its descendants (uvicorn workers, Prompt flow's executor processes)."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            queue.extend(int(child) for child in children)
    return pids


def cpu_seconds(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for current in tree_pids(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def rss_mb(pid: int) -> float:
    total = 0
    for current in tree_pids(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def flow_seconds(response) -> float | None:
    """The flow's own run time from `Server-Timing: flow;dur=MS` (promptwise serve sends it)."""
    timing = response.headers.get("server-timing", "")
    if timing.startswith("flow;dur="):
        return float(timing.removeprefix("flow;dur=")) / 1000
    return None


async def closed_loop(url: str, total: int, clients: int, serving: list | None = None) -> tuple[list[float], int, float]:
    import aiohttp

    latencies: list[float] = []
    failures = 0
    remaining = total
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def client() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with session.post(url, json=body()) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latency = time.perf_counter() - started
                latencies.append(latency)
                flow = flow_seconds(response)
                if serving is not None and flow is not None:
                    serving.append(latency - flow)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return latencies, failures, time.perf_counter() - started


async def open_loop(url: str, rate: float, seconds: float, serving: list) -> tuple[list[float], int]:
    """Latencies of the answered (200) requests, from each one's scheduled arrival (a client that
    falls behind its schedule does not hide the wait), and how many were not answered (503 from
    back-pressure, other statuses, connection errors)."""
    import aiohttp

    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def one(scheduled: float) -> None:
            nonlocal failures
            try:
                async with session.post(url, json=body()) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                        return
                    flow = flow_seconds(response)
                    if flow is not None:
                        serving.append(time.perf_counter() - scheduled - flow)
            except aiohttp.ClientError:
                failures += 1
                return
            latencies.append(time.perf_counter() - scheduled)

        tasks = []
        start = time.perf_counter()
        for index in range(int(rate * seconds)):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
    return latencies, failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure(name: str, score_url: str, pid: int, base_url: str, args) -> dict:
    import resource

    # Warm up (imports, connections), then measure.
    asyncio.run(closed_loop(score_url, args.clients, args.clients))
    calls_before = fake_stats(base_url)["requests"]
    cpu_before, endpoint_before = cpu_seconds(pid), cpu_seconds(args.fake_pid)
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    serving: list[float] = []
    latencies, failures, wall = asyncio.run(closed_loop(score_url, args.requests, args.clients, serving))
    cpu = cpu_seconds(pid) - cpu_before
    endpoint_cpu = cpu_seconds(args.fake_pid) - endpoint_before
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
    calls = fake_stats(base_url)["requests"] - calls_before
    endpoint_ms = calls / args.requests * args.latency_ms
    result = {
        "server": name, "requests": args.requests, "failures": failures, "wall_s": round(wall, 2),
        "requests_per_s": round(args.requests / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "model_calls_per_request": round(calls / args.requests, 2),
        "overhead_p50_ms": round(percentile(latencies, 50) * 1000 - endpoint_ms, 1),
        "overhead_p99_ms": round(percentile(latencies, 99) * 1000 - endpoint_ms, 1),
        "cpu_ms_per_request": round(cpu / args.requests * 1000, 2), "rss_mb": round(rss_mb(pid), 1),
        # Where the rest of the machine's CPU went: the fake endpoint and this load generator.
        "endpoint_cpu_ms_per_request": round(endpoint_cpu / args.requests * 1000, 2),
        "client_cpu_ms_per_request": round(client_cpu / args.requests * 1000, 2),
        "load_average": round(os.getloadavg()[0], 1),
    }
    if serving:  # latency minus the flow's own run time (Server-Timing): HTTP, admission, queueing
        result["serving_only_p50_ms"] = round(percentile(serving, 50) * 1000, 2)
        result["serving_only_p99_ms"] = round(percentile(serving, 99) * 1000, 2)
    if args.rate:
        serving = []
        paced, paced_failures = asyncio.run(open_loop(score_url, args.rate, 10.0, serving))
        at = f"at_{args.rate:g}_rps"
        result[f"{at}_failures"] = paced_failures  # not answered: their (quick) refusals are not in the percentiles
        if paced:
            result.update({
                f"{at}_p50_ms": round(percentile(paced, 50) * 1000, 1),
                f"{at}_p99_ms": round(percentile(paced, 99) * 1000, 1),
                f"{at}_overhead_p50_ms": round(percentile(paced, 50) * 1000 - endpoint_ms, 1),
                f"{at}_overhead_p99_ms": round(percentile(paced, 99) * 1000 - endpoint_ms, 1),
            })
        if serving:
            result[f"at_{args.rate:g}_rps_serving_only_p99_ms"] = round(percentile(serving, 99) * 1000, 2)
    return result


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


MONITORING = """
alerts_interval: 10s
alerts:
  - {name: slow-triage, flow: log-triage, metric: latency_p95_ms, above: 5000, window: 15m}
  - {name: failing-triage, flow: log-triage, metric: error_rate, above: 0.05, window: 15m}
  - {name: expensive-triage, flow: log-triage, metric: cost_per_day_usd, above: 100, window: 1h}
monitoring:
  online_eval:
    evaluators: [pii, prompt_injection, json_valid]
    sample_rate: 0.1
"""


def run_promptwise(workspace: Path, base_url: str, args, monitoring: bool = False) -> dict:
    settings = workspace / "promptwise.yaml"
    plain = settings.read_text(encoding="utf-8")
    if monitoring:
        settings.write_text(plain + MONITORING, encoding="utf-8")
    try:
        result = _run_promptwise(workspace, base_url, args, monitoring)
    finally:
        settings.write_text(plain, encoding="utf-8")
    if monitoring:  # proof that online evaluation ran: the scores it stored (10% of the requests)
        import sqlite3

        with sqlite3.connect(workspace / ".promptwise" / "traces.sqlite") as db:
            result["online_eval_scores"] = db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    return result


def _run_promptwise(workspace: Path, base_url: str, args, monitoring: bool) -> dict:
    port = free_port()
    env = {**os.environ, "PROMPTWISE_BASE_URL": base_url, "OPENAI_API_KEY": "unused"}
    command = [sys.executable, "-m", "promptwise", "serve", str(workspace / "log-triage"), "--port", str(port),
               "--workers", str(args.workers)]
    if args.no_trace:
        command.append("--no-trace")
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", server)
        label = f"promptwise serve ({args.workers} worker{'s' if args.workers > 1 else ''}" + \
                (", no trace" if args.no_trace else "") + (", monitoring)" if monitoring else ")")
        return measure(label, f"http://127.0.0.1:{port}/score", server.pid, base_url, args)
    finally:
        stop(server)


def run_prompt_flow(pf: Path, workspace: Path, base_url: str, args) -> dict:
    home = workspace / "pf-home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PF_DISABLE_TRACING": "true", "PROMPTFLOW_DISABLE_TRACING": "true",
           "PF_SERVICE_SKIP_UPDATE": "true"}
    connection = workspace / "connection.yaml"
    connection.write_text("$schema: https://azuremlschemas.azureedge.net/promptflow/latest/OpenAIConnection.schema.json\n"
                          "name: open_ai_connection\ntype: open_ai\napi_key: unused\n"
                          f"base_url: {base_url}\n", encoding="utf-8")
    subprocess.run([str(pf), "config", "set", "telemetry.enabled=false"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(pf), "connection", "create", "--file", str(connection)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    log = ROOT / "benchmarks" / ".pf-serve.log" if args.keep_pf_log else workspace / "pf-serve.log"
    server = subprocess.Popen([str(pf), "flow", "serve", "--source", str(workspace / "log-triage"), "--port", str(port),
                               "--host", "127.0.0.1", "--skip-open-browser"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(log, "wb"))
    try:
        wait_for(f"http://127.0.0.1:{port}/health", server)
        return measure("pf flow serve (Prompt flow)", f"http://127.0.0.1:{port}/score", server.pid, base_url, args)
    finally:
        stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop arrivals per second (0: skip)")
    parser.add_argument("--no-trace", action="store_true", help="serve without tracing")
    parser.add_argument("--also-no-trace", action="store_true",
                        help="also run promptwise serve --no-trace (Prompt flow runs with its tracing off)")
    parser.add_argument("--monitoring-pairs", type=int, default=1,
                        help="runs without and with monitoring, alternately (the median difference is printed)")
    parser.add_argument("--no-monitoring-run", action="store_true",
                        help="skip the second promptwise run with alert rules and online evaluation")
    parser.add_argument("--vary-inputs", action="store_true",
                        help="every request's log line different (ids, time): no two requests' content alike")
    parser.add_argument("--pf", type=Path, help="Prompt flow's `pf` command, to measure `pf flow serve` too")
    parser.add_argument("--keep-pf-log", action="store_true", help="write pf flow serve's log to benchmarks/.pf-serve.log")
    args = parser.parse_args()
    global VARY
    VARY = args.vary_inputs
    if args.pf is None:
        found = os.environ.get("PROMPTWISE_BENCH_PF") or shutil.which("pf")
        args.pf = Path(found) if found else None
        if args.pf is None:
            print("pf flow serve not measured: no `pf` (give --pf PATH; see this script's docstring)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="serve-speed-") as folder:
        workspace = Path(folder)
        shutil.copytree(FLOW, workspace / "log-triage")
        shutil.copy(ROOT / "flows" / "promptwise.yaml", workspace / "promptwise.yaml")
        (workspace / ".git").mkdir()  # the workspace root: its .promptwise/ (traces, metering) stays here
        # Two cheap rules (the demo's rules file runs long regexes over every prompt: the fake
        # endpoint, not the server, would then be what is measured).
        rules = workspace / "rules.json"
        rules.write_text(json.dumps([{"pattern": "^Source system:", "reply": CLASSIFICATION},
                                     {"pattern": None, "reply": SUMMARY}]), encoding="utf-8")
        fake = subprocess.Popen([sys.executable, "-m", "promptwise.devtools.fake_openai", "--port", "0",
                                 "--latency-ms", str(args.latency_ms), "--rules", str(rules)],
                                stdout=subprocess.PIPE, text=True)
        try:
            base_url = fake.stdout.readline().strip()
            args.fake_pid = fake.pid
            results = [run_promptwise(workspace, base_url, args)]
            pairs = []  # (without, with) monitoring, run alternately: the machine's load drifts between runs
            for index in range(0 if args.no_monitoring_run else args.monitoring_pairs):
                without = results[0] if index == 0 else run_promptwise(workspace, base_url, args)
                pairs.append((without, run_promptwise(workspace, base_url, args, monitoring=True)))
            results += [watched for _, watched in pairs[:1]]
            if args.also_no_trace and not args.no_trace:  # like for like: pf flow serve runs untraced here
                results.append(run_promptwise(workspace, base_url, argparse.Namespace(**{**vars(args), "no_trace": True})))
            if args.pf:
                results.append(run_prompt_flow(args.pf, workspace, base_url, args))
        finally:
            stop(fake)
    print(f"log-triage flow, endpoint latency {args.latency_ms:g} ms per model call, {args.clients} clients, "
          f"{args.requests} requests (closed loop); open loop at {args.rate:g} requests/s for 10 s")
    for result in results:
        print(json.dumps(result))
    ours = results[0]
    if pairs:
        at = f"at_{args.rate:g}_rps_p50_ms"
        cpu = [w["cpu_ms_per_request"] - o["cpu_ms_per_request"] for o, w in pairs]
        for o, w in pairs[1:]:
            print(json.dumps({"pair": [o["cpu_ms_per_request"], w["cpu_ms_per_request"]],
                              "load_average": [o["load_average"], w["load_average"]]}))
        print(f"monitoring adds {statistics.median(cpu):+.2f} ms CPU per request (median of {len(pairs)} alternate "
              f"pair{'s' if len(pairs) > 1 else ''}: {', '.join(f'{d:+.2f}' for d in cpu)}), "
              f"p50 {statistics.median(w['p50_ms'] - o['p50_ms'] for o, w in pairs):+.1f} ms, "
              f"p99 {statistics.median(w['p99_ms'] - o['p99_ms'] for o, w in pairs):+.1f} ms (closed loop)"
              + (f", p50 at {args.rate:g} req/s {statistics.median(w.get(at, 0) - o.get(at, 0) for o, w in pairs):+.1f} ms"
                 if args.rate else ""))
    pf = next((r for r in results if r["server"].startswith("pf ")), None)
    for mine in [r for r in results if r["server"].startswith("promptwise") and "monitoring" not in r["server"]]:
        if pf is not None and pf["requests_per_s"]:
            print(f"{mine['server']} / Prompt flow: throughput {mine['requests_per_s'] / pf['requests_per_s']:.1f}x; "
                  f"CPU per request {mine['cpu_ms_per_request']} / {pf['cpu_ms_per_request']} ms "
                  f"({pf['cpu_ms_per_request'] / mine['cpu_ms_per_request']:.1f}x less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
