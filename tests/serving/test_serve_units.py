"""The parts of serving that need no server: flow content hash, `serve:` settings, rate limits."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys

import pytest

from promptwise.documents.content_hash import flow_content_hash
from promptwise.serving.app import ServingApp
from promptwise.serving.limits import RateLimiter, SharedRateLimiter, WindowBusy
from promptwise.serving.settings import Limits, ServeConfigError, ServeSettings, parse_serve_settings

FLOW = {
    "flow.dag.yaml": "inputs:\n  q: {type: string}\noutputs:\n  a: {reference: '${n.output}'}\nnodes:\n"
                     "- name: n\n  type: llm\n  source: {type: code, path: n.jinja2}\n  inputs: {q: '${inputs.q}'}\n"
                     "  api: chat\n",
    "n.jinja2": "user:\n{{q}}\n",
    "tools/helper.py": "X = 1\n",
    "requirements.txt": "requests\n",
    "README.md": "docs\n",
    "data.jsonl": '{"q": "x"}\n',
}


def _flow(root, files=FLOW):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode("utf-8"))
    return root


def test_content_hash_is_stable_across_line_endings_and_folders(tmp_path):
    first = _flow(tmp_path / "a")
    second = _flow(tmp_path / "b", {k: v.replace("\n", "\r\n") for k, v in FLOW.items()})
    assert flow_content_hash(first, models={}) == flow_content_hash(second / "flow.dag.yaml", models={})
    assert flow_content_hash(first, models={}).startswith("sha256:")


@pytest.mark.parametrize("change, changes_hash", [
    (("n.jinja2", "user:\nAnswer: {{q}}\n"), True),
    (("tools/helper.py", "X = 2\n"), True),
    (("requirements.txt", "requests==2.0\n"), True),
    (("README.md", "other docs\n"), False),
    (("data.jsonl", '{"q": "y"}\n'), False),
    (("__pycache__/n.cpython-311.pyc", "bytes"), False),
    ((".promptwise/runs.sqlite", "state"), False),
])
def test_content_hash_follows_behaviour_files_only(tmp_path, change, changes_hash):
    root = _flow(tmp_path)
    before = flow_content_hash(root, models={})
    name, text = change
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text, encoding="utf-8")
    assert (flow_content_hash(root, models={}) != before) is changes_hash


def test_content_hash_covers_additional_includes_and_models(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "common.py").write_text("A = 1\n", encoding="utf-8")
    root = _flow(tmp_path / "flow", {**FLOW, "flow.dag.yaml": FLOW["flow.dag.yaml"] + "additional_includes:\n- ../shared\n"})
    before = flow_content_hash(root, models={})
    (shared / "common.py").write_text("A = 2\n", encoding="utf-8")
    assert flow_content_hash(root, models={}) != before
    assert flow_content_hash(root, models={"default": "gpt-4o"}) != flow_content_hash(root, models={"default": "gpt-4o-mini"})


def test_content_hash_reads_the_workspace_default_model(tmp_path):
    root = _flow(tmp_path / "flow")
    (tmp_path / "promptwise.yaml").write_text("defaults: {model: gpt-4o-mini}\n", encoding="utf-8")
    mini = flow_content_hash(root)
    (tmp_path / "promptwise.yaml").write_text("defaults: {model: gpt-4o}\n", encoding="utf-8")
    assert flow_content_hash(root) != mini
    assert flow_content_hash(root) == flow_content_hash(root, models={"default": "gpt-4o"})


def test_serve_settings_hash_env_keys_and_name_consumers():
    settings = parse_serve_settings({"keys": [{"consumer": "portal", "key": "${env:K}"},
                                              {"consumer": "ops", "sha256": hashlib.sha256(b"ops-key").hexdigest()}],
                                     "limits": {"default": {"requests_per_minute": 10}}},
                                    "promptwise.yaml", environ={"K": "portal-key"})
    assert settings.consumer_for("portal-key") == "portal"
    assert settings.consumer_for("ops-key") == "ops"
    assert settings.consumer_for("other") is None and settings.consumer_for(None) is None
    assert "portal-key" not in repr(settings)
    assert settings.limits_for("anyone") == Limits(10, None)


@pytest.mark.parametrize("section, words", [
    ({"keys": [{"consumer": "a", "key": "literal-secret"}]}, ["${env:VAR}", "serve.keys[0]"]),
    ({"keys": [{"consumer": "a", "key": "${env:UNSET_VAR_X}"}]}, ["UNSET_VAR_X", "not set"]),
    ({"keys": [{"consumer": "a", "sha256": "abc"}]}, ["64 hex digits"]),
    ({"keys": [{"key": "${env:K}"}]}, ["consumer"]),
    ({"limits": {"a": {"requests_per_minute": 0}}}, ["requests_per_minute", "above 0"]),
    ({"limits": {"a": {"rpm": 5}}}, ["rpm", "not a limit"]),
    ({"timeout_seconds": -1}, ["timeout_seconds"]),
    ({"cors": "*"}, ["allow_origins"]),
    ({"max_body": 10}, ["serve.max_body", "not a setting"]),
])
def test_bad_serve_settings_name_the_setting(section, words):
    with pytest.raises(ServeConfigError) as caught:
        parse_serve_settings(section, "ws/promptwise.yaml", environ={"K": "k"})
    message = str(caught.value)
    assert message.startswith("ws/promptwise.yaml: ")
    for word in words:
        assert word in message
    assert "literal-secret" not in message


def test_rate_limiter_counts_requests_and_tokens_per_minute():
    limiter = RateLimiter()
    limits = Limits(requests_per_minute=2, tokens_per_minute=100)
    assert limiter.admit("a", limits, now=0.0) is None
    assert limiter.admit("a", limits, now=1.0) is None
    assert limiter.admit("a", limits, now=2.0) == pytest.approx(58.0)  # the first request leaves at 60 s
    assert limiter.admit("b", limits, now=2.0) is None  # per consumer
    assert limiter.admit("a", limits, now=60.5) is None
    limiter.spent("b", 150, limits, now=3.0)
    assert limiter.admit("b", limits, now=4.0) == pytest.approx(59.0)  # over tokens/min until the spend ages out


def test_workers_share_one_rate_limit_window(tmp_path):
    path = tmp_path / "rate-limits.sqlite"
    first, second = SharedRateLimiter(path), SharedRateLimiter(path)  # two workers' connections
    limits = Limits(requests_per_minute=3, tokens_per_minute=100)
    try:
        assert first.admit("a", limits, now=1000.2) is None
        assert second.admit("a", limits, now=1000.7) is None
        assert first.admit("a", limits, now=1001.0) is None
        # The limit is the consumer's, whichever worker counts: the 4th request waits until the
        # first second's two requests leave the window (at 1060).
        assert second.admit("a", limits, now=1002.0) == pytest.approx(58.0)
        assert first.admit("b", limits, now=1002.0) is None  # per consumer
        assert second.admit("a", limits, now=1060.0) is None
        first.spent("b", 150, limits, now=1003.0)
        assert second.admit("b", limits, now=1004.0) == pytest.approx(59.0)  # tokens count across workers too
        assert second.admit("c", Limits(), now=1004.0) is None  # no limit: nothing counted
    finally:
        first.close()
        second.close()


def test_a_locked_shared_window_never_makes_the_loop_wait(tmp_path):
    """Another worker holding the window's lock: the check says so at once (the server retries
    it off the loop's back), tokens are kept and written by the next check, none lost."""
    path = tmp_path / "rate-limits.sqlite"
    first, second = SharedRateLimiter(path), SharedRateLimiter(path)
    other = sqlite3.connect(path, isolation_level=None)  # a third worker, mid-transaction
    limits = Limits(requests_per_minute=100, tokens_per_minute=100)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(WindowBusy):
            first.admit("a", limits, now=1000.0)
        first.spent("a", 150, limits, now=1000.0)  # the lock is held: kept, not dropped
        other.execute("COMMIT")
        assert first.admit("b", limits, now=1001.0) is None  # the next check writes the kept tokens
        assert second.admit("a", limits, now=1002.0) == pytest.approx(58.0)  # and the other worker sees them
    finally:
        other.close()
        first.close()
        second.close()


def test_the_server_checks_a_locked_window_again_until_it_is_free(tmp_path):
    path = tmp_path / "rate-limits.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    serving = ServingApp.__new__(ServingApp)  # only what rate_check uses: the settings and the limiter
    serving.settings = ServeSettings(limits={"default": Limits(requests_per_minute=1)})
    serving.limiter = SharedRateLimiter(path)

    async def check() -> list:
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.02, other.execute, "COMMIT")  # the other worker finishes
        return [await serving.rate_check("a"), await serving.rate_check("a")]

    try:
        first, then = asyncio.run(check())
        assert first is None and then == pytest.approx(60.0, abs=1.0)  # admitted once free, then counted
    finally:
        other.close()
        serving.limiter.close()


def test_serve_without_the_extra_says_which_pip_install(monkeypatch, capsys, tmp_path):
    from promptwise.cli import main

    (tmp_path / "a.prompty").write_text("---\nmodel: {api: chat}\n---\nuser:\nhi\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the serve extra were not installed
    assert main(["serve", str(tmp_path / "a.prompty")]) == 2
    assert "pip install 'promptwise[serve]'" in capsys.readouterr().err


def test_serve_names_a_missing_flow(capsys, tmp_path):
    from promptwise.cli import main

    assert main(["serve", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "no such file" in err and "Traceback" not in err
