"""Document links (a node's source.path, a prompty's ${file:...}) and folding ranges (YAML
blocks, a prompty's front matter and role sections, Jinja blocks and comments)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.lsp.folding import jinja_ranges

from lsp_support import open_document, position_of


async def _links(client: LanguageClient, uri: str):
    return await client.text_document_document_link_async(
        types.DocumentLinkParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def _folds(client: LanguageClient, uri: str) -> set[tuple[int, int]]:
    ranges = await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return {(r.start_line, r.end_line) for r in ranges or []}


async def test_flow_links_to_node_sources(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("path: summarize.jinja2", "path: missing.jinja2")
    uri = open_document(client, path, text)
    links = await _links(client, uri)
    assert [(link.target, link.range.start) for link in links] == [
        ((workspace / "lookup.py").as_uri(), position_of(text, "lookup.py")),
        ((workspace / "classify.jinja2").as_uri(), position_of(text, "classify.jinja2")),
    ]  # a missing file is not a link (its diagnostic says so)
    assert links[0].range.end.character - links[0].range.start.character == len("lookup.py")


async def test_flex_flow_links_to_its_entry_module(client: LanguageClient, tmp_path: Path):
    from lsp_support import copy_workspace

    root = copy_workspace("flex", tmp_path)
    path = root / "flow.flex.yaml"
    uri = open_document(client, path)
    (link,) = await _links(client, uri)
    assert link.target == (root / "triage" / "app.py").as_uri()
    text = path.read_text()
    assert link.range.start == position_of(text, "triage.app")
    assert link.range.end.character - link.range.start.character == len("triage.app")


async def test_prompty_links_to_file_substitutions(client: LanguageClient, workspace: Path):
    (workspace / "sample.json").write_text('{"question": "Is it covered?"}\n')
    path = workspace / "answer.prompty"
    text = path.read_text().replace("sample:\n  question: Is water damage from a burst pipe covered?", "sample: ${file:sample.json}")
    uri = open_document(client, path, text)
    (link,) = await _links(client, uri)
    assert link.target == (workspace / "sample.json").as_uri()
    assert link.range.start == position_of(text, "sample.json")


async def test_flow_folding(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    lines = text.split("\n")
    uri = open_document(client, path)
    folds = await _folds(client, uri)
    nodes = lines.index("nodes:")
    assert (nodes, len(lines) - 2) in folds  # the whole nodes list (the file ends with a newline)
    lookup = lines.index("- name: lookup")
    assert (lookup, lines.index("- name: classify") - 1) in folds  # one node
    assert (lines.index("inputs:"), lines.index("outputs:") - 1) in folds
    log_text = lines.index("  log_text:")
    assert (log_text, log_text + 2) in folds  # an input: type and default


async def test_prompty_folding(client: LanguageClient, workspace: Path):
    path = workspace / "answer.prompty"
    lines = path.read_text().split("\n")
    uri = open_document(client, path)
    folds = await _folds(client, uri)
    closing = lines.index("---", 1)
    assert (0, closing) in folds  # the front matter, `---` to `---`
    assert (lines.index("model:"), lines.index("inputs:") - 1) in folds
    system = lines.index("system:")
    assert (system, lines.index("user:") - 2) in folds or (system, lines.index("user:") - 1) in folds


async def test_template_folding(client: LanguageClient, workspace: Path):
    path = workspace / "classify.jinja2"
    lines = path.read_text().split("\n")
    uri = open_document(client, path)
    folds = await _folds(client, uri)
    start = next(i for i, line in enumerate(lines) if line.startswith("{% for"))
    assert folds == {(start, start + 1)}  # the loop's body; `{% endfor %}` stays visible


def test_jinja_ranges_nest_and_skip_inline_tags():
    text = (
        "{# a\ncomment #}\n"  # 0-1
        "{% macro m(x) %}\n"  # 2
        "{% if x %}\n"  # 3
        "  {{ x }}\n"  # 4
        "{% else %}\n"  # 5
        "  none\n"  # 6
        "{% endif %}\n"  # 7
        "{% endmacro %}\n"  # 8
        "{% set y = 1 %}{% if y %}one{% endif %}\n"  # 9: assignments and one-line blocks do not fold
        "{% for i in r %}\n{% endfor %}\n"  # 10-11: nothing inside
    )
    assert sorted(jinja_ranges(text, first_line=10)) == [
        (10, 11, types.FoldingRangeKind.Comment),
        (12, 17, None),
        (13, 16, None),
    ]


def test_jinja_ranges_of_unclosed_tags_are_none():
    # a scan that never revisits text (a regex took 70 s on this)
    assert jinja_ranges("{% a " * 20000) == [] and jinja_ranges("{# " * 20000) == []
    assert jinja_ranges("{% if x %}\n{# note\n#}\n{% endif") == [(1, 2, types.FoldingRangeKind.Comment)]
