"""Alert rules: validation with file and line, `monitor --check`, webhook delivery to a real
HTTP receiver on 127.0.0.1 (Slack/Teams JSON, retries with back-off, a receiver that is down)."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.monitoring.alerts import AlertRuleError, evaluate, read_rules
from promptwise.monitoring.source import open_traces
from promptwise.monitoring.webhook import WebhookSender, payload


class Receiver:
    """A webhook receiver on a free loopback port; answers `statuses` in turn, then 200."""

    def __init__(self, statuses=()):
        self.bodies: list[dict] = []
        self.statuses = list(statuses)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = outer.statuses.pop(0) if outer.statuses else 200
                if status == 200:
                    outer.bodies.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for server in made:
        server.close()


def settings_file(root, text):
    (root / "promptwise.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_workspace(root)


def test_bad_rules_are_refused_with_file_line_and_did_you_mean(tmp_path):
    workspace = settings_file(tmp_path, """
        defaults: {}
        alerts:
          - name: slow
            flow: triage
            metric: latncy_p95_ms
            above: 2000
            window: 15m
          - name: errors
            metric: error_rate
            above: 5%
            window: 15 minutes
          - name: both
            metric: requests
            above: 1
            below: 2
            windw: 1h
          - name: hook
            metric: requests
            below: 1
            webhook: https://hooks.example/secret
        """)
    with pytest.raises(AlertRuleError) as caught:
        read_rules(workspace.settings, workspace.source)
    lines = str(caught.value).splitlines()
    source = str(workspace.source)
    assert f"{source}:5: unknown metric 'latncy_p95_ms' in rule 'slow'; did you mean `latency_p95_ms`?" in lines
    assert any(line.startswith(f"{source}:10:") and "above: '5%'" in line and "not a number" in line
               for line in lines)
    assert any(line.startswith(f"{source}:11:") and "not a duration" in line for line in lines)
    assert any(line.startswith(f"{source}:12:") and "exactly one of" in line for line in lines)
    assert any(line.startswith(f"{source}:16:") and "did you mean `window`" in line for line in lines)
    assert any(line.startswith(f"{source}:20:") and "${env:" in line for line in lines)
    assert "secret" not in str(caught.value).replace("their secret", "")


def test_check_fires_with_value_since_and_traces_and_posts_to_the_webhook(
        request_spans, workspace, receiver, capsys, monkeypatch):
    root, write = workspace
    hook = receiver()
    monkeypatch.setenv("TEAM_HOOK", hook.url)
    (root / "promptwise.yaml").write_text(textwrap.dedent("""
        alerts_webhook: ${env:TEAM_HOOK}
        alerts:
          - {name: slow-triage, flow: triage, metric: latency_p95_ms, above: 2000, window: 15m}
          - {name: triage-errors, flow: triage, metric: error_rate, above: 0.05, window: 1h}
          - {name: budget, metric: cost_per_day_usd, above: 1000, window: 1d}
        """), encoding="utf-8")
    # slow for the last 40 minutes (three 15-minute windows), with errors
    write([request_spans(flow="triage", duration_ms=3000.0, age_s=age, status="error" if (age // 60) % 10 == 0 else "ok")
           for age in range(30, 2400, 60)]
          + [request_spans(flow="triage", duration_ms=100.0, age_s=age) for age in range(2700, 6000, 60)])
    assert main(["monitor", "--check", "--workspace", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    slow = next(line for line in out if "slow-triage" in line)
    assert slow.startswith("FIRING") and "latency_p95_ms 3,000 is above 2,000" in slow and "traces: " in slow
    assert next(line for line in out if "triage-errors" in line).startswith("FIRING")
    assert next(line for line in out if "budget" in line).startswith("ok")
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert body["summary"] == "Promptwise: 2 alerts firing" and "slow-triage" in body["text"]
    assert body["@type"] == "MessageCard"  # Teams; Slack reads `text`

    connection = open_traces(root)
    rules, _ = read_rules(load_workspace(root).settings, root / "promptwise.yaml")
    [slow_result] = [r for r in evaluate(connection, rules) if r.rule.name == "slow-triage"]
    age_minutes = (time.time_ns() - slow_result.since_ns) / 60e9
    assert 30 <= age_minutes <= 46  # the first window that did not fire started ~45 minutes ago
    assert len(slow_result.traces) == 3
    connection.close()


def test_check_is_quiet_when_nothing_crosses(request_spans, workspace, capsys):
    root, write = workspace
    (root / "promptwise.yaml").write_text(
        "alerts:\n  - {name: slow, flow: triage, metric: latency_p95_ms, above: 2000, window: 15m}\n"
        "  - {name: traffic-stopped, flow: triage, metric: requests, below: 1, window: 15m}\n")
    write([request_spans(flow="triage", duration_ms=100.0) for _ in range(5)])
    assert main(["monitor", "--check", "--workspace", str(root), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["firing"] == 0 and [a["value"] for a in document["alerts"]] == [100.0, 5.0]


def test_webhook_retries_with_back_off_then_delivers(receiver, monkeypatch):
    hook = receiver(statuses=[503, 500])
    monkeypatch.setenv("HOOK_URL", hook.url)
    sender = WebhookSender(first_delay_s=0.05)
    assert sender.send("HOOK_URL", payload("t", ["line"]))
    assert sender.flush(timeout_s=10)
    assert sender.delivered == 1 and hook.bodies == [payload("t", ["line"])] and not sender.failed


def test_a_receiver_that_is_down_never_blocks_the_sender(monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HOOK_URL", f"http://user:token@127.0.0.1:{port}/hook")
    sender = WebhookSender(first_delay_s=0.01, attempts=3, queue_size=2)
    started = time.monotonic()
    results = [sender.send("HOOK_URL", payload("t", [str(i)])) for i in range(10)]
    assert time.monotonic() - started < 0.5  # send() only queues (not a timing claim on delivery)
    assert results.count(False) == sender.dropped >= 7
    assert sender.flush(timeout_s=10)
    assert sender.delivered == 0 and sender.failed and all("token" not in f for f in sender.failed)
    assert "127.0.0.1" in sender.failed[0]


def test_the_server_loop_posts_when_an_alert_starts_firing_and_logs_when_it_clears(
        request_spans, workspace, receiver, monkeypatch, caplog):
    from promptwise.monitoring.background import AlertLoop

    root, write = workspace
    hook = receiver()
    monkeypatch.setenv("TEAM_HOOK", hook.url)
    (root / "promptwise.yaml").write_text(
        "alerts:\n  - {name: errors, flow: triage, metric: error_rate, above: 0.2, window: 1h, "
        "webhook: '${env:TEAM_HOOK}'}\n")
    write([request_spans(flow="triage", status="error") for _ in range(3)])
    settings = load_workspace(root)
    loop = AlertLoop(root, settings.settings, settings.source, interval_s=3600)
    assert loop.start()
    [result] = loop.check_once()
    assert result.firing and loop.firing == {"errors"}
    loop.check_once()  # still firing: not posted again
    assert loop._sender.flush(timeout_s=10) and len(hook.bodies) == 1
    assert "errors" in hook.bodies[0]["text"]
    write([request_spans(flow="triage") for _ in range(30)])
    with caplog.at_level("WARNING", logger="promptwise.monitoring"):
        [result] = loop.check_once()
    assert not result.firing and loop.firing == set() and "cleared" in caplog.text
    loop.stop()


def test_the_server_loop_stays_off_for_bad_rules(tmp_path, caplog):
    from promptwise.monitoring.background import AlertLoop

    workspace = settings_file(tmp_path, "alerts:\n  - {name: x, metric: nope, above: 1}\n")
    with caplog.at_level("ERROR", logger="promptwise.monitoring"):
        assert not AlertLoop(tmp_path, workspace.settings, workspace.source).start()
    assert "promptwise.yaml:2" in caplog.text


def test_example_traces_become_links_with_alerts_trace_url(request_spans, workspace, receiver, capsys, monkeypatch):
    root, write = workspace
    hook = receiver()
    monkeypatch.setenv("TEAM_HOOK", hook.url)
    (root / "promptwise.yaml").write_text(textwrap.dedent("""
        alerts_webhook: ${env:TEAM_HOOK}
        alerts_trace_url: https://jaeger.example/trace/{trace_id}
        alerts:
          - {name: triage-errors, flow: triage, metric: error_rate, above: 0.05, window: 1h}
        """), encoding="utf-8")
    write([request_spans(flow="triage", status="error") for _ in range(2)])
    assert main(["monitor", "--check", "--workspace", str(root), "--format", "json"]) == 1
    [alert] = json.loads(capsys.readouterr().out)["alerts"]
    assert len(alert["example_traces"]) == 2
    assert alert["example_trace_urls"] == [f"https://jaeger.example/trace/{t}" for t in alert["example_traces"]]
    assert all(url in hook.bodies[0]["text"] for url in alert["example_trace_urls"])

    (root / "promptwise.yaml").write_text("alerts_trace_url: https://jaeger.example/trace/\nalerts: []\n")
    with pytest.raises(AlertRuleError) as caught:
        read_rules(load_workspace(root).settings, root / "promptwise.yaml")
    assert str(caught.value).startswith(f"{root / 'promptwise.yaml'}:1:") and "{trace_id}" in str(caught.value)


def test_the_alert_settings_are_known_keys_of_promptwise_yaml(tmp_path):
    """`promptwise check` and the editor know the alert keys: no "promptwise ignores it" warning."""
    from promptwise.analysis import analyze

    path = tmp_path / "promptwise.yaml"
    path.write_text("alerts_webhook: ${env:ALERTS_URL}\nalerts_interval: 30s\n"
                    "alerts_trace_url: https://jaeger.example/trace/{trace_id}\n"
                    "alerts:\n  - {name: slow, metric: latency_p95_ms, above: 2000, window: 15m}\n", encoding="utf-8")
    assert analyze(path) == []
    path.write_text("alerts: {slow: 1}\n", encoding="utf-8")
    assert "PW104" in {problem.code for problem in analyze(path)}  # a list of rules, not a mapping


def test_check_posts_an_alert_when_it_starts_not_at_every_run(request_spans, workspace, receiver, capsys, monkeypatch):
    root, write = workspace
    hook = receiver()
    monkeypatch.setenv("TEAM_HOOK", hook.url)
    (root / "promptwise.yaml").write_text(
        "alerts_webhook: ${env:TEAM_HOOK}\nalerts:\n"
        "  - {name: triage-errors, flow: triage, metric: error_rate, above: 0.2, window: 1h}\n", encoding="utf-8")
    write([request_spans(flow="triage", status="error") for _ in range(3)])
    check = ["monitor", "--check", "--workspace", str(root)]
    assert main(check) == 1 and main(check) == 1  # a cron job: both runs exit 1 while it fires...
    assert len(hook.bodies) == 1  # ...but it is posted once
    assert main([*check, "--repost"]) == 1 and len(hook.bodies) == 2
    write([request_spans(flow="triage") for _ in range(30)])  # it clears
    assert main(check) == 0
    write([request_spans(flow="triage", status="error", age_s=1) for _ in range(30)])  # and fires again
    assert main(check) == 1 and len(hook.bodies) == 3
    capsys.readouterr()
