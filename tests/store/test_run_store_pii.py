"""`tracing.pii_runs: true`: a batch run's stored rows (inputs, outputs, node outputs, error texts)
and its outputs.jsonl go through the `tracing.pii` policy, as traces do; without it they are kept
as they were (evaluations read stored outputs). Real `promptwise batch` and `runs export` processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EMAIL = "ana.garcia@example.org"
FLOW = """
inputs:
  text: {type: string}
outputs:
  echoed: {type: string, reference: '${echo.output}'}
nodes:
- name: echo
  type: python
  source: {type: code, path: echo.py}
  inputs: {text: '${inputs.text}'}
"""
ECHO = """
from promptflow.core import tool


@tool
def echo(text: str) -> str:
    if "fail" in text:
        raise ValueError(f"cannot handle {text}")
    return f"reply to {text}"
"""


def _promptwise(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "promptwise", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


# (tracing section, env, what the stored text of the email becomes: None = kept as is)
CASES = [
    ("tracing: {pii_runs: true}\n", {}, "[EMAIL]"),
    ("tracing: {pii_runs: true, pii: hash, pii_key: '${env:H9_RUN_PII_KEY}'}\n", {"H9_RUN_PII_KEY": "k" * 24},
     "[EMAIL:"),
    ("tracing: {pii_runs: true, pii: drop}\n", {}, "[dropped: personal data]"),
    ("tracing: {pii: redact}\n", {}, None),
]


@pytest.mark.parametrize(("tracing", "env", "stored"), CASES, ids=["redact", "hash", "drop", "off"])
def test_stored_rows_follow_the_policy(tmp_path, tracing, env, stored):
    (tmp_path / "promptwise.yaml").write_text(tracing, encoding="utf-8")
    (tmp_path / "flow").mkdir()
    (tmp_path / "flow" / "flow.dag.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
    (tmp_path / "flow" / "echo.py").write_text(textwrap.dedent(ECHO), encoding="utf-8")
    rows = [{"text": f"write to {EMAIL}"}, {"text": f"fail for {EMAIL}"}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    batch = _promptwise("batch", "flow", "--data", "data.jsonl", "--name", "r1", "--no-progress", cwd=tmp_path,
                        env=env)
    assert batch.returncode in (0, 1), batch.stderr  # one row fails on purpose
    assert "Traceback" not in batch.stderr
    database = sqlite3.connect(tmp_path / ".promptwise" / "runs.sqlite")
    stored_rows = database.execute("SELECT inputs, outputs, error FROM rows WHERE run='r1'").fetchall()
    stored_nodes = database.execute("SELECT output, error FROM node_results WHERE run='r1'").fetchall()
    database.close()
    everything = json.dumps([stored_rows, stored_nodes])
    outputs_file = (tmp_path / ".promptwise" / "runs" / "r1" / "outputs.jsonl").read_text(encoding="utf-8")
    exported = _promptwise("runs", "export", "r1", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    if stored is None:
        assert EMAIL in everything and EMAIL in outputs_file and EMAIL in exported.stdout
        return
    assert EMAIL not in everything and EMAIL not in outputs_file and EMAIL not in exported.stdout
    assert stored in outputs_file and stored in everything  # the error texts too (the failing row)
    assert len(stored_rows) == 2


def test_a_hash_key_not_exported_stops_the_batch_before_a_row_is_stored(tmp_path):
    (tmp_path / "promptwise.yaml").write_text(
        "tracing: {pii_runs: true, pii: hash, pii_key: '${env:H9_RUN_PII_UNSET}'}\n", encoding="utf-8")
    (tmp_path / "flow").mkdir()
    (tmp_path / "flow" / "flow.dag.yaml").write_text(textwrap.dedent(FLOW), encoding="utf-8")
    (tmp_path / "flow" / "echo.py").write_text(textwrap.dedent(ECHO), encoding="utf-8")
    (tmp_path / "data.jsonl").write_text(json.dumps({"text": EMAIL}) + "\n", encoding="utf-8")
    batch = _promptwise("batch", "flow", "--data", "data.jsonl", "--no-progress", cwd=tmp_path)
    assert batch.returncode != 0 and "H9_RUN_PII_UNSET" in batch.stderr and "Traceback" not in batch.stderr
    database = tmp_path / ".promptwise" / "runs.sqlite"
    if database.exists():
        assert EMAIL not in database.read_bytes().decode("utf-8", "replace")
