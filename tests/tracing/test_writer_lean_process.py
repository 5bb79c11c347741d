"""The span writer's process (tracing/writer.py) loads what writing spans needs and nothing else:
each served worker has one, so every module it loads costs memory once per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptwise.tracing.processor import WRITER_PROCESS_VARIABLE
from promptwise.tracing.store import SpanStore
from promptwise.tracing.writer import ProcessSpanProcessor

# Loaded by a served worker, never needed to write spans: the OTel SDK (the processor's base
# class is for the SDK's providers, and none runs in the writer), settings (YAML, documents).
NOT_IN_THE_WRITER = ("opentelemetry.sdk.trace", "promptwise.config", "yaml", "psutil")


def test_the_writer_process_module_loads_neither_the_sdk_nor_settings():
    code = ("import sys, promptwise.tracing.writer, json; "
            f"print(json.dumps([name for name in {list(NOT_IN_THE_WRITER)!r} if name in sys.modules]))")
    lean = subprocess.run([sys.executable, "-c", code], env={**_environment(), WRITER_PROCESS_VARIABLE: "1"},
                          capture_output=True, text=True, check=True)
    assert json.loads(lean.stdout) == []
    # The same import in a worker (no variable) keeps the SDK's base class: the check can fail.
    usual = subprocess.run([sys.executable, "-c", code], env=_environment(), capture_output=True, text=True,
                           check=True)
    assert "opentelemetry.sdk.trace" in json.loads(usual.stdout)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the child's environment from /proc")
def test_the_writer_child_is_started_lean(tmp_path):
    processor = ProcessSpanProcessor(SpanStore(tmp_path / "traces.sqlite"))
    try:
        assert processor.in_child
        environment = Path(f"/proc/{processor._child.pid}/environ").read_bytes().split(b"\0")
        assert f"{WRITER_PROCESS_VARIABLE}=1".encode() in environment
    finally:
        processor.shutdown()


def _environment() -> dict:
    return {key: value for key, value in os.environ.items() if key != WRITER_PROCESS_VARIABLE}


def test_a_writer_connections_page_cache_is_the_size_asked(tmp_path):
    """16 MB for an in-process writer (run, batch, eval), 4 MB for serve's writer processes: the
    cache fills to its size on any store, once per worker."""
    from promptwise.tracing.processor import StoreSpanProcessor
    from promptwise.tracing.writer import CACHE_MB

    sizes = {}
    for name, options in (("in-process", {}), ("writer process", {"cache_mb": CACHE_MB})):
        processor = StoreSpanProcessor(SpanStore(tmp_path / f"{len(sizes)}.sqlite"), **options)
        try:
            sizes[name] = processor.store._connection.execute("PRAGMA cache_size").fetchone()[0]
        finally:
            processor.shutdown()
    assert sizes == {"in-process": -16 * 1024, "writer process": -4 * 1024}
