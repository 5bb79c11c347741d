"""What the analysis keeps between edits stays bounded (issue 9 part 3): typing in a large
template keeps one version of it, not one per keystroke, and closing the file frees it."""

from __future__ import annotations

from pathlib import Path

from promptwise.analysis import analyzer, secrets
from promptwise.analysis.analyzer import analyze, release
from promptwise.documents import render
from promptwise.documents.load import load_document

HEAD = "---\nname: big\nmodel:\n  api: chat\n  configuration:\n    type: openai\n    model: gpt-4o-mini\n---\n"


def _big_body(version: int) -> str:
    return "system:\n" + ("You answer questions about the policy. " * 2500) + f"(version {version})\nuser:\n{{{{question}}}}\n"


def _compiled_texts() -> set[str]:
    return {text for text, _ in render._COMPILED}


def test_typing_in_a_large_prompty_keeps_one_compiled_version_and_closing_frees_it(tmp_path: Path):
    path = tmp_path / "big.prompty"
    bodies = [_big_body(version) for version in range(6)]
    for body in bodies:  # each keystroke is a new version of a 100 KB prompt
        analyze(path, HEAD + body)
    kept = _compiled_texts()
    assert bodies[-1] in kept  # the current version stays compiled for the next analysis
    assert not kept & set(bodies[:-1])  # earlier versions are gone
    release(path)
    assert not _compiled_texts() & set(bodies)
    assert path not in analyzer._RESULTS


def test_compiled_templates_are_bounded_by_total_length(monkeypatch):
    monkeypatch.setattr(render, "COMPILED_MAX_CHARS", 50_000)
    render.forget_compiled(list(_compiled_texts()))
    for index in range(30):
        render.render_template(f"{index} " + "x" * 9_000 + " {{ a }}", {"a": 1})
    entries, characters = render.compiled_cache_size()
    assert 0 < characters <= 50_000
    assert entries <= 6
    assert render.render_template("29 " + "x" * 9_000 + " {{ a }}", {"a": 2}).endswith(" 2")


def test_a_template_larger_than_the_budget_renders_but_is_not_kept(monkeypatch):
    monkeypatch.setattr(render, "COMPILED_MAX_CHARS", 1_000)
    huge = "y" * 5_000 + "{{ a }}"
    assert render.render_template(huge, {"a": "!"}).endswith("!")
    assert huge not in _compiled_texts()


def test_secret_scans_keep_one_version_per_file_and_forget_frees_it(tmp_path: Path):
    tool = tmp_path / "tool.py"
    for version in range(20):
        document = load_document(tool, f"API_KEY = 'sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ01234567{version:02d}'\n")
        assert [p.code for p in secrets._cached_document_secrets(document)] == ["PW601"]
    kept = [key for key in secrets._SCANNED if key == str(tool)]
    assert kept == [str(tool)]
    secrets.forget(tool)
    assert str(tool) not in secrets._SCANNED


def test_secret_scans_are_bounded_by_total_length(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(secrets, "SCANNED_MAX_CHARS", 30_000)
    for index in range(10):
        document = load_document(tmp_path / f"tool{index}.py", "x = 1\n" + "# padding\n" * 1_000)
        secrets._cached_document_secrets(document)
    total = sum(len(document.text) for document, _ in secrets._SCANNED.values())
    assert 0 < total <= 30_000


KEY = "sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789"  # not a real key


def _flow(nodes: int, key_node: int, extra_line: bool = False) -> str:
    lines = ["inputs:", "  question: {type: string}", "nodes:"]
    for index in range(nodes):
        if extra_line and index == 1:
            lines.append("# a comment that moves every later node down a line")
        lines += [f"- name: n{index}", "  type: python", "  source: {type: code, path: tool.py}", "  inputs:"]
        lines.append(f"    api_key: {KEY}" if index == key_node else "    text: ${inputs.question}")
    return "\n".join(lines) + "\n"


def _scan(text: str, tmp_path: Path, fresh: bool):
    from promptwise.documents.yaml_nodes import parse_yaml

    if fresh:
        secrets._ITEM_SCANS.clear()
    found = secrets.scan_yaml(tmp_path / "flow.dag.yaml", text, parse_yaml(text).root)
    return [(p.code, p.range, p.message) for p in found]


def test_node_scans_kept_between_edits_give_what_a_fresh_scan_gives(tmp_path: Path):
    """Each node's scan is reused while its text and place are unchanged; edits elsewhere,
    edits of the node itself and edits that move it all give a fresh scan's answer."""
    versions = [
        _flow(8, key_node=5),
        _flow(8, key_node=5).replace("- name: n2", "- name: n2b"),  # another node edited
        _flow(8, key_node=6),  # the key moves to another node
        _flow(8, key_node=6, extra_line=True),  # every later node moves down a line
        _flow(8, key_node=6).replace("  type: python\n", "  type: python\n  # moved\n", 1),
    ]
    for text in versions:
        incremental = _scan(text, tmp_path, fresh=False)
        assert incremental == _scan(text, tmp_path, fresh=True)
        assert [code for code, _, _ in incremental] == ["PW601"]
    assert secrets._ITEM_SCANS  # the node scans were kept
    secrets.forget(tmp_path / "flow.dag.yaml")
    assert not any(key[0] == str(tmp_path / "flow.dag.yaml") for key in secrets._ITEM_SCANS)
