"""The user's OTEL_SERVICE_NAME (or `service.name=` in OTEL_RESOURCE_ATTRIBUTES) names the
service in exported traces and in the local store, as the OpenTelemetry SDK's own rule says.
Before, Promptwise's default (`promptwise`, `promptwise-serve`) overrode it, so every flow showed
in Jaeger, Phoenix or Langfuse as one service. Received on a real OTLP/HTTP endpoint on
127.0.0.1, from a real `promptwise run` process (the provider is installed once per process)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from promptwise.tracing import _service_name
from promptwise.tracing.store import SpanStore
from test_otlp_export import FLOW, OtlpReceiver


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, "promptwise-serve"),
    ({"OTEL_SERVICE_NAME": "claims-bot"}, "claims-bot"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=triage%20api"}, "triage api"),
    ({"OTEL_SERVICE_NAME": "claims-bot", "OTEL_RESOURCE_ATTRIBUTES": "service.name=other"}, "claims-bot"),
    ({"OTEL_SERVICE_NAME": "  ", "OTEL_RESOURCE_ATTRIBUTES": "service.name="}, "promptwise-serve"),
])
def test_the_users_service_name_comes_before_ours(monkeypatch, environment, expected):
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert _service_name("promptwise-serve") == expected


def test_a_run_exports_and_stores_under_otel_service_name(traced_workspace):
    root = traced_workspace(FLOW)
    with OtlpReceiver() as receiver:
        environ = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "claims-bot",
                   "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=qa"}
        environ.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
        done = subprocess.run([sys.executable, "-m", "promptwise", "run", str(root / "hello"), "--no-cache",
                               "--inputs", "question=capital of France"],
                              capture_output=True, text=True, env=environ, cwd=root, timeout=120)
        assert done.returncode == 0, done.stderr
    received = receiver.spans()
    assert received, "nothing was exported"
    assert {resource["service.name"] for resource, _ in received} == {"claims-bot"}
    assert {resource["deployment.environment"] for resource, _ in received} == {"qa"}  # the other attributes kept
    store = SpanStore.for_workspace(root, readonly=True)
    try:
        [summary] = store.list_traces()
    finally:
        store.close()
    assert summary["service"] == "claims-bot"
