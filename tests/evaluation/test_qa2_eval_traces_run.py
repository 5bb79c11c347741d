"""An evaluation call's trace names the run it scored (promptwise.run.id, with the row): `traces
list --run NAME` lists the run's rows and their evaluations, each saying "run NAME row N".
Before, evaluation traces had a row index but no run, so nothing tied them to a run. The
row's own trace stays what `traces show --run NAME --row N` opens (and the editor's lookup)."""

from __future__ import annotations

import json
from pathlib import Path

from promptwise import span_attributes as A
from promptwise.cli import main
from promptwise.lsp.traces import find_trace
from test_eval_end_to_end import EVAL, FLOW, flow_dir  # noqa: F401 - the fixture: 4 capitals, a fluency judge


def _json(capsys, *args: str):
    assert main([*args, "--format", "json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_evaluation_traces_carry_the_run_they_scored(flow_dir, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    run = _json(capsys, "eval", str(flow_dir))["run"]
    traces = _json(capsys, "traces", "list", "--run", run)
    kinds = sorted(t["kind"] for t in traces)
    assert kinds == ["evaluation"] * 4 + ["flow"] * 4  # the fluency judge on each of the 4 rows, and the rows
    evaluations = [t for t in traces if t["kind"] == "evaluation"]
    assert {t["run_id"] for t in evaluations} == {run}
    assert sorted(t["row_index"] for t in evaluations) == [0, 1, 2, 3]
    assert main(["traces", "list", "--run", run]) == 0
    listed = capsys.readouterr().out
    assert f"evaluate fluent · run {run} row 2" in listed

    # the row's trace is still the flow's, from the command line and the editor
    shown = _json(capsys, "traces", "show", "--run", run, "--row", "2")
    assert shown["kind"] == "flow" and shown["row_index"] == 2
    document = find_trace(Path(flow_dir.parent), {"run": run, "row": 2})
    assert document["kind"] == "flow" and document["trace_id"] == shown["trace_id"]
    evaluation = next(t for t in evaluations if t["row_index"] == 2)
    judged = _json(capsys, "traces", "show", evaluation["trace_id"])
    assert judged["spans"][0]["attributes"][A.RUN_ID] == run


def test_an_alert_rule_scoped_to_a_flow_reads_its_batch_evaluations(flow_dir, capsys, monkeypatch):
    """An evaluator rule with `flow:` finds the scores of that flow's batch evaluations through the
    run they scored (evaluation traces name the run, not its flow); before, it said "no data"
    while the same rule without `flow:` fired. Another flow's rule still sees none of them."""
    monkeypatch.chdir(flow_dir.parent)
    _json(capsys, "eval", str(flow_dir))  # fluent: 5, 5, 2 and one unreadable answer: mean 4
    settings = flow_dir.parent / "promptwise.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + (
        "alerts:\n"
        f"  - {{name: ours, flow: {flow_dir.name}, metric: evaluator.fluent, below: 4.5, window: 1h}}\n"
        "  - {name: theirs, flow: elsewhere, metric: evaluator.fluent, below: 4.5, window: 1h}\n"), encoding="utf-8")
    assert main(["monitor", "--check", "--no-deliver", "--format", "json"]) == 1  # one fires
    alerts = {alert["rule"]: alert for alert in json.loads(capsys.readouterr().out)["alerts"]}
    assert alerts["ours"]["firing"] and alerts["ours"]["value"] == 4.0 and alerts["ours"]["requests"] == 4  # the 4 rows judged
    assert not alerts["theirs"]["firing"] and alerts["theirs"]["value"] is None
