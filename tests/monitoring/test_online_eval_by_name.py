"""`monitoring.online_eval.evaluators` may name an evaluator of eval.yaml: the served flow's
eval.yaml first, then the workspace root's; it runs with that entry's type, options, threshold
and column mapping (read from the live request)."""

from __future__ import annotations

import sqlite3
import textwrap
import time

import pytest

from promptwise.config import ConfigError, load_workspace
from promptwise.monitoring.online_eval import Finished, start_for_workspace

EVAL_YAML = """
    data: data.jsonl
    evaluators:
      - name: valid_category
        type: regex
        pattern: "^(billing|claims|other)$"
        threshold: 1
        inputs: {prediction: ${run.outputs.category}}
      - name: category_match
        type: exact_match
        inputs: {prediction: ${run.outputs.category}, reference: ${data.expected_category}}
"""


def _workspace(root, evaluators: str):
    (root / "promptwise.yaml").write_text(
        f"monitoring:\n  online_eval:\n    evaluators: {evaluators}\n    sample_rate: 1.0\n", encoding="utf-8")
    flow = root / "flows" / "triage"
    flow.mkdir(parents=True)
    (flow / "flow.dag.yaml").write_text("inputs: {}\noutputs: {}\nnodes: []\n", encoding="utf-8")
    (flow / "eval.yaml").write_text(textwrap.dedent(EVAL_YAML).lstrip(), encoding="utf-8")
    return load_workspace(root), flow


def test_an_eval_yaml_evaluator_named_in_production_runs_with_its_options_and_mapping(tmp_path):
    workspace, flow = _workspace(tmp_path, "[valid_category, category_match, pii]")
    online = start_for_workspace(workspace, flow)
    try:
        assert [e.name for e in online.evaluators] == ["valid_category", "category_match", "pii"]
        assert [e.kind for e in online.evaluators] == ["regex", "exact_match", "pii"]
        now = time.time_ns()
        for n, category in enumerate(("billing", "new: payments")):
            online.offer(Finished({"log_text": "x"}, {"category": category, "summary": "s"}, f"{n:032x}", "v1",
                                  "ops", now + n))
        assert online.wait_idle(30)
    finally:
        online.stop()
    connection = sqlite3.connect(tmp_path / ".promptwise" / "traces.sqlite")
    rows = connection.execute("SELECT trace_id, evaluator, value, passed, error FROM scores "
                              "ORDER BY trace_id, evaluator").fetchall()
    connection.close()
    by = {(trace[-1], evaluator): (value, passed, error) for trace, evaluator, value, passed, error in rows}
    # the regex read ${run.outputs.category} (not the whole output) and kept eval.yaml's threshold
    assert by[("0", "valid_category")] == (1.0, 1, None) and by[("1", "valid_category")][:2] == (0.0, 0)
    # a reference column that live requests do not carry: an error row that says which
    value, passed, error = by[("0", "category_match")]
    assert value is None and "expected_category" in error
    assert by[("0", "pii")][0] == 1.0


def test_the_workspace_eval_yaml_is_searched_too_and_unknown_names_say_where_they_were_looked_for(tmp_path):
    workspace, flow = _workspace(tmp_path, "[valid_category]")
    (flow / "eval.yaml").rename(tmp_path / "eval.yaml")  # now only at the workspace root
    online = start_for_workspace(workspace, flow)
    online.stop()
    assert [e.kind for e in online.evaluators] == ["regex"]

    (tmp_path / "other").mkdir()
    workspace, flow = _workspace(tmp_path / "other", "[valid_categroy]")
    with pytest.raises(ConfigError) as raised:
        start_for_workspace(workspace, flow)
    message = str(raised.value)
    assert "valid_categroy" in message and str(flow / "eval.yaml") in message
    assert "promptwise.yaml" in message and "did you mean `valid_category`" in message
