"""`promptwise rollout set|promote|rollback|status`: the state file, its checks (before anything
changes) and the audit log. The served behaviour is in test_rollout_serving.py."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from types import SimpleNamespace

from rollout_helpers import cli, state

from promptwise.engine.batch import run_batch
from promptwise.evaluation.results_store import EvalStore
from promptwise.serving.routing import Router, Table, bucket


def _audit(root):
    with sqlite3.connect(root / ".promptwise" / "registry.sqlite") as db:
        return db.execute("SELECT action, from_version, to_version, outcome FROM audit "
                          "WHERE action IN ('rollout','promote','rollback') ORDER BY seq").fetchall()


def test_set_status_and_rollback_write_the_state_and_the_audit(packaged, capsys):
    flow = str(packaged / "triage")
    code, out, _ = cli(capsys, "rollout", "set", flow, "triage:v1=100")
    assert code == 0 and state(packaged) == {"weights": {"triage:v1": 100}}
    code, out, _ = cli(capsys, "rollout", "set", flow, "triage:v1=90", "v2=10", "--sticky-key", "X-User-Id",
                       "--shadow", "triage:v3=25")
    assert code == 0
    assert state(packaged) == {"weights": {"triage:v1": 90, "triage:v2": 10}, "sticky_key": "x-user-id",
                               "shadow": {"version": "triage:v3", "share": 25.0}}
    code, out, _ = cli(capsys, "rollout", "status", flow, "--format", "json")
    assert code == 0 and json.loads(out)["current"]["weights"] == {"triage:v1": 90, "triage:v2": 10}
    code, out, _ = cli(capsys, "rollout", "rollback", flow)
    assert code == 0 and state(packaged) == {"weights": {"triage:v1": 100}}
    assert _audit(packaged)[-3:] == [("rollout", None, "triage:v1", "ok"),
                                     ("rollout", "triage:v1", "triage:v1", "ok"),
                                     ("rollback", "triage:v1", "triage:v1", "ok")]


def test_bad_weights_and_unknown_versions_change_nothing(packaged, capsys):
    flow = str(packaged / "triage")
    assert cli(capsys, "rollout", "set", flow, "triage:v1=100")[0] == 0
    before = (packaged / ".promptwise" / "rollouts" / "triage.json").read_text()
    audited = len(_audit(packaged))
    code, _, err = cli(capsys, "rollout", "set", flow, "triage:v1=60", "triage:v2=30")
    assert code != 0 and "add up to 90, not 100" in err
    code, _, err = cli(capsys, "rollout", "set", flow, "triage:v1=50", "triage:v9=50")
    assert code != 0 and "triage:v9" in err and "did you mean" in err
    code, _, err = cli(capsys, "rollout", "set", flow, "triage:v1=50", "v1=50")
    assert code != 0 and "twice" in err
    code, _, err = cli(capsys, "rollout", "promote", flow, "triage:v7")
    assert code != 0 and "did you mean" in err
    assert (packaged / ".promptwise" / "rollouts" / "triage.json").read_text() == before
    assert len(_audit(packaged)) == audited


def test_promote_is_gated_by_the_versions_evaluations(packaged, capsys):
    flow = str(packaged / "triage")
    assert cli(capsys, "rollout", "set", flow, "triage:v1=100")[0] == 0
    code, _, err = cli(capsys, "rollout", "promote", flow, "triage:v2", "--require", "category_match>=0.95")
    assert code != 0 and "no evaluation" in err and "nothing changed" in err
    assert state(packaged) == {"weights": {"triage:v1": 100}}
    assert _audit(packaged)[-1] == ("promote", "triage:v1", "triage:v2", "refused")

    # A batch and an evaluation of exactly v2's content (the working copy edited back to v2's prompt).
    template = packaged / "triage" / "chat.jinja2"
    template.write_text("user:\nBETA {{question}}\n", encoding="utf-8")
    (packaged / "rows.jsonl").write_text('{"question": "one"}\n{"question": "two"}\n', encoding="utf-8")
    asyncio.run(run_batch(packaged / "triage", packaged / "rows.jsonl", name="v2-run"))
    template.write_text("user:\nGAMMA {{question}}\n", encoding="utf-8")
    with EvalStore(packaged / ".promptwise") as store:
        store.save("v2-run", SimpleNamespace(evaluators=[], rows=[], metrics={"category_match": {"mean": 0.9}},
                                             summary={"rows": 2}), flow=str(packaged / "triage"), config=None, data=None)
    code, _, err = cli(capsys, "rollout", "promote", flow, "triage:v2", "--require", "category_match>=0.95")
    assert code != 0 and "category_match is 0.9, the gate is >=0.95" in err
    code, _, _ = cli(capsys, "rollout", "promote", flow, "triage:v2", "--require", "category_match>=0.85")
    assert code == 0 and state(packaged) == {"weights": {"triage:v2": 100}}
    assert _audit(packaged)[-1] == ("promote", "triage:v1", "triage:v2", "ok")
    assert cli(capsys, "rollout", "rollback", flow)[0] == 0
    assert state(packaged) == {"weights": {"triage:v1": 100}}


def test_router_weights_and_sticky_keys():
    flows = {name: SimpleNamespace(name=name, content_hash="sha256:" + name) for name in ("a", "b")}
    router = Router([], Table((("a", flows["a"], 70), ("b", flows["b"], 30)), sticky_key="x-user-id"))
    picks = [router.pick({"x-user-id": f"user-{i}"}, "local").version for i in range(2000)]
    assert 0.6 < picks.count("a") / len(picks) < 0.8  # 70% of keys, by their hash
    assert all(router.pick({"x-user-id": f"user-{i}"}, "local").version == picks[i] for i in range(200))
    assert bucket("user-1") == bucket("user-1") and 0 <= bucket("user-1") < 100
    only = Router([], Table((("a", flows["a"], 0), ("b", flows["b"], 100))))
    assert {only.pick({}, "local").version for _ in range(200)} == {"b"}


def _traces(root, version, durations, errors=0):
    """Served requests of `version` as the trace store holds them (one `traces` row each)."""
    from promptwise.tracing.store import SpanStore, store_path

    SpanStore(store_path(root)).close()  # the store's own schema
    now = time.time_ns()
    with sqlite3.connect(store_path(root)) as db:
        for i, ms in enumerate(durations):
            db.execute("INSERT INTO traces(trace_id, kind, version, start_ns, duration_ms, status) "
                       "VALUES (?, 'request', ?, ?, ?, ?)",
                       (f"{version}-{i}-{now}", version, now - i * 1000, ms, "error" if i < errors else "ok"))


def test_promote_live_gate_compares_the_candidate_with_the_stable_version_on_traces(packaged, capsys):
    flow = str(packaged / "triage")
    assert cli(capsys, "rollout", "set", flow, "triage:v1=80", "triage:v2=10", "triage:v3=10")[0] == 0
    code, _, err = cli(capsys, "rollout", "promote", flow, "triage:v2", "--live")
    assert code != 0 and "0 live requests" in err
    _traces(packaged, "triage:v1", [100.0] * 40)
    _traces(packaged, "triage:v2", [100.0] * 20 + [300.0] * 10)
    _traces(packaged, "triage:v3", [105.0] * 30, errors=2)
    code, _, err = cli(capsys, "rollout", "promote", flow, "triage:v2", "--live")
    assert code != 0 and "p95 300 ms is over triage:v1's 100 ms" in err
    code, _, err = cli(capsys, "rollout", "promote", flow, "triage:v3", "--live")
    assert code != 0 and "error rate 6.7% is over triage:v1's 0.0%" in err
    assert state(packaged)["weights"] == {"triage:v1": 80, "triage:v2": 10, "triage:v3": 10}
    code, _, _ = cli(capsys, "rollout", "promote", flow, "triage:v3", "--live", "--error-margin", "0.1")
    assert code == 0 and state(packaged) == {"weights": {"triage:v3": 100}}
    assert _audit(packaged)[-1] == ("promote", "triage:v1", "triage:v3", "ok")


def test_serve_refuses_a_rollout_it_cannot_serve_before_starting(packaged, capsys):
    path = packaged / ".promptwise" / "rollouts" / "triage.json"
    kept = path.read_text()
    try:
        path.write_text(json.dumps({"current": {"weights": {"triage:v1": 70}}, "history": []}))
        code, _, err = cli(capsys, "serve", str(packaged / "triage"), "--port", "0")
        assert code != 0 and "add up to 70, not 100" in err and "nothing is served" in err
        path.write_text("{not json")
        code, _, err = cli(capsys, "serve", str(packaged / "triage"), "--port", "0")
        assert code != 0 and str(path) in err and "unreadable" in err
    finally:
        path.write_text(kept)
