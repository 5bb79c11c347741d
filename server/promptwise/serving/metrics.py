"""Prometheus metrics of the server, by flow version (content hash) and consumer.

With several workers, `promptwise serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers start, so /metrics (answered by any one worker) adds up all of them.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # the `_created` series double the output and no dashboard reads them

# Latency buckets (seconds) around what flows take: a cached prompt to a slow multi-call flow.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Scores: 0-1 (pass rates, similarity) in tenths, then a 1-5 judge's steps.
_SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2, 3, 4, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("route", "version", "consumer")
        self.requests = Counter("promptwise_requests", "Requests answered, by status code", (*labels, "status"),
                                registry=self.registry)
        self.latency = Histogram("promptwise_request_latency_seconds", "Time to answer a request",
                                 labels, buckets=_BUCKETS, registry=self.registry)
        self.tokens = Counter("promptwise_tokens", "Model tokens used", ("version", "consumer", "kind"),
                              registry=self.registry)
        self.cost = Counter("promptwise_cost_usd", "Model cost in US dollars (known prices only)",
                            ("version", "consumer"), registry=self.registry)
        self.errors = Counter("promptwise_errors", "Requests that failed, by kind", (*labels, "kind"),
                              registry=self.registry)
        # Streamed answers only: from admission to the first piece of the answer sent to the client
        # (a DAG's held llm output: when the flow ended, not when the model wrote it).
        self.time_to_first_token = Histogram("promptwise_time_to_first_token_seconds",
                                             "Time to the first token of a streamed answer", labels,
                                             buckets=_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("promptwise_requests_in_flight", "Flow requests being answered",
                               multiprocess_mode="livesum", registry=self.registry)
        # Online evaluation (monitoring/online_eval.py), counted from its background thread.
        self.online_scores = Counter("promptwise_online_scores", "Online evaluation scores, by evaluator and "
                                     "outcome (pass, fail, scored: no threshold, error)",
                                     ("version", "evaluator", "outcome"), registry=self.registry)
        self.online_score = Histogram("promptwise_online_score", "Online evaluation score values",
                                      ("version", "evaluator"), buckets=_SCORE_BUCKETS, registry=self.registry)

        self._series: dict[tuple[str, str, str], Series] = {}

    def series(self, route: str, version: str, consumer: str) -> "Series":
        """The children of one (route, version, consumer), kept: `labels()` checks and looks up
        its label values under a lock on every call, and a request needs five of them."""
        key = (route, version, consumer)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = Series(self, route, version, consumer)
        return found

    def online_scored(self, version: str | None, evaluator: str, value: float | None, passed: bool | None,
                      error: str | None) -> None:
        """One online evaluation score (called off the request path)."""
        from promptwise.serving.routing import label

        version = label(version) if version else "(unknown)"
        outcome = "error" if error else "scored" if passed is None else "pass" if passed else "fail"
        self.online_scores.labels(version, evaluator, outcome).inc()
        if value is not None and not error:
            self.online_score.labels(version, evaluator).observe(value)

    def render(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Series:
    """A (route, version, consumer)'s counters, its children made once."""

    __slots__ = ("_metrics", "_labels", "_by_status", "latency", "input_tokens", "output_tokens", "cost")

    def __init__(self, metrics: Metrics, route: str, version: str, consumer: str) -> None:
        self._metrics = metrics
        self._labels = (route, version, consumer)
        self._by_status: dict[int, Any] = {}
        self.latency = metrics.latency.labels(route, version, consumer)
        self.input_tokens = metrics.tokens.labels(version, consumer, "input")
        self.output_tokens = metrics.tokens.labels(version, consumer, "output")
        self.cost = metrics.cost.labels(version, consumer)

    def answered(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self._metrics.requests.labels(*self._labels, str(status))
        child.inc()

    def failed(self, kind: str) -> None:  # rare: looked up each time
        self._metrics.errors.labels(*self._labels, kind).inc()
