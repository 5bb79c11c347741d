"""Serving speed: the log-triage flow behind `promptwise serve`, 64 concurrent clients, a local
endpoint that answers every model call in 50 ms; side by side with `pf flow serve` when given.

    .venv/bin/python benchmarks/serve_speed.py [--requests 2000] [--clients 64] [--latency-ms 50]
        [--workers 1] [--rate 200] [--also-no-trace] [--vary-inputs] [--pf /tmp/pfvenv/bin/pf]

Three processes besides the server, each as cheap as it can be so that they leave the 2 cores
to the server under test: the scripted model endpoint (this script with --endpoint: a raw asyncio
protocol on uvloop answering pre-encoded completions after the latency), and this script as the
load (raw HTTP/1.1 over keep-alive connections, every request encoded before the clock starts).
The endpoint's answers and the paced load's sends are timed by a Linux timerfd (PreciseTimer),
not the loop's whole-millisecond timers: a harness artefact fixed on 7 Dec 2026. Before, the
endpoint answered up to 1 ms late and the load sent up to 1 ms late, all on millisecond ticks
(so answers for different requests reached the server together), and every overhead figure
counted that as the server's: back to back, --realtime, untraced, load 17: baseline overhead
p99 2.9 -> 1.2 ms (own 0.9 -> 0.9), send_lag p99 0.9 -> 0.2, endpoint_late p99 0.9 -> 0.1.
Their CPU per request is printed beside the server's. For each server:
- closed loop (`--clients` each send their next request when the last is answered, `--requests`
  in all): requests/s, p50/p99 latency, serving overhead = latency minus the time the endpoint
  spent (model calls per request x latency; the endpoint counts the calls), CPU time of the
  server process(es) per request, and their resident memory after the run;
- open loop at `--rate` requests/s for `--seconds` (arrivals on schedule, whatever the answers
  do): p50/p99 latency and overhead of the answered requests, timed from their scheduled
  arrival, how many were not answered (503 when the server sheds load), and the CPU per request
  of the server, the endpoint and the load generator in that phase, with the load average;
- for promptwise, the overhead measured inside the server, from its `Server-Timing` header
  (`flow;dur`, `model;dur`, `app;dur`): app minus model = from admission to the answer, less the
  time its model calls took (what the network and the client's own scheduling add is not in
  it); `outside_flow` = latency minus the flow's run (HTTP, admission, queueing, the client);
- with --vary-inputs, `own`: each request's latency less how late the load generator sent it,
  its model calls' nominal latency and how late the endpoint answered them (told apart by the
  log line's id the calls carry): the server's share, its HTTP, its waits for a core and its
  client's time on the calls included, and none of the harness's timers;
- promptwise twice: as configured for production monitoring (alert rules checked every 10 s,
  online evaluation of 10% of requests by pii, prompt_injection and json_valid) and without it,
  so what monitoring adds per request is the difference (CPU time and latency);
- first, a baseline measured the same way: a pass-through (raw asyncio, one process) that
  answers each request once it has made the flow's two model calls to the endpoint, one after
  the other, and does nothing else. Its overhead is this machine's share of every server's (the
  load generator's and the endpoint's timers, loopback, scheduling on shared cores, one HTTP
  hop); a server's own share is what it adds beyond. Each open-loop phase also reports how late
  the load generator sent (`send_lag`) and how late the endpoint answered (`endpoint_late`),
  and (Linux) how long the server's, the endpoint's and the load's threads waited, runnable,
  for a core (`run_queue_wait_ms_per_request`, schedstat);
- with --timeline FILE (and --vary-inputs), each paced request's own share split by the load's
  and the endpoint's clocks into `in` (sent -> its first model call read by the endpoint),
  `between` (the first call answered -> the second read) and `out` (the last answered -> the
  server's answer read): p50/p99 of each, and their means over the slowest 1%.

The last lines are one summary per server: requests/s (and the ratio to Prompt flow's),
p50/p99 latency, CPU per request and memory; at the paced rate p50/p99 latency and overhead
beside the baseline's p99, the in-server p99, CPU per request and the load average.
On a shared machine compare runs back to back (the load average is printed with each phase),
or give `--realtime` (Linux, root or CAP_SYS_NICE): this script and every process it starts run
under SCHED_RR, so other users' processes no longer cut into the measured ones and a busy
machine gives about a quiet one's figures (7 Dec 2026 at load 10-17: baseline p99 overhead
2.7-3.1 ms, as on a quiet machine); for comparing changes, not for publishing. In the paced
phase a server's span writer processes run a little below its workers (background_priority).

Prompt flow runs when its `pf` command is found: `--pf PATH`, else $PROMPTWISE_BENCH_PF, else
`pf` on PATH. It is not a dependency of this project; install it in a virtual environment of its
own (`python -m venv /tmp/pfvenv && /tmp/pfvenv/bin/pip install promptflow`). Its connection
`open_ai_connection` is created there pointing at the same endpoint, and its tracing is off.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "log-triage"
BODY = {"log_text": "2026-03-04T10:22:31.877Z ERROR claims-intake-svc [corr=5d0e7b42] Call to policy-admin GET "
                    "/policies/MTR-30-558190/coverage failed after 3 retries: java.net.SocketTimeoutException: Read "
                    "timed out (30000 ms)", "system_name": "claims-intake", "audience": "claims operations managers"}

REALTIME_PRIORITY = 10  # --realtime: SCHED_RR priority of this script and what it starts
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


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when there (as the server under test has it): the harness's own CPU per request is low."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# --- the model endpoint: a process of its own, answers pre-encoded ---------------------------------
def completion(content: str, prompt_tokens: int, completion_tokens: int) -> bytes:
    body = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}}).encode()
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)) + body


def next_request(buffer: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The first whole request in `buffer`: (its head, lower-cased; its body; what follows), or
    None while it has not all arrived."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].lower()
    length = 0
    at = head.find(b"content-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at)
        length = int(head[at + 15:line_end if line_end >= 0 else len(head)])
    if len(buffer) < head_end + 4 + length:
        return None
    return head, buffer[head_end + 4:head_end + 4 + length], buffer[head_end + 4 + length:]


def request_key(data: bytes) -> bytes:
    """The log line's correlation id in a request (or a model call made for it): with
    --vary-inputs each request's own, so the endpoint's lateness is told apart per request."""
    at = data.find(b"[corr=")
    return data[at + 6:at + 14] if at >= 0 else b""


def json_answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body


class EndpointConnection(asyncio.Protocol):
    """One keep-alive connection to the scripted endpoint: each POST is answered after the
    latency with one of two pre-encoded completions (the classification when the prompt is the
    classify node's, else the summary); `GET /_stats` with the count of model calls and how
    late the endpoint's own timers answered the calls since the last `/_stats` (uvloop's timers
    tick in whole milliseconds: part of every latency the harness measures, not the server's)."""

    calls = 0
    late: list[float] = []  # seconds past the latency, per call answered since the last /_stats
    late_by_request: dict[bytes, list] = {}  # request key -> [calls, seconds late in all], since the last /_stats
    # --timeline: request key -> [(received, answered), ...] per model call, perf_counter times
    # (CLOCK_MONOTONIC on Linux: one clock for every process, so the load's times line up with them)
    calls_by_request: dict[bytes, list] = {}

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := next_request(self.buffer)) is not None:
            head, body, self.buffer = request
            if head.startswith(b"get /_stats"):
                late, EndpointConnection.late = EndpointConnection.late, []
                by_request, EndpointConnection.late_by_request = EndpointConnection.late_by_request, {}
                timed, EndpointConnection.calls_by_request = EndpointConnection.calls_by_request, {}
                stats = {"requests": EndpointConnection.calls,
                         "late_by_request": {key.decode(): value for key, value in by_request.items()},
                         "calls_by_request": {key.decode(): value for key, value in timed.items()}}
                if late:
                    stats.update(late_p50_ms=ms(late, 50), late_p99_ms=ms(late, 99))
                self.transport.write(json_answer(json.dumps(stats).encode()))
                continue
            EndpointConnection.calls += 1
            answer = CLASSIFIED if b"Source system:" in body else SUMMARISED
            received = time.perf_counter()
            PRECISE.call_at(received + self.latency, self._answer, answer, received, request_key(body))

    def _answer(self, answer: bytes, received: float, key: bytes) -> None:
        late = time.perf_counter() - received - self.latency
        EndpointConnection.late.append(late)
        if key:
            counted = EndpointConnection.late_by_request.setdefault(key, [0, 0.0])
            counted[0] += 1
            counted[1] += late
            EndpointConnection.calls_by_request.setdefault(key, []).append((received, received + self.latency + late))
        if not self.transport.is_closing():
            self.transport.write(answer)


class PreciseTimer:
    """Callbacks at perf_counter deadlines, to within the kernel's timer slack (50 us), on the
    running loop: one Linux timerfd (ns resolution, CLOCK_MONOTONIC = perf_counter's clock)
    armed at the earliest deadline. Why: the loop's own timers (uvloop's and asyncio's alike)
    tick in whole milliseconds, so the endpoint answered a 50 ms call up to a millisecond late
    and the load sent up to a millisecond late (7 Dec 2026: endpoint_late p50/p99 0.1/1.0-1.5
    ms, send_lag p99 0.8-2.0 ms, the baseline's overhead p99 2.9-3.3 ms of which its own 0.9-
    1.5): harness time that every overhead figure charged to the server. Elsewhere than Linux,
    or without timerfd, the loop's call_at as before."""

    def __init__(self) -> None:
        self.pending: list = []  # heap of (deadline, order, callback, args)
        self.order = 0
        self.fd = None
        self.armed = float("inf")

    def _open(self, loop) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.timerfd_create(time.CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.libc, self.fd, self.loop = libc, fd, loop
        loop.add_reader(fd, self._fire)

    def call_at(self, deadline: float, callback, *args) -> None:
        loop = asyncio.get_running_loop()
        if self.fd is not None and self.fd >= 0 and self.loop is not loop:  # a phase's new loop
            os.close(self.fd)
            self.fd, self.pending, self.armed = None, [], float("inf")
        if self.fd is None:
            try:
                if sys.platform != "linux":
                    raise OSError("no timerfd")
                self._open(loop)
            except (OSError, AttributeError):
                self.fd = -1
        if self.fd < 0:
            loop.call_at(loop.time() + deadline - time.perf_counter(), callback, *args)
            return
        import heapq

        heapq.heappush(self.pending, (deadline, self.order, callback, args))
        self.order += 1
        if deadline < self.armed:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        import ctypes

        seconds = int(deadline)
        spec = (ctypes.c_long * 4)(0, 0, seconds, int((deadline - seconds) * 1e9))  # interval 0, value
        self.libc.timerfd_settime(self.fd, 1, spec, None)  # TFD_TIMER_ABSTIME
        self.armed = deadline

    def _fire(self) -> None:
        import heapq

        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass
        self.armed = float("inf")
        now = time.perf_counter()
        while self.pending and self.pending[0][0] <= now:
            _, _, callback, args = heapq.heappop(self.pending)
            callback(*args)
        if self.pending:
            self._arm(self.pending[0][0])


PRECISE = PreciseTimer()  # one per process (the endpoint's, or the load's)

CLASSIFIED = completion(CLASSIFICATION, 900, 40)
SUMMARISED = completion(SUMMARY, 300, 35)


def serve_forever(protocol, note: str = "") -> int:
    """Serve `protocol` on 127.0.0.1 until killed; the first line on stdout is the base URL."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(protocol, "127.0.0.1", 0, backlog=1024))
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}{note}", flush=True)
    loop.run_forever()
    return 0


def endpoint_main(latency_ms: float) -> int:
    """`serve_speed.py --endpoint`: the scripted model endpoint."""
    return serve_forever(lambda: EndpointConnection(latency_ms / 1000), "/v1")


def endpoint_stats(base_url: str) -> dict:
    """The endpoint's count of calls, and its timers' lateness since the last look."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_stats") as response:
        return json.load(response)


def endpoint_calls(base_url: str) -> int:
    return endpoint_stats(base_url)["requests"]


# --- the baseline: a pass-through of the server's shape, with no work of its own ----------------
# The flow's two model calls as it sends them, in size (the classify prompt carries the taxonomy).
CLASSIFY_CALL = json.dumps({"model": "gpt-4o-mini", "temperature": 0, "max_tokens": 300, "messages": [
    {"role": "system", "content": "Classify the log. " + "taxonomy entry; " * 220},
    {"role": "user", "content": "Source system: claims-intake\n" + BODY["log_text"]}]}).encode()
SUMMARY_CALL = json.dumps({"model": "gpt-4o-mini", "max_tokens": 300, "messages": [
    {"role": "system", "content": "Rewrite for the business. " + "guidance; " * 40},
    {"role": "user", "content": CLASSIFICATION + "\n" + BODY["log_text"]}]}).encode()
PASSED = json_answer(json.dumps({"category": "integration_failure", "proposed_category": None, "confidence": 0.88,
                                 "business_summary": SUMMARY, "new_category_proposal": None}).encode())


class PassThrough(asyncio.Protocol):
    """The baseline server (`--passthrough URL`): each POST is answered when two model calls,
    one after the other as the flow makes them, have come back from the endpoint, with nothing
    else done. Its latency over the load generator is what this machine adds whatever the
    server: the generator's and the endpoint's timers, the kernel's loopback and scheduling on
    cores shared by all, one more HTTP hop; the served flow's latency beyond it is the server's."""

    def __init__(self, upstream: "Load") -> None:
        self.upstream = upstream
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := next_request(self.buffer)) is not None:
            _, body, self.buffer = request  # the load sends one request at a time per connection
            asyncio.get_running_loop().create_task(self._answer(request_key(body)))

    async def _answer(self, key: bytes) -> None:
        for call in (CLASSIFY_CALL, SUMMARY_CALL):  # the request's own correlation id in its calls, as the flow's
            await self.upstream.post(self.upstream.request(call.replace(b"[corr=5d0e7b42]", b"[corr=%s]" % key)))
        if not self.transport.is_closing():
            self.transport.write(PASSED)


def passthrough_main(base_url: str) -> int:
    """`serve_speed.py --passthrough ENDPOINT_URL`: the baseline server, one process."""
    upstream = Load(base_url + "/chat/completions")
    return serve_forever(lambda: PassThrough(upstream), "/score")


# --- the load: raw HTTP/1.1 over keep-alive connections, requests encoded before the clock starts --
class Answer:
    __slots__ = ("status", "headers")

    def __init__(self, status: int, headers: dict) -> None:
        self.status = status
        self.headers = headers


class ClientConnection(asyncio.Protocol):
    """A keep-alive connection that sends one request at a time and reads its answer (length-,
    chunk- or close-delimited, so `pf flow serve`'s server works too)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.reusable = True

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._parse(eof=True)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._parse()

    def send(self, request: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def _parse(self, eof: bool = False) -> None:
        if self.waiter is None or self.waiter.done():
            return
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = self.buffer[head_end + 4:]
        if "content-length" in headers:
            length = int(headers["content-length"])
            if len(rest) < length:
                return
            self.buffer = rest[length:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            if not rest.endswith(b"0\r\n\r\n"):
                return
            self.buffer = b""
        elif not eof:  # the body ends when the connection does
            return
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if not keep_alive:
            self.reusable = False
            self.transport.close()
        self.waiter.set_result(Answer(int(status), headers))


class Load:
    """Connections to one server, reused while they stay open."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        # Idle connections are reused oldest first, so requests spread over all of them (and
        # over the workers that accepted them) as a pool of independent clients' would.
        self.idle: collections.deque[ClientConnection] = collections.deque()

    def request(self, body: bytes) -> bytes:
        return (f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode() + body

    async def post(self, request: bytes) -> Answer:
        connection = None
        while self.idle:
            candidate = self.idle.popleft()
            if not candidate.closed and candidate.reusable:
                connection = candidate
                break
        if connection is None:
            _, connection = await asyncio.get_running_loop().create_connection(ClientConnection, self.host, self.port)
        answer = await connection.send(request)
        if connection.reusable and not connection.closed:
            self.idle.append(connection)
        return answer

    def close(self) -> None:
        for connection in self.idle:
            connection.transport.close()


def server_timing(answer: Answer) -> dict[str, float]:
    """`Server-Timing: flow;dur=MS, model;dur=MS, app;dur=MS` (promptwise serve sends it) in seconds."""
    timing = {}
    for part in answer.headers.get("server-timing", "").split(","):
        name, _, duration = part.strip().partition(";dur=")
        if duration:
            timing[name] = float(duration) / 1000
    return timing


class Phase:
    """What one load phase measured: latencies of the answered (200) requests and, from the
    server's Server-Timing, the time outside the flow and inside the server but outside the model."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.outside_flow: list[float] = []
        self.in_server: list[float] = []
        self.send_lag: list[float] = []  # how late after its scheduled arrival each request was sent
        self.by_key: dict[bytes, float] = {}  # request key -> latency less the send lag (--vary-inputs)
        self.times: dict[bytes, tuple[float, float]] = {}  # request key -> (sent, answered), perf_counter (--vary-inputs)
        self.failures = 0

    def answered(self, answer: Answer, latency: float) -> None:
        if answer.status != 200:
            self.failures += 1
            return
        self.latencies.append(latency)
        timing = server_timing(answer)
        if "flow" in timing:
            self.outside_flow.append(latency - timing["flow"])
        if "app" in timing and "model" in timing:
            self.in_server.append(timing["app"] - timing["model"])

    async def send(self, load: "Load", request: bytes, started: float) -> None:
        """Send `request` and count its answer, timed from `started`."""
        lag = time.perf_counter() - started
        self.send_lag.append(lag)
        try:
            answer = await load.post(request)
        except OSError:  # connection refused or reset: not answered
            self.failures += 1
            return
        latency = time.perf_counter() - started
        self.answered(answer, latency)
        if answer.status == 200 and VARY:
            self.by_key[request_key(request)] = latency - lag
            self.times[request_key(request)] = (started + lag, started + latency)


def encoded(load: Load, count: int) -> list[bytes]:
    """The requests of a phase, encoded before it starts (with --vary-inputs each its own)."""
    return [load.request(json.dumps(body()).encode()) for _ in range(count)]


async def closed_loop(url: str, total: int, clients: int) -> tuple[Phase, float]:
    load = Load(url)
    requests = encoded(load, total)
    requests.reverse()
    phase = Phase()

    async def client() -> None:
        while requests:
            await phase.send(load, requests.pop(), time.perf_counter())

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    load.close()
    return phase, wall


async def open_loop(url: str, rate: float, seconds: float) -> Phase:
    """Arrivals on schedule whatever the answers do; each latency timed from its scheduled
    arrival (a client that falls behind its schedule does not hide the wait). Not answered:
    503 from back-pressure, other statuses, connection errors."""
    load = Load(url)
    requests = encoded(load, int(rate * seconds))
    phase = Phase()

    loop = asyncio.get_running_loop()
    tasks = []
    launched = loop.create_future()

    def launch(request: bytes, scheduled: float) -> None:
        tasks.append(loop.create_task(phase.send(load, request, scheduled)))
        if len(tasks) == len(requests):
            launched.set_result(None)

    start = time.perf_counter() + 0.01
    for index, request in enumerate(requests):  # each sent on time to within the timer slack (PreciseTimer)
        PRECISE.call_at(start + index / rate, launch, request, start + index / rate)
    if requests:
        await launched
    await asyncio.gather(*tasks)
    load.close()
    return phase


def run_load(coroutine):
    loop = new_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


# --- where the CPU went -----------------------------------------------------------------------
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


def process_cpu_seconds(pid: int) -> float:
    """One process's CPU time (its threads' included, its children's not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_seconds(pid: int) -> float:
    """The CPU time of the process and its descendants."""
    return sum(process_cpu_seconds(current) for current in tree_pids(pid))


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_mb(pid: int) -> dict[str, float]:
    """The server's memory, its process tree summed three ways (Linux /proc/PID/smaps_rollup):
    `rss_mb`, resident pages, counts a page shared by several processes (copy-on-write after a
    fork, the interpreter's and libraries' files) once per process, so it overstates a multi-
    process server; `pss_mb` splits each shared page among its sharers (the tree's honest share
    of the machine's memory); `uss_mb` counts only the pages no other process maps (what
    stopping the tree would free at least)."""
    totals = {"rss_mb": 0, "pss_mb": 0, "uss_mb": 0}
    fields = {"Rss:": "rss_mb", "Pss:": "pss_mb", "Private_Clean:": "uss_mb", "Private_Dirty:": "uss_mb"}
    for current in tree_pids(pid):
        try:
            lines = Path(f"/proc/{current}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts and parts[0] in fields:
                totals[fields[parts[0]]] += int(parts[1])
    return {key: round(kb / 1024, 1) for key, kb in totals.items()}


def run_delay_seconds(pids: list[int]) -> float:
    """How long the processes' threads waited, runnable, for a core (Linux schedstat's second
    field, kept without CONFIG_SCHEDSTATS): time the scheduler, not the work, added."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


class CpuMeter:
    """CPU seconds of the server (its process tree), the endpoint and this load generator
    over one phase, per request; and how long each of the three waited for a core."""

    def __init__(self, pid: int, endpoint_pid: int) -> None:
        self.pid, self.endpoint_pid = pid, endpoint_pid
        self.before = (cpu_seconds(pid), cpu_seconds(endpoint_pid), own_cpu_seconds())
        self.processes = {current: process_cpu_seconds(current) for current in tree_pids(pid)}
        self.waited = self._waits()

    def _waits(self) -> tuple[float, float, float]:
        return (run_delay_seconds(tree_pids(self.pid)), run_delay_seconds([self.endpoint_pid]),
                run_delay_seconds([os.getpid()]))

    def per_request_ms(self, requests: int) -> tuple[float, float, float]:
        after = (cpu_seconds(self.pid), cpu_seconds(self.endpoint_pid), own_cpu_seconds())
        return tuple(round((a - b) / max(1, requests) * 1000, 2) for a, b in zip(after, self.before))

    def waits_per_request_ms(self, requests: int) -> tuple[float, float, float]:
        """(server, endpoint, load) run-queue wait per request since the start, in ms (summed
        over threads: a wait on a request's path and one off it count alike)."""
        return tuple(round((a - b) / max(1, requests) * 1000, 2) for a, b in zip(self._waits(), self.waited))

    def split(self) -> list[float]:
        """Each server process's share of the server's CPU, largest first: with several uvicorn
        workers, how evenly the kernel handed them the connections."""
        spent = [process_cpu_seconds(current) - before for current, before in self.processes.items()]
        total = sum(spent) or 1.0
        return sorted((round(part / total, 2) for part in spent if part / total >= 0.01), reverse=True)


BACKGROUND = (b"promptwise.tracing.writer",)  # a server's processes that answer no request (span writers)


def background_priority(pid: int, priority: int) -> None:
    """--realtime, for the paced phase: the server's background processes (BACKGROUND) at a lower
    real-time priority than its workers. Under SCHED_RR a CPU-bound process keeps its core for
    100 ms slices among equals, which no ordinary scheduler does to a worker that wakes; below
    them, a worker that wakes takes the core at once (as it mostly does on a quiet machine), and
    at 200 req/s they leave the background processes CPU enough. Not in the closed loop: there
    the workers would leave them none, and their work (and CPU) would fall after the phase."""
    for current in tree_pids(pid):
        try:
            if any(name in Path(f"/proc/{current}/cmdline").read_bytes() for name in BACKGROUND):
                os.sched_setscheduler(current, os.SCHED_RR, os.sched_param(priority))
        except OSError:
            continue


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


def measure(name: str, score_url: str, pid: int, base_url: str, args) -> dict:
    # Warm up (imports, connections), then measure.
    run_load(closed_loop(score_url, args.clients, args.clients))
    calls_before = endpoint_calls(base_url)
    cpu = CpuMeter(pid, args.endpoint_pid)
    phase, wall = run_load(closed_loop(score_url, args.requests, args.clients))
    server_cpu, endpoint_cpu, client_cpu = cpu.per_request_ms(args.requests)
    calls = endpoint_calls(base_url) - calls_before
    endpoint_ms = calls / args.requests * args.latency_ms
    latencies = phase.latencies or [float("nan")]
    result = {
        "server": name, "requests": args.requests, "failures": phase.failures, "wall_s": round(wall, 2),
        "requests_per_s": round(args.requests / wall, 1),
        "p50_ms": ms(latencies, 50), "p99_ms": ms(latencies, 99),
        "model_calls_per_request": round(calls / args.requests, 2),
        "overhead_p50_ms": round(ms(latencies, 50) - endpoint_ms, 1),
        "overhead_p99_ms": round(ms(latencies, 99) - endpoint_ms, 1),
        "cpu_ms_per_request": server_cpu, **memory_mb(pid),
        # Where the rest of the machine's CPU went: the scripted endpoint and this load generator.
        "endpoint_cpu_ms_per_request": endpoint_cpu, "client_cpu_ms_per_request": client_cpu,
        "load_average": round(os.getloadavg()[0], 1),
    }
    if phase.in_server:  # Server-Timing app - model: the server's own time, whatever the network and the client add
        result["in_server_overhead_p50_ms"] = ms(phase.in_server, 50)
        result["in_server_overhead_p99_ms"] = ms(phase.in_server, 99)
    if args.rate:
        at = f"at_{args.rate:g}_rps"
        calls_before = endpoint_calls(base_url)  # (and the endpoint's timers' lateness so far forgotten)
        if args.realtime:
            background_priority(pid, REALTIME_PRIORITY - 5)
        cpu = CpuMeter(pid, args.endpoint_pid)
        paced = run_load(open_loop(score_url, args.rate, args.seconds))
        if args.realtime:
            background_priority(pid, REALTIME_PRIORITY)
        sent = int(args.rate * args.seconds)
        server_cpu, endpoint_cpu, client_cpu = cpu.per_request_ms(sent)
        waits = cpu.waits_per_request_ms(sent) if sys.platform == "linux" else None
        stats = endpoint_stats(base_url)
        endpoint_ms = (stats["requests"] - calls_before) / max(1, len(paced.latencies)) * args.latency_ms
        result[f"{at}_failures"] = paced.failures  # not answered: their (quick) refusals are not in the percentiles
        if paced.latencies:
            result.update({
                f"{at}_p50_ms": ms(paced.latencies, 50), f"{at}_p99_ms": ms(paced.latencies, 99),
                f"{at}_overhead_p50_ms": round(ms(paced.latencies, 50) - endpoint_ms, 1),
                f"{at}_overhead_p99_ms": round(ms(paced.latencies, 99) - endpoint_ms, 1),
            })
        if paced.in_server:
            result[f"{at}_in_server_overhead_p50_ms"] = ms(paced.in_server, 50)
            result[f"{at}_in_server_overhead_p99_ms"] = ms(paced.in_server, 99)
        if paced.outside_flow:  # latency - flow: the server's HTTP, admission and queueing, plus the client's
            result[f"{at}_outside_flow_p99_ms"] = ms(paced.outside_flow, 99)
        own = own_shares(paced, stats["late_by_request"], args.latency_ms / 1000)
        if own:  # the server's own share of each request, the harness's timers taken out
            result[f"{at}_own_p50_ms"] = ms(own, 50)
            result[f"{at}_own_p99_ms"] = ms(own, 99)
        # The harness's own share of every latency: the load generator sending late (its timers
        # tick in whole milliseconds and share the cores) and the endpoint answering late.
        result[f"{at}_send_lag_p99_ms"] = ms(paced.send_lag, 99)
        if "late_p99_ms" in stats:
            result[f"{at}_endpoint_late_p50_ms"] = stats["late_p50_ms"]
            result[f"{at}_endpoint_late_p99_ms"] = stats["late_p99_ms"]
        if args.timeline:
            result.update({f"{at}_{part}": value for part, value in
                           timeline(paced, stats["calls_by_request"], name, args.timeline).items()})
        if waits is not None:  # [server, endpoint, load]: waits for a core, per request
            result[f"{at}_run_queue_wait_ms_per_request"] = list(waits)
        result[f"{at}_cpu_split"] = cpu.split()
        result.update({f"{at}_cpu_ms_per_request": server_cpu, f"{at}_endpoint_cpu_ms_per_request": endpoint_cpu,
                       f"{at}_client_cpu_ms_per_request": client_cpu,
                       f"{at}_load_average": round(os.getloadavg()[0], 1)})
    return result


def own_shares(phase: Phase, late_by_request: dict[str, list], latency: float) -> list[float]:
    """Per request (--vary-inputs: told apart by their log line's id): its latency less how late
    the load generator sent it, its model calls' nominal latency and how late the endpoint
    answered them. What is left is the server's (its work, HTTP in and out, its waits for a
    core, its client's time on the calls) plus the loopback's, and none of the harness's timers."""
    shares = []
    for key, elapsed in phase.by_key.items():
        calls, late = late_by_request.get(key.decode(), (0, 0.0))
        if calls:
            shares.append(elapsed - calls * latency - late)
    return shares


def timeline(phase: Phase, calls_by_request: dict[str, list], server: str, path: Path) -> dict:
    """--timeline (with --vary-inputs): where each request's own share went, from the load's and
    the endpoint's clocks (one clock, CLOCK_MONOTONIC): `in` from the load sending it to the
    endpoint reading its first model call (the server reading and admitting it, the flow up to
    its call, the client library writing it); `between` from the endpoint answering a call to
    reading the next (the server waking to read the answer, the node between the calls);
    `out` from the endpoint answering the last call to the load reading the server's answer.
    in + between + out = own. Printed: each part's p50/p99, and its mean over the requests
    whose own share is in the top 1% (which part the tail is made of). Appends one JSON line
    per request to `path` (server, key, sent, answered, [[call read, call answered], ...])."""
    parts: dict[str, list[float]] = {"in": [], "between": [], "out": []}
    rows = []
    with open(path, "a", encoding="utf-8") as out:
        for key, (sent, answered) in phase.times.items():
            calls = sorted(calls_by_request.get(key.decode(), ()))
            if not calls:
                continue
            row = {"in": calls[0][0] - sent, "out": answered - calls[-1][1],
                   "between": sum(later[0] - earlier[1] for earlier, later in zip(calls, calls[1:]))}
            rows.append(row)
            for name, value in row.items():
                parts[name].append(value)
            out.write(json.dumps({"server": server, "key": key.decode(), "sent": sent, "answered": answered,
                                  "calls": calls}) + "\n")
    if not rows:
        return {}
    rows.sort(key=lambda row: sum(row.values()))
    tail = rows[-max(1, len(rows) // 100):]
    figures = {}
    for name, values in parts.items():
        figures[f"{name}_p50_ms"] = ms(values, 50)
        figures[f"{name}_p99_ms"] = ms(values, 99)
        figures[f"{name}_in_tail_ms"] = round(statistics.fmean(row[name] for row in tail) * 1000, 1)
    return figures


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


def run_baseline(base_url: str, args) -> dict:
    """The pass-through (PassThrough, one process) under the same load as the servers."""
    process = subprocess.Popen([sys.executable, __file__, "--passthrough", base_url], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        return measure(BASELINE, url, process.pid, base_url, args)
    finally:
        stop(process)


BASELINE = "baseline (pass-through, no server work)"


def summary(result: dict, rate: float, pf: dict | None, baseline: dict | None) -> str:
    """One line: the figures issue 10 asks for, with the ratio to Prompt flow's and, at the
    paced rate, the p99 overhead beside the baseline's (what the machine adds whatever the server)."""
    line = f"{result['server']}: {result['requests_per_s']} req/s"
    if pf is not None and pf is not result and pf["requests_per_s"]:
        line += (f" ({result['requests_per_s'] / pf['requests_per_s']:.1f}x pf, CPU "
                 f"{pf['cpu_ms_per_request'] / max(result['cpu_ms_per_request'], 0.01):.1f}x less)")
    line += (f", p50/p99 {result['p50_ms']:g}/{result['p99_ms']:g} ms, CPU {result['cpu_ms_per_request']:.2f} ms/req, "
             f"RSS {result['rss_mb']:g} MB (PSS {result['pss_mb']:g}, USS {result['uss_mb']:g})")
    at = f"at_{rate:g}_rps"
    if f"{at}_p99_ms" in result:
        line += (f"; at {rate:g} req/s: p50/p99 {result[f'{at}_p50_ms']:g}/{result[f'{at}_p99_ms']:g} ms, overhead "
                 f"p50/p99 {result[f'{at}_overhead_p50_ms']:g}/{result[f'{at}_overhead_p99_ms']:g} ms")
        if baseline is not None and baseline is not result and f"{at}_overhead_p99_ms" in baseline:
            line += f" (baseline's p99 {baseline[f'{at}_overhead_p99_ms']:g})"
        if f"{at}_own_p99_ms" in result:
            line += f", own p50/p99 {result[f'{at}_own_p50_ms']:g}/{result[f'{at}_own_p99_ms']:g} ms"
        if f"{at}_in_server_overhead_p99_ms" in result:
            line += f", in-server p99 {result[f'{at}_in_server_overhead_p99_ms']:g} ms"
        if f"{at}_in_p99_ms" in result:  # --timeline
            line += ", own in/between/out p99 " + "/".join(f"{result[f'{at}_{part}_p99_ms']:g}"
                                                           for part in ("in", "between", "out")) + " ms"
        if f"{at}_run_queue_wait_ms_per_request" in result:
            line += f", waits for a core {result[f'{at}_run_queue_wait_ms_per_request'][0]:g} ms/req"
        line += (f", CPU {result[f'{at}_cpu_ms_per_request']:.2f} ms/req, {result[f'{at}_failures']} unanswered, "
                 f"load {result[f'{at}_load_average']:g}")
    return line


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
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the open loop runs")
    parser.add_argument("--no-trace", action="store_true", help="serve without tracing")
    parser.add_argument("--also-no-trace", action="store_true",
                        help="also run promptwise serve --no-trace (Prompt flow runs with its tracing off)")
    parser.add_argument("--monitoring-pairs", type=int, default=1,
                        help="runs without and with monitoring, alternately (the median difference is printed)")
    parser.add_argument("--no-monitoring-run", action="store_true",
                        help="skip the second promptwise run with alert rules and online evaluation")
    parser.add_argument("--vary-inputs", action="store_true",
                        help="every request's log line different (ids, time): no two requests' content alike")
    parser.add_argument("--timeline", type=Path, metavar="FILE",
                        help="with --vary-inputs: split each paced request's own share into in / between / out "
                             "(load and endpoint clocks) and append the per-request times to FILE")
    parser.add_argument("--pf", type=Path, help="Prompt flow's `pf` command, to measure `pf flow serve` too")
    parser.add_argument("--keep-pf-log", action="store_true", help="write pf flow serve's log to benchmarks/.pf-serve.log")
    parser.add_argument("--realtime", action="store_true",
                        help="run everything under SCHED_RR (Linux, needs root or CAP_SYS_NICE): A/B on a busy machine")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baseline (a pass-through doing the same two model calls and nothing else)")
    parser.add_argument("--endpoint", action="store_true", help=argparse.SUPPRESS)  # the scripted endpoint's process
    parser.add_argument("--passthrough", metavar="ENDPOINT_URL", help=argparse.SUPPRESS)  # the baseline's process
    args = parser.parse_args()
    if args.endpoint:
        return endpoint_main(args.latency_ms)
    if args.passthrough:
        return passthrough_main(args.passthrough)
    global VARY
    VARY = args.vary_inputs
    if args.realtime:
        try:  # inherited by every process started from here on (endpoint, baseline, servers)
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
        except (AttributeError, PermissionError) as error:
            raise SystemExit(f"--realtime: cannot switch to SCHED_RR ({error}); run as root or without --realtime")
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
        endpoint = subprocess.Popen([sys.executable, __file__, "--endpoint", "--latency-ms", str(args.latency_ms)],
                                    stdout=subprocess.PIPE, text=True)
        try:
            base_url = endpoint.stdout.readline().strip()
            args.endpoint_pid = endpoint.pid
            baseline = None if args.no_baseline else run_baseline(base_url, args)
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
            stop(endpoint)
    print(f"log-triage flow, endpoint latency {args.latency_ms:g} ms per model call, {args.clients} clients, "
          f"{args.requests} requests (closed loop); open loop at {args.rate:g} requests/s for {args.seconds:g} s")
    every = ([baseline] if baseline is not None else []) + results
    for result in every:
        print(json.dumps(result))
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
    print("summary (overhead = latency minus the endpoint's model calls; the baseline's is the machine's share):")
    for result in every:
        print("  " + summary(result, args.rate, None if result is baseline else pf, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
