"""flow.flex.yaml and .prompty problems, unreadable files, and the analysis entry points."""

from __future__ import annotations

import pytest

from promptwise.analysis import analyze, check_paths, dependents, register_checker, unregister_checker
from promptwise.analysis.problem import Problem, Severity
from promptwise.documents.source import Range

from analysis_helpers import covered, tool_source

FLEX = "entry: chat:answer\ninputs:\n  question:\n    type: string\nsample:\n  question: hi\n"


def test_flex_flow_clean(project):
    _, problems = project.analyze("flow.flex.yaml", FLEX, {"chat.py": "def answer(question: str) -> str:\n    return question\n"})
    assert problems == []


@pytest.mark.parametrize(
    "text, code, token",
    [
        (FLEX.replace("chat:answer", "chat.answer"), "PW106", "chat.answer"),
        (FLEX.replace("chat:answer", "chta:answer"), "PW301", "chta"),
        (FLEX.replace("entry: chat:answer\n", ""), "PW105", "inputs"),
        (FLEX.replace("    type: string", "    type: strin"), "PW106", "strin"),
        (FLEX.replace("sample:", "smaple:"), "PW103", "smaple"),
        (FLEX.replace("sample:\n  question: hi\n", "sample: ${file:sampel.json}\n"), "PW301", "sampel.json"),
    ],
)
def test_flex_flow_problems(project, text, code, token):
    _, problems = project.analyze("flow.flex.yaml", text, {"chat.py": "def answer(question: str) -> str:\n    return question\n"})
    matching = [p for p in problems if p.code == code]
    assert matching, [(p.code, p.message) for p in problems]
    assert covered(text, matching[0].range) == token


PROMPTY = """\
---
name: helper
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-4o-mini
    azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}
    api_key: ${env:AZURE_OPENAI_API_KEY}
  parameters:
    max_tokens: 100
inputs:
  question:
    type: string
sample: ${file:sample.json}
---
system:
You help.
user:
{{question}}
"""


def test_prompty_clean(project):
    _, problems = project.analyze("helper.prompty", PROMPTY, {"sample.json": '{"question": "hi"}'})
    assert problems == []


@pytest.mark.parametrize(
    "old, new, code, token, severity",
    [
        ("  parameters:", "  paramters:", "PW103", "paramters", Severity.WARNING),
        ("api: chat", "api: chatt", "PW106", "chatt", Severity.ERROR),
        ("${file:sample.json}", "${file:sampel.json}", "PW301", "sampel.json", Severity.ERROR),
        ("    max_tokens: 100", "    max_tokens: 100\n  - x", "PW101", "-", Severity.ERROR),
    ],
)
def test_prompty_problems(project, old, new, code, token, severity):
    text = PROMPTY.replace(old, new)
    _, problems = project.analyze("helper.prompty", text, {"sample.json": "{}"})
    matching = [p for p in problems if p.code == code]
    assert matching, [(p.code, p.message) for p in problems]
    assert covered(text, matching[0].range) == token
    assert matching[0].severity is severity


def test_prompty_spec_shape_is_clean(project):
    text = """---
name: spec
model:
  id: gpt-4o-mini
  provider: openai
  apiType: chat
  connection: {kind: key, key: "${env:OPENAI_API_KEY}"}
  options: {temperature: 0}
inputs:
  - name: topic
    kind: string
    sample: cats
template:
  format: jinja2
  parser: prompty
---
user:
Tell me about {{topic}}.
"""
    _, problems = project.analyze("spec.prompty", text)
    assert problems == []


@pytest.mark.parametrize(
    "name, content, code",
    [
        ("flow.dag.yaml", b"\x00\x00binary\x00", "PW100"),
        ("flow.dag.yaml", b"inputs:\n  a: \xc3\x28\n", "PW100"),
        ("flow.dag.yaml", b"", "PW105"),
        ("x.prompty", b"", "PW105"),
        ("flow.flex.yaml", b"   \n\n", "PW105"),
        ("flow.dag.yaml", b"[" * 50_000, "PW101"),
        ("flow.dag.yaml", b"a:\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 200)), "PW101"),
        ("flow.dag.yaml", b"- " * 30_000, "PW101"),
        ("flow.dag.yaml", b"a: &a [*a, *a]\n", "PW101"),
        ("flow.dag.yaml", b"inputs: \"\x01\"\n", "PW101"),
    ],
)
def test_bad_files_give_problems_not_tracebacks(tmp_path, name, content, code):
    path = tmp_path / name
    path.write_bytes(content)
    problems = analyze(path)
    assert code in [p.code for p in problems], [(p.code, p.message) for p in problems]
    assert "PW000" not in [p.code for p in problems]


def test_alias_expansion_is_bounded(tmp_path):
    """YAML aliases can make a small file describe billions of nodes; we stop early."""
    count = 3000
    lines = ["x: &v {node: {type: python, source: {type: code, path: a.py}}}", "y: &w", "  default_variant_id: v0", "  variants:"]
    lines += [f"    v{i}: *v" for i in range(count)]
    lines += ["node_variants:"] + [f"  n{i}: *w" for i in range(count)]
    path = tmp_path / "flow.dag.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems = analyze(path)
    # refused while parsing, at the alias that passes the expansion bound (yaml_nodes.py)
    assert any(p.code == "PW101" and "alias" in p.message for p in problems), problems
    assert "PW000" not in {p.code for p in problems}


def test_five_megabyte_yaml_is_refused_quickly(tmp_path):
    path = tmp_path / "flow.dag.yaml"
    path.write_text("nodes:\n" + "- name: n\n  type: python\n" * 200_000)
    [problem] = analyze(path)
    assert problem.code == "PW100" and "too large" in problem.message


def test_unreadable_file(tmp_path):
    path = tmp_path / "flow.dag.yaml"
    path.write_text("inputs: {}\n")
    path.chmod(0)
    try:
        problems = analyze(path)
    finally:
        path.chmod(0o644)
    import os

    if os.geteuid() == 0:  # root reads anything; the permission case cannot happen here
        assert all(p.code != "PW000" for p in problems)
    else:
        assert [p.code for p in problems] == ["PW100"]


def test_check_paths_discovers_and_skips(tmp_path):
    for folder in ("a", "a/.venv/lib", "a/node_modules/x", "b"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "a/flow.dag.yaml").write_text("inputs: {q: {type: strin}}\n")
    (tmp_path / "a/.venv/lib/flow.dag.yaml").write_text("bad: [\n")
    (tmp_path / "a/node_modules/x/x.prompty").write_text("")
    (tmp_path / "b/p.prompty").write_text("")
    problems = check_paths([tmp_path, tmp_path / "missing"])
    assert sorted({(p.path.name, p.code) for p in problems}) == [
        ("flow.dag.yaml", "PW106"),
        ("flow.dag.yaml", "PW206"),
        ("missing", "PW100"),
        ("p.prompty", "PW105"),
    ]


def test_overlay_text_is_used_for_neighbours(project):
    flow = "inputs: {}\noutputs:\n  o: {type: string, reference: '${t.output}'}\nnodes:\n- name: t\n  type: python\n  source: {type: code, path: t.py}\n  inputs: {}\n"
    path, problems = project.analyze("flow.dag.yaml", flow, {"t.py": tool_source("t", "")})
    assert problems == []
    tool = project.root / "t.py"
    # the editor has a tool that is not written to disk yet
    (project.root / "t.py").unlink()
    assert [p.code for p in analyze(path)] == ["PW301"]
    assert analyze(path, overlay={str(tool): tool_source("t", "")}) == []


def test_dependents_finds_flows_using_a_file(project):
    flow = "inputs: {}\noutputs:\n  o: {type: string, reference: '${t.output}'}\nnodes:\n- name: t\n  type: python\n  source: {type: code, path: tools/t.py}\n  inputs: {}\n"
    path = project.write("flow.dag.yaml", flow)
    project.write("tools/t.py", tool_source("t", ""))
    # found before any analysis (by reading the flows next to and above the file) ...
    assert dependents(project.root / "tools/t.py") == [path]
    analyze(path)
    # ... and after it (from what the analysis consulted)
    assert dependents(project.root / "tools/t.py") == [path]
    assert dependents(project.root / "other.py") == []


def test_cached_result_follows_dependency_changes(project):
    flow = "inputs: {}\noutputs:\n  o: {type: string, reference: '${t.output}'}\nnodes:\n- name: t\n  type: python\n  source: {type: code, path: t.py}\n  inputs: {}\n"
    path, problems = project.analyze("flow.dag.yaml", flow)
    assert [p.code for p in problems] == ["PW301"]
    project.write("t.py", tool_source("t", ""))
    assert analyze(path) == []


def test_register_checker_and_failures_are_contained(project):
    def extra(document):
        return [Problem(document.path, Range.empty(0, 0), Severity.INFORMATION, "PW799", "extra; ok")]

    def broken(document, context):
        raise RuntimeError("boom")

    register_checker(extra)
    register_checker(broken)
    try:
        _, problems = project.analyze("flow.dag.yaml", "inputs: {}\n")
        codes = [p.code for p in problems]
        assert "PW799" in codes
        [internal] = [p for p in problems if p.code == "PW000"]
        assert "boom" in internal.message and internal.severity is Severity.WARNING
    finally:
        unregister_checker(extra)
        unregister_checker(broken)
    assert [p.code for p in analyze(project.root / "flow.dag.yaml")] == []


def test_concurrent_analysis_is_consistent(tmp_path, monkeypatch):
    """The language server analyzes from worker threads; caches must survive that."""
    from concurrent.futures import ThreadPoolExecutor

    from promptwise.documents import load

    monkeypatch.setattr(load, "_CACHE_SIZE", 3)  # force constant eviction
    paths = []
    for i in range(6):
        path = tmp_path / f"f{i}" / "flow.dag.yaml"
        path.parent.mkdir()
        path.write_text(f"inputs:\n  q{i}: {{type: string}}\noutputs: {{}}\nnodes: []\n")
        paths.append(path)
    expected = {path: [(p.code, p.message) for p in analyze(path)] for path in paths}

    def run(index: int):
        path = paths[index % len(paths)]
        text = path.read_text() + f"# {index % 3}\n"
        return path, [(p.code, p.message) for p in analyze(path, text)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, found in pool.map(run, range(400)):
            assert found == expected[path]


def test_known_keys_for_completion():
    from promptwise.analysis.schema import FLOW_DAG, PROMPTY_PROMPTFLOW, known_keys

    assert "activate" in known_keys(FLOW_DAG, ["nodes", "*"])
    assert known_keys(FLOW_DAG, ["nodes", "*", "source"]) == ["path", "tool", "type"]
    assert "is_chat_input" in known_keys(FLOW_DAG, ["inputs", "question"])
    assert "azure_deployment" in known_keys(PROMPTY_PROMPTFLOW, ["model", "configuration"])
    assert known_keys(FLOW_DAG, ["nodes", "*", "inputs"]) == []


def test_dependents_of_a_prompty_sample_file(project):
    prompty = project.write("p.prompty", "---\nname: p\nsample: ${file:data/sample.json}\n---\nuser:\nhi\n")
    project.write("data/sample.json", "{}")
    assert dependents(project.root / "data" / "sample.json") == [prompty]


def test_settings_change_invalidates_cached_results(project):
    calls = []

    def counting(document):
        calls.append(document.path)
        return []

    register_checker(counting)
    try:
        path, _ = project.analyze("flow.dag.yaml", "inputs: {}\n")
        analyze(path)
        assert len(calls) == 1  # the second call came from the cache
        project.write("promptwise.yaml", "defaults: {model: gpt-4o}\n")
        analyze(path)
        assert len(calls) == 2
    finally:
        unregister_checker(counting)
