"""The ASGI app of `promptwise serve`: routes, keys, limits, metering, logs and traces.

    POST /score                 Prompt flow's serving contract (JSON in, JSON out; SSE when asked)
    POST /v1/chat/completions   OpenAI-compatible, for chat flows (serving/chat.py)
    GET  /health /ready /metrics /openapi.json (/swagger.json)

Every flow request goes through `FlowRequest` (auth, rate limit, concurrency, body limit), runs
the engine on the flow the router picks, and ends in `finish` (metrics, metering, access log,
trace): one path, whatever the route or the response's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import random
import secrets
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from promptwise.engine import usage
from promptwise.engine.event_loop import reset_slice, shorten_slice
from promptwise.serving.access_log import QueuedLog, queued
from promptwise.serving.errors import ServeError, error_response, safe_message, upstream_retry_after
from promptwise.serving.flow import InputProblem, ServedFlow
from promptwise.serving.limits import WindowBusy, limiter_for
from promptwise.serving.metering import Meter
from promptwise.serving.metrics import Metrics
from promptwise.serving.routing import Choice, Router, label
from promptwise.serving.settings import ServeSettings

log = logging.getLogger("promptwise.serve")
access_log = logging.getLogger("promptwise.serve.access")

BODY_SECONDS = 30.0  # at most this long to receive a request body
BUSY_TRIES = 2000  # a shared rate-limit window locked this many times in a row (1 ms apart): admitted
LOCAL_CONSUMER = "local"  # the consumer of requests when no keys are configured (loopback only)
UPSTREAM_DOWN = ("unreachable", "connection", "rate_limit", "server_error")  # engine error kinds -> 503


@dataclass
class ServeConfig:
    flow: Path
    settings: ServeSettings
    workers: int = 1
    state_dir: Path | None = None  # where metering.sqlite goes (the workspace's .promptwise/)
    trace: bool = True
    rollout_state: Path | None = None  # a rollout's state file (deploy/rollout.py): serve its versions
    registry_root: Path | None = None
    rollout_pending: bool = False  # no rollout yet: serve the flow's files, take over at the first `rollout set`
    limits_db: Path | None = None  # with several workers: the rate-limit window they share (serving/limits.py)
    init: dict | None = None  # a flex flow class entry's init values (serve --init)


@dataclass
class FlowRequest:
    """One flow request from admission to its log line."""

    route: str
    request_id: str
    consumer: str
    choice: Choice
    started: float
    status: int = 200
    error_kind: str | None = None
    error_detail: str | None = None  # the operator's side of a failure (access log, trace), never sent
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    inputs: Any = None
    streamed: bool = False
    cancelled: bool = False
    span: Any = None
    finished: bool = False
    flow_ms: float | None = None  # how long the engine ran the flow (the Server-Timing header)
    model_ms: float = 0.0  # the flow's model calls, as long as the engine's client waited for each (summed)
    first_token_ms: float | None = None  # a streamed answer's first piece sent to the client
    outputs: Any = None  # the flow's outputs, for online evaluation

    def failed_with(self, error: ServeError) -> None:
        self.status = error.status
        self.error_kind = error.kind
        self.error_detail = error.detail


class ServingApp:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.settings = config.settings
        self.flow = ServedFlow(config.flow, timeout_seconds=config.settings.timeout_seconds, init=config.init)
        self.router: Router | None = None
        self.metrics = Metrics()
        self.limiter = limiter_for(config.workers, config.limits_db)
        self.meter: Meter | None = None
        self.in_flight = 0
        self.ready_error: str | None = "starting"
        self.tracer = _tracer() if config.trace else None
        self._tracing_shutdown = None
        self.rollout = None  # serving/rollout.py RolloutWatcher when a rollout is served
        self._shadows: set[asyncio.Task] = set()
        self.shadows_dropped = 0
        self.online = None  # monitoring/online_eval.py: scores a sample of finished requests off the request path
        self.inputs_policy = None  # serve.log_inputs: the tracing.pii policy logged inputs go through

    # --- life cycle --------------------------------------------------------------------
    @asynccontextmanager
    async def lifespan(self, app):
        self._tracing_shutdown = _configure_tracing(self.config) if self.config.trace else _untraced()
        try:
            if self.config.rollout_state is not None and not self.config.rollout_pending:
                await self._open_rollout()
            else:
                await self.flow.open()
                self.router = Router([self.flow], _baked_version(self.flow))
                if self.config.rollout_state is not None:
                    self._watch_rollout()
            self.ready_error = None
        except Exception as error:  # noqa: BLE001 - reported on /ready and in the log, never a crash loop
            from promptwise.engine.errors import FlowError

            self.ready_error = str(error) if isinstance(error, FlowError) else f"{type(error).__name__}: {error}"
            log.error("promptwise serve: the flow cannot serve: %s", self.ready_error)
        state_dir = self.config.state_dir or (self.flow.session.workspace.state_dir if self.flow.session else None)
        if state_dir is not None:
            self.meter = Meter(state_dir / "metering.sqlite")
            self.meter.start()
        alerts = _alert_loop(self.flow) if self.config.trace else None  # monitoring/: off the request path
        self.online = _online_evaluation(self.flow, self.metrics.online_scored)
        if self.settings.log_inputs:
            self.inputs_policy = _inputs_policy(self.flow)
        writers = queued(access_log)
        for writer in writers:
            writer.start()
        _settle_heap()
        # This (the loop) thread takes a core as soon as a request's data arrives instead of at
        # the scheduler's next tick (engine/event_loop.py); the threads started above keep the default.
        shortened = shorten_slice()
        try:
            yield
        finally:
            if shortened is not None:  # the kernel's default again for this thread (and those it starts): tests serve in-process
                reset_slice()
            if alerts is not None:
                alerts.stop()
            if self.online is not None:
                self.online.stop()
            # uvicorn calls this after in-flight requests have finished (graceful drain).
            self.ready_error = "shutting down"
            if self.meter is not None:
                await self.meter.close()
            for task in list(self._shadows):
                task.cancel()
            if self.rollout is not None:
                await self.rollout.close()
            await self.flow.close()
            if self._tracing_shutdown is not None:
                try:
                    self._tracing_shutdown()
                except Exception as error:  # noqa: BLE001
                    log.warning("promptwise serve: flushing traces failed: %s", error)
            for writer in writers:  # last: every request has finished and logged its line
                writer.stop()

    async def _open_rollout(self) -> None:
        from promptwise.serving.rollout import RolloutWatcher

        watcher = RolloutWatcher(self.config.rollout_state, self.config.registry_root,
                                 self.settings.timeout_seconds, flow=self.config.flow)
        self.rollout = watcher
        table = await watcher.load()
        self.router = watcher.router = Router([], table)
        self.flow = self.router.primary  # openapi, /ready and the workspace come from the heaviest version

    def _watch_rollout(self) -> None:
        """No rollout yet: the flow's own files serve, and the first `promptwise rollout set` is
        picked up within a second like any later change (README: no restart)."""
        from promptwise.serving.rollout import RolloutWatcher

        watcher = RolloutWatcher(self.config.rollout_state, self.config.registry_root,
                                 self.settings.timeout_seconds, flow=self.config.flow)
        watcher.mtime = watcher._mtime()  # what is there now (nothing, or no current rollout) is not a change
        watcher.router = self.router
        self.rollout = watcher

    def shadow(self, flow_request: FlowRequest, given: Any) -> None:
        """Run the request on its shadow versions in the background: traced with their version
        id and `promptwise.shadow`, the answer recorded on the span, never returned."""
        for version, flow in flow_request.choice.shadow:
            if len(self._shadows) >= self.settings.max_concurrency:  # bounded: shed shadows, never the answer
                self.shadows_dropped += 1
                if self.shadows_dropped in (1, 100, 10_000):
                    log.warning("promptwise serve: %d shadow requests dropped (the server is at its shadow "
                                "limit, serve.max_concurrency)", self.shadows_dropped)
                continue
            task = asyncio.get_running_loop().create_task(self._run_shadow(version, flow, given, flow_request))
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)

    async def _run_shadow(self, version: str, flow: ServedFlow, given: Any, flow_request: FlowRequest) -> None:
        from promptwise.serving.rollout import SHADOW_CONSUMER, meter_shadow
        from promptwise.tracing import attributes as a

        span = None
        if self.tracer is not None:
            from opentelemetry import context, trace

            # A trace of its own (an empty parent context): the shadow's row in `traces` carries its version.
            span = self.tracer.start_span(f"shadow {flow_request.route}", context=context.Context(),
                                          kind=trace.SpanKind.INTERNAL, attributes={
                a.SPAN_KIND: a.SPAN_KIND_REQUEST, a.HTTP_ROUTE: flow_request.route, a.CONSUMER: SHADOW_CONSUMER,
                a.SHADOW_OF_CONSUMER: flow_request.consumer,
                a.FLOW_CONTENT_HASH: flow.content_hash, a.VERSION_ID: version, a.FLOW_NAME: flow.name,
                a.SHADOW: True, "promptwise.request.id": flow_request.request_id})
        outcome, failed = None, True
        try:
            with _current(span):
                outcome = await asyncio.wait_for(flow.run(flow.bind(given)), self.settings.timeout_seconds)
            failed = outcome.status != "completed"
            if span is not None:
                from promptwise.engine import spans as engine_spans

                if outcome.status != "completed":
                    _span_error(span, ServeError("flow_error", outcome.error or "the flow failed"))
                elif engine_spans.capture_content():  # the answer is content: kept only where prompts are
                    span.set_attribute(a.FLOW_OUTPUTS, json.dumps(outcome.outputs, default=str)[:4000])
        except Exception as error:  # noqa: BLE001 - a failing shadow never touches the answer
            if span is not None:
                kind = "timeout" if isinstance(error, asyncio.TimeoutError) else "invalid_input"
                _span_error(span, ServeError(kind, f"{type(error).__name__}: {error}"))
        finally:
            meter_shadow(self, version, outcome, span, failed)  # metered, never the consumer's rate limit
            if span is not None:
                span.end()

    # --- one path for every flow request ----------------------------------------------------
    async def respond(self, request: Request, route: str, answer, refuse=error_response) -> Response:
        """Admit the request, then `await answer(flow_request)` for its Response. `answer` finishes
        the request itself once it has answered (a stream finishes when it ends); a ServeError it
        raises is answered by `refuse` (the route's error shape), and any other end finishes it."""
        try:
            flow_request = await self.admit(request, route)
        except _Early as early:
            self.refused(route, early)
            return refuse(early.error, early.request_id)
        try:
            return await answer(flow_request)
        except ServeError as error:
            self.fail(flow_request, error)
            return refuse(error, flow_request.request_id, self.headers(flow_request))
        except ClientGone:  # nobody reads this answer; logged and traced as 499, cancelled
            self.finish(flow_request)
            return Response(status_code=499)
        except asyncio.CancelledError:
            flow_request.cancelled = True
            self.finish(flow_request)
            raise
        except BaseException:
            self.finish(flow_request)
            raise

    def refused(self, route: str, early: "_Early") -> None:
        """Requests turned away before they ran (401, 429, 503): counted and logged too."""
        version = label(self.router.primary_version if self.router else self.flow.content_hash)
        status = early.error.status
        self.metrics.requests.labels(route, version, early.consumer, str(status)).inc()
        self.metrics.errors.labels(route, version, early.consumer, early.error.kind).inc()
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({"ts": round(time.time(), 3), "id": early.request_id, "route": route,
                                        "status": status, "consumer": early.consumer, "version": version,
                                        "error": early.error.kind, "worker": os.getpid()}))

    # --- admission ---------------------------------------------------------------------
    def authenticate(self, request: Request) -> str:
        if not self.settings.requires_keys:
            return LOCAL_CONSUMER
        # Every header a key may come in is tried: a platform in front of us (Azure ML's endpoint
        # passes the caller's Entra token on as a Bearer) must not hide a valid `api-key`.
        candidates = [request.headers.get("api-key"), request.headers.get("x-api-key")]
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            candidates.insert(0, authorization[7:].strip())
        consumer = next((found for found in map(self.settings.consumer_for, filter(None, candidates))
                         if found is not None), None)
        if consumer is None:
            raise ServeError("unauthorized", "missing or unknown API key; send it as `Authorization: Bearer KEY` "
                                             "or an `api-key` header")
        return consumer

    async def admit(self, request: Request, route: str) -> FlowRequest:
        request_id = request_id_of(request)
        if self.router is None:
            raise _Early(request_id, ServeError("unavailable", "the flow is not ready: " + (self.ready_error or ""),
                                                retry_after=5), "unknown")
        try:
            consumer = self.authenticate(request)
        except ServeError as error:
            raise _Early(request_id, error, "unknown") from None
        # Back-pressure before the rate limit: a request turned away as busy uses none of the quota.
        if self.in_flight >= self.settings.max_concurrency:
            raise _Early(request_id, ServeError("unavailable", "the server is at its concurrency limit; retry shortly",
                                                retry_after=1), consumer)
        wait = await self.rate_check(consumer)
        if wait is not None:
            raise _Early(request_id, ServeError("rate_limited", f"consumer `{consumer}` is over its rate limit; "
                                                                f"retry after {math.ceil(wait)} s", retry_after=wait),
                         consumer)
        if self.rollout is not None:
            self.rollout.poll()
        choice = self.router.pick(request.headers, consumer)
        flow_request = FlowRequest(route, request_id, consumer, choice, time.perf_counter())
        self.in_flight += 1
        self.metrics.in_flight.inc()
        if self.tracer is not None:
            flow_request.span = _start_span(self.tracer, flow_request, request.method, request.headers, request.scope)
        return flow_request

    async def rate_check(self, consumer: str) -> float | None:
        """The limiter's answer (None, or seconds to wait). With several workers the shared window
        may be locked by another worker's check for a moment: this request tries again a
        millisecond later while the loop goes on with the others, instead of the loop sleeping in
        SQLite's busy handler (serving/limits.py)."""
        limits = self.settings.limits_for(consumer)
        for _ in range(BUSY_TRIES):
            try:
                return self.limiter.admit(consumer, limits)
            except WindowBusy:
                await asyncio.sleep(0.001)
        log.warning("promptwise serve: the shared rate-limit window stayed locked for %d tries; request admitted",
                    BUSY_TRIES)
        return None

    async def read_json(self, request: Request, flow_request: FlowRequest, *, text_input: str | None = None,
                        empty: Any = None) -> Any:
        """The request body as JSON, within the size limit. A non-JSON body is the value of
        `text_input` when the flow has exactly one input and the body is not declared JSON, and an
        empty body is `empty` when given (a flow without inputs): Prompt flow's rules."""
        body = await self.read_body(request, flow_request)
        if empty is not None and not body.strip():
            return empty
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            return json.loads(body)
        except UnicodeDecodeError:
            raise ServeError("bad_request", "the request body is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            if text_input is not None and content_type not in ("application/json", "") and body:
                try:
                    return {text_input: body.decode("utf-8")}
                except UnicodeDecodeError:
                    raise ServeError("bad_request", "the request body is not UTF-8 text") from None
            where = f"line {error.lineno}, column {error.colno}"
            problem = "the body is empty" if not body.strip() else f"{error.msg} at {where}"
            raise ServeError("bad_request", f"the request body is not valid JSON: {problem}") from None
        except RecursionError:
            raise ServeError("bad_request", "the request body nests JSON too deeply") from None
        except ValueError:  # json's other refusal: an integer of more digits than Python converts
            raise ServeError("bad_request", f"the request body is not usable JSON: a number in it has more than "
                                            f"{sys.get_int_max_str_digits():,} digits; send such a value as a "
                                            f"string") from None

    async def read_body(self, request: Request, flow_request: FlowRequest | None = None) -> bytes:
        """The request body's bytes, within the size limit and the time allowed to send it."""
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ServeError("too_large", f"the request body is {int(length)} bytes; the limit is {limit} "
                                          f"(serve.max_body_bytes)")
        chunks, size = [], 0
        # A client that sends its body slowly must not hold a slot for ever.
        seconds = min(BODY_SECONDS, self.settings.timeout_seconds)
        try:
            async with asyncio.timeout(seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ServeError("too_large", f"the request body is over the limit of {limit} bytes "
                                                      f"(serve.max_body_bytes)")
                    chunks.append(chunk)
        except ClientDisconnect:
            if flow_request is not None:
                flow_request.cancelled = True
            raise ServeError("bad_request", "the client disconnected while sending the body") from None
        except TimeoutError:
            raise ServeError("request_timeout", f"the request body did not arrive within {seconds:g} s") from None
        return b"".join(chunks)

    def bind(self, flow: ServedFlow, given: Any, flow_request: FlowRequest) -> dict:
        try:
            inputs = flow.bind(given)
        except InputProblem as problem:
            raise ServeError("invalid_input", str(problem)) from None
        except Exception as error:  # noqa: BLE001 - the engine's own input checks (FlowError)
            raise ServeError("invalid_input", safe_message(str(error), *flow.folders)) from None
        flow_request.inputs = inputs
        if flow_request.choice.shadow:
            self.shadow(flow_request, given)
        return inputs

    # --- running -----------------------------------------------------------------------
    async def run(self, flow: ServedFlow, inputs: dict, flow_request: FlowRequest):
        """The flow's outcome, or ServeError (timeout, endpoint down, a failing node)."""
        started = time.perf_counter()
        tally, token = usage.open_tally()  # what finished calls spent, should no outcome come
        try:
            # In this task (a timeout scope, not wait_for's task per request); the engine's spans
            # nest under the request's.
            async with asyncio.timeout(self.settings.timeout_seconds):
                with _current(flow_request.span):
                    outcome = await flow.run(inputs)
            flow_request.flow_ms = (time.perf_counter() - started) * 1000
            flow_request.model_ms = sum(node.latency_ms or 0.0 for node in outcome.nodes
                                        if node.model is not None and not node.cache_hit)
        except asyncio.TimeoutError:
            count_tally(flow_request, tally)
            raise ServeError("timeout", f"the flow took longer than {self.settings.timeout_seconds:g} s "
                                        f"(serve.timeout_seconds)") from None
        except asyncio.CancelledError:  # the client went away (or the stream was closed): billed all the same
            count_tally(flow_request, tally)
            raise
        finally:
            usage.close_tally(token)

        self.count_usage(flow_request, outcome)
        if outcome.status != "completed":
            raise outcome_error(outcome, flow)
        flow_request.outputs = outcome.outputs
        return outcome

    async def run_connected(self, request: Request, flow: ServedFlow, inputs: dict, flow_request: FlowRequest):
        """`run` for an answer sent whole (JSON): cancelled, and with it the model call, when the
        client disconnects meanwhile (ClientGone), as a stream is. The body has been read, so
        the next message the server receives for this request can only be its disconnect."""
        task = asyncio.current_task()
        armed = [True]

        def gone(watcher: asyncio.Task) -> None:
            if armed[0] and not watcher.cancelled() and watcher.exception() is None:
                task.cancel()

        watcher = asyncio.ensure_future(_disconnect(request.receive))
        watcher.add_done_callback(gone)
        try:
            return await self.run(flow, inputs, flow_request)
        except asyncio.CancelledError:
            if not (watcher.done() and not watcher.cancelled() and watcher.exception() is None):
                raise
            task.uncancel()
            flow_request.cancelled = True
            raise ClientGone() from None
        finally:
            armed[0] = False
            watcher.cancel()

    def count_usage(self, flow_request: FlowRequest, outcome) -> None:
        prompt = completion = 0
        cost: float | None = None
        for node in outcome.nodes:
            prompt += node.prompt_tokens or 0
            completion += node.completion_tokens or 0
            if node.cost is not None:
                cost = (cost or 0.0) + node.cost
        flow_request.prompt_tokens += prompt
        flow_request.completion_tokens += completion
        if cost is not None:
            flow_request.cost = (flow_request.cost or 0.0) + cost

    # --- the end of every flow request ----------------------------------------------------
    def finish(self, flow_request: FlowRequest) -> None:
        if flow_request.finished:  # a stream's generator and its response both make sure
            return
        flow_request.finished = True
        self.in_flight -= 1
        self.metrics.in_flight.dec()
        elapsed = time.perf_counter() - flow_request.started
        version = label(flow_request.choice.version)
        consumer, route = flow_request.consumer, flow_request.route
        status = 499 if flow_request.cancelled else flow_request.status
        series = self.metrics.series(route, version, consumer)
        series.answered(status)
        series.latency.observe(elapsed)
        if flow_request.prompt_tokens:
            series.input_tokens.inc(flow_request.prompt_tokens)
        if flow_request.completion_tokens:
            series.output_tokens.inc(flow_request.completion_tokens)
        if flow_request.cost:
            series.cost.inc(flow_request.cost)
        failed = flow_request.error_kind is not None or status >= 400
        if failed:
            series.failed(flow_request.error_kind or str(status))
        total = flow_request.prompt_tokens + flow_request.completion_tokens
        self.limiter.spent(consumer, total, self.settings.limits_for(consumer))
        if self.meter is not None:
            self.meter.record(consumer, flow_request.choice.version, prompt_tokens=flow_request.prompt_tokens,
                              completion_tokens=flow_request.completion_tokens, cost=flow_request.cost,
                              error=failed)
        if self.online is not None and not failed and flow_request.outputs is not None:
            self.online.offer(_finished(flow_request))
        _end_span(flow_request, status)
        if access_log.isEnabledFor(logging.INFO):
            entry = {"ts": round(time.time(), 3), "id": flow_request.request_id, "route": route, "status": status,
                     "ms": round(elapsed * 1000, 1), "consumer": consumer, "version": version,
                     "tokens": total, "cost": flow_request.cost, "worker": os.getpid()}
            if flow_request.error_kind:
                entry["error"] = flow_request.error_kind
            if flow_request.error_detail:
                entry["detail"] = flow_request.error_detail
            if flow_request.streamed:
                entry["streamed"] = True
            if self.inputs_policy is not None and flow_request.inputs is not None:
                entry["inputs"] = self.inputs_policy.value(flow_request.inputs)
            access_log.info(json.dumps(entry, ensure_ascii=False, default=str))

    def fail(self, flow_request: FlowRequest, error: ServeError) -> None:
        flow_request.failed_with(error)
        if flow_request.span is not None:
            _span_error(flow_request.span, error)
        self.finish(flow_request)

    def headers(self, flow_request: FlowRequest) -> dict:
        headers = {"x-request-id": flow_request.request_id, "x-promptwise-version": label(flow_request.choice.version)}
        if flow_request.flow_ms is not None:
            # Where the time went (Server-Timing, which browsers' and benchmarks' tools read): the
            # flow's run, its model calls (summed), and the answer so far from admission; the
            # server's own share is app minus model, the network's what the client adds to app.
            app_ms = (time.perf_counter() - flow_request.started) * 1000
            headers["server-timing"] = (f"flow;dur={flow_request.flow_ms:.1f}, model;dur={flow_request.model_ms:.1f}, "
                                        f"app;dur={app_ms:.1f}")
        return headers


def request_id_of(request: Request) -> str:
    """The caller's id for its request when it gave a usable one, else a new one. Azure SDK
    clients send theirs as x-ms-client-request-id: pf flow serve takes it too."""
    request_id = request.headers.get("x-request-id") or request.headers.get("x-ms-client-request-id", "")
    if not (0 < len(request_id) <= 64 and request_id.replace("-", "").isalnum()):
        request_id = new_request_id()
    return request_id


def new_request_id() -> str:
    """16 hex digits naming a request in its answer, log line and trace. Not a secret (it is
    sent to the caller), so from `random`, reseeded in every process: `secrets.token_hex` read
    the kernel's random source per request, about 2% of a worker's CPU in a profile."""
    return f"{random.getrandbits(64):016x}"


class ClientGone(Exception):
    """The client disconnected before its answer was ready (answered 499, to no one)."""


async def _disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Early(Exception):
    """Refused before the request was admitted (no slot taken): answered as is."""

    def __init__(self, request_id: str, error: ServeError, consumer: str) -> None:
        self.request_id = request_id
        self.error = error
        self.consumer = consumer


def count_tally(flow_request: FlowRequest, tally: usage.Tally) -> None:
    """A request cut before its outcome (timeout, client gone): the tokens and cost of the model
    calls that finished are billed, so they are metered and count against tokens/min."""
    flow_request.prompt_tokens += tally.prompt_tokens
    flow_request.completion_tokens += tally.completion_tokens
    if tally.cost is not None:
        flow_request.cost = (flow_request.cost or 0.0) + tally.cost


def outcome_error(outcome, flow: ServedFlow) -> ServeError:
    message = safe_message(outcome.error or "the flow failed", *flow.folders)
    kind = outcome.error_kind
    # The model endpoint's failures are the operator's to fix: callers learn what happened and the
    # request id; the engine's message (endpoint URL, connection name, advice) goes to the access
    # log and the trace only. A flow's own error is answered as Prompt flow answers it.
    if kind in UPSTREAM_DOWN:
        return ServeError("unavailable", "the model endpoint is unavailable; retry later",
                          retry_after=upstream_retry_after(outcome.retry_after), detail=message)
    if kind == "timeout":
        return ServeError("timeout", "the model endpoint did not answer in time", detail=message)
    if kind in ("auth", "not_found", "malformed"):
        return ServeError("upstream_error", f"the model endpoint refused the call ({kind}); the server's log "
                                            f"has the details under this request's id", detail=message)
    return ServeError("flow_error", message)


# --- tracing (optional: the OpenTelemetry API is used when installed) ----------------------
def _tracer():
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("promptwise.serving")


def _configure_tracing(config: ServeConfig):
    """Start the tracing layer's provider (span store, OTLP export) when it is there; returns
    the function that flushes and stops it."""
    try:
        from promptwise import tracing
    except ImportError:
        return None
    configure = getattr(tracing, "configure", None)
    shutdown = getattr(tracing, "shutdown", None)
    if configure is None:
        return None
    try:
        from promptwise.config import load_workspace

        # The span writer in a child process (tracing/writer.py): in a thread it held the loop's GIL
        # while it redacted, scanned and stored spans, the traced tail's main cause.
        configure(load_workspace(config.flow).root, service_name="promptwise-serve", writer_process=True)
    except Exception as error:  # noqa: BLE001 - serving goes on without traces, and says so
        log.warning("promptwise serve: tracing is off: %s", error)
        return None
    return (lambda: shutdown(5.0)) if shutdown is not None else None


def _untraced():
    """`serve --no-trace`, as `tracing: {enabled: false}` does: the engine builds no spans at all,
    where it built the OTel API's no-op spans (about 12 us of CPU per log-triage request, measured:
    node span 2.4 -> 0.8 us, model-call span 3.0 -> 0.7). Returns what puts the process's setting
    back at shutdown (tests serve in-process)."""
    from promptwise.engine import spans

    previous = spans.enabled_setting()
    spans.set_enabled(False)
    return lambda: spans.set_enabled(previous)


def _start_span(tracer, flow_request: FlowRequest, method: str, headers=None, scope=None):
    from opentelemetry import trace

    from promptwise.engine import spans as engine_spans
    from promptwise.tracing import attributes as a

    # The tracer the engine's spans start from: tracing.configure makes it a LocalTracer while the
    # local store alone records spans (tracing/local.py; the SDK span costs about twice as much),
    # else it is the SDK's, as `tracer` is.
    tracer = engine_spans.current_tracer() or tracer
    flow = flow_request.choice.flow
    # A caller that sends a W3C `traceparent` (its own traced service, or pf flow serve's clients)
    # gets the request as a child of its span, as pf flow serve does; looked up only when present.
    caller = _caller_context(headers) if headers is not None and "traceparent" in headers else None
    attributes = {
        a.SPAN_KIND: a.SPAN_KIND_REQUEST, a.HTTP_ROUTE: flow_request.route, a.HTTP_REQUEST_METHOD: method,
        a.CONSUMER: flow_request.consumer, a.FLOW_CONTENT_HASH: flow.content_hash, a.VERSION_ID: flow_request.choice.version,
        a.FLOW_NAME: flow.name, "promptwise.request.id": flow_request.request_id}
    if scope is not None:
        http_server_attributes(attributes, scope, headers)
    return tracer.start_span(f"{method} {flow_request.route}", context=caller, kind=trace.SpanKind.SERVER,
                             attributes=attributes)


def http_server_attributes(attributes: dict, scope, headers=None) -> dict:
    """The OTel HTTP server conventions' attributes of a request, from its ASGI scope (plain
    reads, no URL object): url.path, url.scheme, server.address/port, the protocol version and
    the user agent. Not the client's address: personal data the trace store would keep."""
    from promptwise.tracing import attributes as a

    attributes[a.URL_PATH] = scope["path"]
    attributes[a.URL_SCHEME] = scope.get("scheme", "http")
    server = scope.get("server")
    if server:
        attributes[a.SERVER_ADDRESS] = server[0]
        if server[1] is not None:
            attributes[a.SERVER_PORT] = server[1]
    if "http_version" in scope:
        attributes[a.NETWORK_PROTOCOL_VERSION] = scope["http_version"]
    agent = headers.get("user-agent") if headers is not None else None
    if agent:
        attributes[a.USER_AGENT_ORIGINAL] = agent
    return attributes


def _caller_context(headers):
    """The caller's span from its `traceparent`/`tracestate` headers (None when they are malformed)."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract(headers)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _current(span):
    """A context in which `span` is the current span (nothing when tracing is off)."""
    if span is None:
        return contextlib.nullcontext()
    from opentelemetry import trace

    return trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def _span_error(span, error: ServeError) -> None:
    from opentelemetry.trace import Status, StatusCode

    from promptwise.redaction import redact
    from promptwise.tracing import attributes as a

    span.set_attribute(a.ERROR_TYPE, error.kind)
    # Redacted before it reaches the span: the OTLP exporter sends it as is (the local store
    # redacts again); redacted first, then cut, so no half of a secret survives the cut.
    span.set_status(Status(StatusCode.ERROR, redact(error.detail or error.message)[:200]))


def _end_span(flow_request: FlowRequest, status: int) -> None:
    span = flow_request.span
    if span is None:
        return
    from promptwise.tracing import attributes as a

    attributes = {a.HTTP_RESPONSE_STATUS_CODE: status, a.STREAMED: flow_request.streamed}
    if flow_request.cancelled:
        attributes[a.CANCELLED] = True
    if flow_request.prompt_tokens or flow_request.completion_tokens:
        attributes[a.GEN_AI_USAGE_INPUT_TOKENS] = flow_request.prompt_tokens
        attributes[a.GEN_AI_USAGE_OUTPUT_TOKENS] = flow_request.completion_tokens
    if flow_request.cost is not None:
        attributes[a.COST_USD] = flow_request.cost
    span.set_attributes(attributes)  # one call: the SDK's span takes its lock once, not per attribute
    span.end()


# --- the Starlette application ----------------------------------------------------------
def _alert_loop(flow: ServedFlow):
    """The workspace's `alerts:` checked every minute in a background thread (None without rules)."""
    workspace = flow.session.workspace if flow.session else None
    if workspace is None or not workspace.settings.get("alerts"):
        return None
    from promptwise.monitoring.background import AlertLoop

    loop = AlertLoop(workspace.root, workspace.settings, workspace.source)
    return loop if loop.start() else None


def _online_evaluation(flow: ServedFlow, on_score):
    """The workspace's `monitoring.online_eval`, started (None when not configured; a section
    that cannot be used is logged and scoring stays off: serving never stops for monitoring)."""
    workspace = flow.session.workspace if flow.session else None
    monitoring = workspace.settings.get("monitoring") if workspace is not None else None
    if not isinstance(monitoring, dict) or not monitoring.get("online_eval"):
        return None
    from promptwise.monitoring.online_eval import start_for_workspace

    try:
        return start_for_workspace(workspace, flow.path, on_score)  # evaluators may be named from its eval.yaml
    except Exception as error:  # noqa: BLE001 - a ConfigError names the file; anything else is logged too
        log.error("promptwise serve: online evaluation is off: %s", error)
        return None


def _inputs_policy(flow: ServedFlow):
    """`serve.log_inputs`: inputs reach the access log only through the workspace's `tracing.pii`
    (redact by default, as in the trace store); a policy that cannot be built (a hash key not
    exported) leaves inputs out of the log rather than logging them as received."""
    from promptwise.tracing.pii import PiiPolicy, policy_from_settings
    from promptwise.tracing.settings import tracing_settings

    workspace = flow.session.workspace if flow.session else None
    try:
        return policy_from_settings(tracing_settings(workspace)) if workspace is not None else PiiPolicy()
    except Exception as error:  # noqa: BLE001 - a ConfigError or PiiKeyError says what to set
        log.error("promptwise serve: request inputs are left out of the access log: %s", error)
        return None


def _finished(flow_request: FlowRequest):
    from promptwise.monitoring.online_eval import Finished

    span = flow_request.span
    trace_id = format(span.get_span_context().trace_id, "032x") if span is not None else None
    return Finished(flow_request.inputs, flow_request.outputs, trace_id, flow_request.choice.version,
                    flow_request.consumer, time.time_ns(), flow_request.choice.flow.content_hash)


def create_app(config: ServeConfig) -> Starlette:
    from promptwise.serving import chat, feedback, score

    serving = ServingApp(config)

    async def health(request: Request) -> Response:
        from promptwise import __version__

        return JSONResponse({"status": "Healthy", "version": __version__})

    async def version(request: Request) -> Response:
        from promptwise import __version__

        # pf flow serve's rule where a build says who it is (Azure ML images set BUILD_INFO, JSON with a
        # build_number): that string and that number; else the served flow's content hash.
        build_info, version = os.environ.get("BUILD_INFO", ""), __version__
        if build_info:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                version = str(json.loads(build_info)["build_number"])
        return JSONResponse({"status": "Healthy", "version": version,
                             "build_info": build_info or serving.flow.content_hash})

    async def ready(request: Request) -> Response:
        if serving.ready_error is not None:
            return JSONResponse({"status": "NotReady", "reason": serving.ready_error}, status_code=503,
                                headers={"Retry-After": "5"})
        # Under a rollout, the version id its answers name in x-promptwise-version (the heaviest one), not
        # a content hash the registry, monitor and traces do not call it by.
        primary = serving.router.primary
        return JSONResponse({"status": "Ready", "flow": primary.name, "version": serving.router.primary_version,
                             "content_hash": primary.content_hash})

    async def metrics(request: Request) -> Response:
        try:
            serving.authenticate(request)
        except ServeError as error:
            return error_response(error, secrets.token_hex(8))
        # In a thread: with several workers it reads and merges every worker's files, milliseconds
        # the requests in flight on this worker's loop would otherwise wait through at each scrape.
        body, media_type = await asyncio.to_thread(serving.metrics.render)
        return Response(body, media_type=media_type)

    async def openapi(request: Request) -> Response:
        if serving.router is None:
            return error_response(ServeError("unavailable", "the flow is not ready", retry_after=5),
                                  secrets.token_hex(8))
        from promptwise.serving.openapi import openapi_document

        return JSONResponse(openapi_document(serving.flow, requires_keys=serving.settings.requires_keys,
                                             chat=serving.flow.chat_shape() is not None))

    async def not_found(request: Request, exc: HTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = (f"no route {request.method} {request.url.path}; the server answers POST /score, "
                   f"POST /v1/chat/completions, POST /feedback, GET /health, /ready, /metrics, /openapi.json")
        return error_response(ServeError(kind, message if kind != "bad_request" else str(exc.detail)),
                              secrets.token_hex(8))

    async def internal(request: Request, exc: Exception) -> Response:
        error_id = secrets.token_hex(8)
        log.error("promptwise serve: request %s failed", error_id, exc_info=exc)
        return error_response(ServeError("internal", "internal error; the server log has the details under this "
                                                     "id"), error_id)

    routes = [
        Route("/score", score.endpoint(serving), methods=["POST"]),
        Route("/v1/chat/completions", chat.endpoint(serving), methods=["POST"]),
        Route("/chat/completions", chat.endpoint(serving), methods=["POST"]),
        Route("/v1/models", chat.models_endpoint(serving), methods=["GET"]),  # OpenAI clients list models first
        Route("/feedback", feedback.endpoint(serving), methods=["POST"]),  # Prompt flow's: feedback into a trace
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),  # Prompt flow's route: also names the flow's version
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/swagger.json", openapi, methods=["GET"]),  # Prompt flow's name for it
    ]
    middleware = []
    if config.settings.cors_origins:
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(Middleware(CORSMiddleware, allow_origins=config.settings.cors_origins,
                                     allow_methods=["GET", "POST"],
                                     allow_headers=["authorization", "api-key", "x-api-key", "content-type",
                                                    "x-request-id", "x-ms-client-request-id", "traceparent",
                                                    "tracestate"],
                                     # Not CORS-safelisted: a page could not read a 429's Retry-After
                                     # nor the request id an error answer asks it to quote.
                                     expose_headers=["retry-after", "x-request-id", "x-promptwise-version",
                                                     "server-timing"]))
    app = Starlette(routes=routes, middleware=middleware, lifespan=serving.lifespan,
                    exception_handlers={HTTPException: not_found, Exception: internal})
    app.state.serving = serving
    return app


def _baked_version(flow: ServedFlow):
    """A deployed image serves one packaged version: `promptwise deploy` sets PROMPTWISE_VERSION (and
    the docker image PROMPTWISE_CONTENT_HASH). Its answers, traces and metrics then name that
    version id, as a rollout's do, instead of a content hash no other command calls it by; only
    while the files served are that version's (the hash, when given, matches)."""
    from promptwise.serving.routing import Table

    version = os.environ.get("PROMPTWISE_VERSION", "").strip()
    baked = os.environ.get("PROMPTWISE_CONTENT_HASH", "").strip()
    if not version or (baked and baked != flow.content_hash):
        return None
    return Table(((version, flow, 100),))


def app_from_environment() -> Starlette:
    """The factory uvicorn's workers call (`--workers N` starts processes that import it):
    the configuration comes from PROMPTWISE_SERVE_CONFIG, set by `promptwise serve`."""
    from promptwise.serving.settings import Limits

    raw = json.loads(os.environ["PROMPTWISE_SERVE_CONFIG"])
    settings = ServeSettings(**{**raw["settings"], "limits": {k: Limits(**v) for k, v in raw["settings"]["limits"].items()}})
    config = ServeConfig(Path(raw["flow"]), settings, workers=raw.get("workers", 1),
                         state_dir=Path(raw["state_dir"]) if raw.get("state_dir") else None,
                         trace=raw.get("trace", True),
                         rollout_state=Path(raw["rollout_state"]) if raw.get("rollout_state") else None,
                         registry_root=Path(raw["registry_root"]) if raw.get("registry_root") else None,
                         rollout_pending=bool(raw.get("rollout_pending")),
                         limits_db=Path(raw["limits_db"]) if raw.get("limits_db") else None, init=raw.get("init"))
    _log_to_stderr()
    return create_app(config)


def _log_to_stderr() -> None:
    """Access log lines (JSON) and server errors go to stderr; stdout stays clean. The access
    log's lines are written by a thread (serving/access_log.py), off the request path."""
    for logger, level in ((access_log, logging.INFO), (log, logging.INFO)):
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(QueuedLog(handler) if logger is access_log else handler)
            logger.setLevel(level)
            logger.propagate = False


YOUNG_GC_THRESHOLD = 10_000  # net allocations between collections of the youngest generation (Python: 700)


def _settle_heap() -> None:
    """Once the worker is ready: the objects start-up made (modules, the flow, its templates:
    about 110,000) are moved out of the garbage collector's reach, and the youngest generation is
    collected less often. Measured in serve_speed (2 workers, 200 requests/s): each full
    collection walked the whole start-up heap, 60-85 ms of CPU that stalled every request in
    flight, a few times per thousand requests; and collecting every 700 allocations promoted the
    objects of requests in flight (alive for the model's 100 ms) into older generations, whose
    collections then cost 2-6 ms each. After: no full collection while serving, and about a
    tenth of the collection CPU (benchmarks/README.md has the figures)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young:  # 0 is automatic collection turned off (by the operator): left so
        gc.set_threshold(max(young, YOUNG_GC_THRESHOLD), middle, old)
