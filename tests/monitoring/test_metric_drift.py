"""Metric drift: online scores against the offline evaluation of the same flow content.

The offline side is a real `promptwise eval` of a prompty (through the fake OpenAI server); the
online side is scored by the online-evaluation worker (OnlineEvaluation, real evaluators) from
finished requests carrying the same content hash. A shifted stream is flagged in `monitor`
(text, JSON, HTML) and by a `drift.NAME` alert; an unshifted one raises no alarm."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.lsp.operate import monitor_view
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.monitoring.alerts import evaluate, read_rules
from promptwise.monitoring.metric_drift import MIN_SAMPLE, alert_value, assess, group_of
from promptwise.monitoring.online_eval import Finished, OnlineEvaluation, build_evaluators
from promptwise.monitoring.source import open_traces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_process import ECHO_PROMPTY, write_workspace  # noqa: E402

HOUR_NS = 3600 * 10**9
ROWS = 40


def test_a_shifted_stream_is_flagged_and_an_unshifted_one_is_not():
    """Pass/fail scores (an offline pass rate of 0.9 over 100 rows) against 200 online scores:
    over 500 seeded trials, unshifted streams almost never alarm, a drop to 0.75 is caught in more than 85 %."""
    rng = random.Random(7)
    draw = lambda rate, n: [1.0 if rng.random() < rate else 0.0 for _ in range(n)]  # noqa: E731
    false_alarms = sum(assess(group_of(draw(0.9, 200), draw(0.9, 100)))["level"] == "drift" for _ in range(500))
    detected = sum(assess(group_of(draw(0.75, 200), draw(0.9, 100)))["level"] == "drift" for _ in range(500))
    assert false_alarms <= 10  # under 2 % (the test's own level is 1 %, the tolerance cuts it further)
    assert detected >= 425  # over 85 % (the offline side has only 100 rows)
    # an online stream *better* than offline is no drift
    assert assess(group_of(draw(1.0, 200), draw(0.8, 100)))["level"] == "ok"


def test_the_p_value_is_students_t_at_the_welch_degrees_of_freedom():
    from promptwise.monitoring.metric_drift import worse_p_value

    # equal variances and sizes: df = 2n - 2; t tables: P(T > 2.457) = 0.01 at df 30, P(T > 2.228) = 0.025 at 10
    for n, t, p in ((16, 2.457, 0.01), (6, 2.228, 0.025)):
        variance = 1.0
        drop = t * (2 * variance / n) ** 0.5
        assert worse_p_value(drop, variance, n, variance, n) == pytest.approx(p, rel=2e-3)
        assert worse_p_value(-drop, variance, n, variance, n) == pytest.approx(1 - p, rel=2e-3)
    assert worse_p_value(0.1, 0.0, 50, 0.0, 50) == 0.0 and worse_p_value(0.0, 0.0, 50, 0.0, 50) == 1.0


def test_direction_follows_higher_is_better_and_small_samples_say_too_few():
    worse_when_higher = group_of([0.4] * 20 + [0.6] * 20, [0.1] * 20 + [0.3] * 20, higher_is_better=False)
    judged = assess(worse_when_higher)
    assert judged["level"] == "drift" and judged["drop"] == pytest.approx(0.3)
    few = assess(group_of([0.0] * (MIN_SAMPLE - 2) + [1.0], [1.0] * 50))  # one short of MIN_SAMPLE
    assert few["level"] == "too few" and few["p_value"] is None
    assert assess({"mean": 0.5, "scored": 100, "offline": None})["level"] == "no offline"
    # the alert value: the largest significant drop (0 when none is), no data without an offline side
    assert alert_value([group_of([1.0] * 50, [1.0] * 50)]) == (0.0, 50)
    assert alert_value([{"mean": 0.5, "scored": 100, "offline": None}]) == (None, 100)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A workspace with a real offline evaluation of echo.prompty (pii over 40 clean answers: mean 1.0)
    and the content hash it recorded."""
    root = tmp_path_factory.mktemp("metric-drift")
    with FakeOpenAI() as server:
        write_workspace(root, server.base_url, ECHO_PROMPTY)
        (root / "data.jsonl").write_text("".join(json.dumps({"question": f"question {n}"}) + "\n"
                                                 for n in range(ROWS)), encoding="utf-8")
        (root / "eval.yaml").write_text("data: data.jsonl\nevaluators:\n  - name: pii\n    type: pii\n"
                                        "    inputs: {text: ${run.outputs}}\n", encoding="utf-8")
        with (root / "promptwise.yaml").open("a", encoding="utf-8") as settings:
            settings.write("monitoring:\n  online_eval:\n    evaluators: [pii]\n    sample_rate: 1.0\n")
        cwd = os.getcwd()
        os.chdir(root)
        try:
            assert main(["eval", "echo.prompty", "--config", "eval.yaml", "--format", "json"]) == 0
        finally:
            os.chdir(cwd)
    connection = sqlite3.connect(root / ".promptwise" / "runs.sqlite")
    (content_hash,) = connection.execute("SELECT content_hash FROM evaluations").fetchone()
    connection.close()
    assert content_hash
    return root, content_hash


def _score_online(root: Path, content_hash: str, *, version: str, leaky: int, age_s: float, prefix: str) -> None:
    """ROWS finished requests through the online-evaluation worker; `leaky` of them answer with an e-mail."""
    evaluators = build_evaluators(["pii"], root)
    online = OnlineEvaluation(root / ".promptwise" / "traces.sqlite", evaluators, sample_rate=1.0)
    online.start()
    when = time.time_ns() - int(age_s * 1e9)
    for n in range(ROWS):
        answer = f"write to person{n}@example.com" if n < leaky else f"echo: question {n}"
        assert online.offer(Finished({"question": f"q{n}"}, {"output": answer}, f"{prefix}{n:030x}",
                                     version, "portal", when + n, content_hash))
    assert online.wait_idle(30)
    online.stop()


def test_monitor_flags_the_shifted_version_in_text_json_html_and_alerts(evaluated, capsys, monkeypatch):
    root, content_hash = evaluated
    _score_online(root, content_hash, version="v-steady", leaky=0, age_s=2 * 3600, prefix="aa")  # two hours ago: as offline
    _score_online(root, content_hash, version="v-leaky", leaky=12, age_s=60, prefix="bb")  # now: 30 % answers leak an e-mail
    monkeypatch.chdir(root)
    capsys.readouterr()

    assert main(["monitor", "--since", "3h", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    groups = {group["version"]: group for group in document["online_eval"]}
    # the trend: each version's mean per UTC day
    daily = {(d["version"], d["evaluator"]): d for d in document["online_daily"]}
    assert daily[("v-leaky", "pii")]["mean"] == pytest.approx(0.7) and daily[("v-leaky", "pii")]["scored"] == ROWS
    leaky, steady = groups["v-leaky"], groups["v-steady"]
    assert leaky["offline"] == 1.0 and leaky["offline_n"] == ROWS and leaky["mean"] == pytest.approx(0.7)
    assert leaky["drift"]["level"] == "drift" and leaky["drift"]["drop"] == pytest.approx(0.3)
    assert leaky["drift"]["p_value"] < 0.01
    assert steady["drift"] == {"level": "ok", "drop": 0.0, "p_value": 1.0}

    assert main(["monitor", "--since", "3h"]) == 0
    text = capsys.readouterr().out
    leaky_line = next(line for line in text.splitlines() if line.startswith("v-leaky"))
    assert leaky_line.split()[-1] == "drift" and "0.300" in leaky_line
    assert next(line for line in text.splitlines() if line.startswith("v-steady")).split()[-1] == "ok"

    assert main(["monitor", "--since", "3h", "--format", "html", "--out", "monitor.html"]) == 0
    page = (root / "monitor.html").read_text(encoding="utf-8")
    assert "<h2>Online evaluation</h2>" in page and '<td class="alert">drift</td>' in page
    assert "v-leaky" in page and "Online mean score" in page and "Online mean score per version and day" in page

    # the editor's Monitor view shows the same table
    view = monitor_view(root, None, "3h")
    assert "<h2>Online evaluation</h2>" in view["html"] and '<td class="alert">drift</td>' in view["html"]
    assert "Online mean score per version and day" in view["html"]

    # alerts: drift.pii over the last 15 minutes fires (with the lowest-scored requests as examples);
    # a bare online evaluator name is its mean score; hits_per_hour.pii counts its failed scores
    workspace = load_workspace(root)
    settings = {**workspace.settings, "alerts": [
        {"name": "pii-drift", "metric": "drift.pii", "above": 0.1, "window": "15m"},
        {"name": "pii-floor", "metric": "pii", "below": 0.9, "window": "15m"},
        {"name": "pii-hits", "metric": "hits_per_hour.pii", "above": 10, "window": "15m"}]}
    rules, _ = read_rules(settings, None)
    connection = open_traces(root)
    assert connection is not None
    try:
        now = time.time_ns()
        fired = {r.rule.name: r for r in evaluate(connection, rules, now_ns=now, state_dir=workspace.state_dir)}
        # the same rules over a window of the steady version only: no alarm
        calm = {r.rule.name: r for r in evaluate(connection, rules, now_ns=now - 2 * HOUR_NS + 600 * 10**9,
                                                  state_dir=workspace.state_dir)}
    finally:
        connection.close()
    assert fired["pii-drift"].firing and fired["pii-drift"].value == pytest.approx(0.3)
    assert fired["pii-floor"].firing and fired["pii-floor"].value == pytest.approx(0.7)
    leaked = {f"bb{n:030x}" for n in range(12)}  # the requests that answered with an e-mail
    assert len(fired["pii-drift"].traces) == 3 and set(fired["pii-drift"].traces) <= leaked
    assert "drift.pii 0.3 is above 0.1" in fired["pii-drift"].message()
    assert not calm["pii-drift"].firing and calm["pii-drift"].value == 0.0
    assert not calm["pii-floor"].firing and calm["pii-floor"].value == 1.0
    # safety hits: 12 leaking answers in a 15-minute window are 48 an hour
    assert fired["pii-hits"].firing and fired["pii-hits"].value == pytest.approx(48.0)
    assert not calm["pii-hits"].firing and calm["pii-hits"].value == 0.0


def test_thresholds_come_from_monitoring_metric_drift_and_bad_ones_are_refused(tmp_path):
    from promptwise.config import ConfigError
    from promptwise.monitoring.metric_drift import SIGNIFICANCE, TOLERANCE, drift_options, with_drift

    assert drift_options({}) == {"tolerance": TOLERANCE, "significance": SIGNIFICANCE}
    judge = group_of([3.9] * 50 + [4.1] * 50, [4.0] * 50 + [4.2] * 50)  # a 1-5 judge 0.1 lower online
    assert assess(judge)["level"] == "drift"
    options = drift_options({"monitoring": {"metric_drift": {"tolerance": 0.25}}})
    assert options == {"tolerance": 0.25, "significance": SIGNIFICANCE}
    [assessed] = with_drift([judge], **options)
    assert assessed["drift"]["level"] == "ok" and assessed["drift"]["drop"] == pytest.approx(0.1)
    source = tmp_path / "promptwise.yaml"
    for section, word in (({"tolerance": -1}, "tolerance"), ({"significance": 0.9}, "significance"),
                          ({"alpha": 0.1}, "unknown setting alpha"), ("strict", "mapping")):
        with pytest.raises(ConfigError) as raised:
            drift_options({"monitoring": {"metric_drift": section}}, source)
        assert str(raised.value).startswith(f"{source}: `monitoring.metric_drift`") and word in str(raised.value)


def test_drift_alert_rules_use_the_workspace_significance():
    from promptwise.monitoring.alerts import read_rules

    judge = group_of([3.9] * 50 + [4.1] * 50, [4.0] * 50 + [4.2] * 50)  # 0.1 lower online, t about 7
    assert alert_value([judge])[0] == pytest.approx(0.1)
    assert alert_value([judge], significance=1e-20) == (0.0, 100)  # not significant at that level
    settings = {"monitoring": {"metric_drift": {"significance": 0.001}},
                "alerts": [{"name": "drop", "metric": "drift.pii", "above": 0.05},
                           {"name": "slow", "metric": "latency_p95_ms", "above": 2000}]}
    rules = {rule.name: rule for rule in read_rules(settings, None)[0]}
    assert rules["drop"].drift_significance == 0.001 and rules["slow"].drift_significance is None
    # an unusable metric_drift section is reported by check/monitor; the rule keeps the default
    settings["monitoring"]["metric_drift"] = {"significance": 2}
    assert read_rules(settings, None)[0][0].drift_significance is None
