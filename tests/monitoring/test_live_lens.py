"""The live lenses over a flow file (lsp/monitor_lenses.py): the live version's figures of the
last 24 h from the monitoring aggregates, and where each version runs from the audit log and
the rollout state. Read from real stores written by their own writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptwise.deploy import audit, rollout
from promptwise.deploy.registry import open_database
from promptwise.lsp.monitor_lenses import LiveLens, live_lenses, where_title

FLOW = "inputs: {q: {type: string}}\noutputs: {a: {type: string, reference: '${inputs.q}'}}\nnodes: []\n"


@pytest.fixture
def flow(workspace) -> tuple[Path, callable]:
    root, write = workspace
    (root / "triage").mkdir()
    path = root / "triage" / "flow.dag.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path, write


def _deploy(root: Path, *entries: tuple[str, str, str, str]) -> None:
    database = open_database(root / ".promptwise")
    try:
        for action, version, target, outcome in entries:
            audit.record(database, action, who="test", name="triage", to_version=version, target=target,
                         outcome=outcome)
        database.commit()
    finally:
        database.close()


def test_no_traffic_and_no_deployment_means_no_lens(flow):
    path, _ = flow
    assert live_lenses(path) == []


def test_the_latest_version_with_traffic_when_never_deployed(flow, request_spans):
    path, write = flow
    write([request_spans(version="triage:v1", duration_ms=300, age_s=600, cost=0.01),
           *[request_spans(version="triage:v2", duration_ms=ms, age_s=60, cost=0.5) for ms in (900, 1100, 1200)],
           request_spans(version="triage:v2", duration_ms=50, age_s=30, status="error", cost=0.2),
           request_spans(version="triage:v2", duration_ms=50, age_s=2 * 86400, cost=9.0)])  # outside the day
    [lens] = live_lenses(path)
    assert lens.title == "live v2: p95 1.2 s · 25.0% errors · $1.70/day"
    assert lens.trace_id is not None  # the error, to open


def test_where_each_version_runs_and_the_rollout_weights(flow, request_spans):
    path, write = flow
    root = path.parent.parent
    _deploy(root, ("deploy", "triage:v6", "docker", "ok"), ("deploy", "triage:v7", "docker", "ok"),
            ("deploy", "triage:v6", "kubernetes", "ok"), ("deploy", "triage:v9", "kubernetes", "failed"))
    lenses = live_lenses(path)
    assert lenses == [LiveLens("v7 live in docker · v6 in kubernetes")]  # no traffic: no figures lens

    write([request_spans(version="triage:v7", duration_ms=800, cost=None),
           request_spans(version="triage:v6", duration_ms=100)])
    titles = [lens.title for lens in live_lenses(path)]
    assert titles == ["v7 live in docker · v6 in kubernetes", "live v7: p95 800 ms · 0.0% errors"]  # unpriced

    registry = root / ".promptwise"
    rollout.replace_current(rollout.state_path(registry, "triage"), {"weights": {"triage:v7": 90, "triage:v6": 10}})
    titles = [lens.title for lens in live_lenses(path)]
    assert titles[0].endswith("serve: v7 90% · v6 10%")
    assert titles[1:] == ["live v7 (90%): p95 800 ms · 0.0% errors",
                          "live v6 (10%): p95 100 ms · 0.0% errors · $0.0010/day"]


def test_a_damaged_rollout_state_still_gives_the_figures(flow, request_spans):
    path, write = flow
    state = rollout.state_path(path.parent.parent / ".promptwise", "triage")
    state.parent.mkdir(parents=True)
    state.write_text("{not json", encoding="utf-8")
    write([request_spans(version="triage:v3", duration_ms=40)])
    assert [lens.title for lens in live_lenses(path)] == ["live v3: p95 40 ms · 0.0% errors · $0.0010/day"]


@pytest.mark.parametrize(("deployed", "weights", "title"), [
    ({}, {}, None),
    ({"azureml": "f:v2"}, {}, "v2 live in azureml"),
    ({"docker": "f:v3", "kubernetes": "f:v3"}, {}, "v3 live in docker, kubernetes"),
    ({}, {"f:v1": 100}, "serve: v1 100%"),
])
def test_where_title(deployed, weights, title):
    assert where_title(deployed, weights) == title


@pytest.mark.parametrize(("version", "label"), [("triage:v7", "v7"), ("sha256:b6a58", "sha256:b6a58"),
                                                ("my.flow:v12", "v12"), ("(unknown)", "(unknown)")])
def test_short_version_labels(version, label):
    from promptwise.lsp.monitor_lenses import short

    assert short(version) == label


PROMPTY = "---\nname: Chat\nmodel:\n  api: chat\n---\nuser:\n{{question}}\n"


def test_a_same_named_second_flow_never_shows_the_owners_live_version(workspace, request_spans):
    """chat/chat.prompty and chat2/chat.prompty are both "chat" by default, and their traces are
    both flow "chat": the rollout, deployments and live figures are the owner's only. The other
    flow says whose name it is; packaged under a name of its own, it shows that name's state."""
    from promptwise.deploy.service import open_context, package

    root, write = workspace
    for folder in ("chat", "chat2"):
        (root / folder).mkdir()
        (root / folder / "chat.prompty").write_text(PROMPTY, encoding="utf-8")
    owner, other = root / "chat" / "chat.prompty", root / "chat2" / "chat.prompty"
    context = open_context(root)
    try:
        version, _ = package(context, owner)
        audit.record(context.registry.database, "deploy", who="test", name="chat", to_version=version.id,
                     target="docker")
        context.registry.database.commit()
    finally:
        context.close()
    rollout.replace_current(rollout.state_path(root / ".promptwise", "chat"), {"weights": {"chat:v1": 100}})
    write([request_spans(flow="chat", version="chat:v1", duration_ms=700)])

    titles = [lens.title for lens in live_lenses(owner)]
    assert titles == ["v1 live in docker · serve: v1 100%", "live v1: p95 700 ms · 0.0% errors · $0.0010/day"]
    [taken] = live_lenses(other)
    assert not taken.opens and "'chat' belongs to another flow" in taken.title  # its Monitor view mixes chat's
    assert "chat/chat.prompty" in taken.title and "v1 live" not in taken.title and "--name" in taken.title

    context = open_context(root)
    try:
        assert package(context, other, name="chat2")[0].id == "chat2:v1"
    finally:
        context.close()
    assert live_lenses(other) == []  # chat2 never deployed, and chat:v1's traffic is not chat2's
    write([request_spans(flow="chat", version="chat2:v1", duration_ms=90)])
    assert [lens.title for lens in live_lenses(other)] == ["live v1: p95 90 ms · 0.0% errors · $0.0010/day"]
    assert [lens.title for lens in live_lenses(owner)] == titles  # the owner's unchanged
