"""Renaming a flow input renames the data columns and eval.yaml references that feed it,
or warns when a dataset cannot be rewritten."""

from __future__ import annotations

import json
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.lsp.rename_feeds import feed_edits

from lsp_support import open_document, position_of, wait_for_publish

EVAL = """data: data.jsonl
evaluators:
  - name: match
    type: exact_match
    inputs: {prediction: ${run.outputs.category}, reference: ${data.expected}}
  - name: echo
    type: exact_match
    inputs: {prediction: ${run.inputs.log_text}, reference: ${data.log_text}}
"""
ROWS = [
    {"log_text": "Disk full", "language": "en", "expected": "storage", "meta": {"log_text": "nested, not a column"}},
    {"language": "de", "log_text": "Platte voll", "expected": "storage"},
]


def _apply(text: str, edits) -> str:
    lines = text.split("\n")
    for range_, new in sorted(edits, key=lambda e: (e[0].start.line, e[0].start.character), reverse=True):
        line = lines[range_.start.line]
        lines[range_.start.line] = line[: range_.start.character] + new + line[range_.end.character :]
    return "\n".join(lines)


def _project(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "flow.dag.yaml").write_text("inputs:\n  log_text: {type: string}\nnodes: []\n")
    (root / "eval.yaml").write_text(EVAL)
    (root / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    (root / "extra.csv").write_text('language,"log_text",expected\nen,Disk full,storage\n')
    return root / "flow.dag.yaml"


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def test_columns_and_eval_references_are_renamed(tmp_path):
    flow = _project(tmp_path / "p")
    found = feed_edits(flow, "log_text", "log", _read)
    assert found.warnings == []
    renamed = {path.name: _apply(_read(path), edits) for path, edits in found.edits.items()}
    rows = [json.loads(line) for line in renamed["data.jsonl"].splitlines()]
    assert [sorted(row) for row in rows] == [["expected", "language", "log", "meta"], ["expected", "language", "log"]]
    assert rows[0]["meta"] == {"log_text": "nested, not a column"}  # only top-level keys are columns
    assert renamed["extra.csv"].splitlines()[0] == "language,log,expected"
    assert "${run.inputs.log}" in renamed["eval.yaml"] and "${data.log}" in renamed["eval.yaml"]
    assert "log_text" not in renamed["eval.yaml"]


def test_a_mapped_input_keeps_its_column(tmp_path):
    flow = _project(tmp_path / "p")
    (flow.parent / "eval.yaml").write_text(EVAL + "column_mapping:\n  log_text: ${data.expected}\n")
    found = feed_edits(flow, "log_text", "log", _read)
    assert set(path.name for path in found.edits) == {"eval.yaml"}
    text = _apply(_read(flow.parent / "eval.yaml"), found.edits[flow.parent / "eval.yaml"])
    assert "  log: ${data.expected}" in text and "${run.inputs.log}" in text and "${data.log_text}" in text


def test_datasets_that_cannot_be_rewritten_are_warned_about(tmp_path):
    flow = _project(tmp_path / "p")
    (flow.parent / "data.jsonl").write_text('{"log_text": "a", "log": "b"}\n')
    (flow.parent / "broken.jsonl").write_text('{"log_text": "a"}\n{not json\n')
    found = feed_edits(flow, "log_text", "log", _read)
    assert {path.name for path in found.edits} == {"extra.csv", "eval.yaml"}
    eval_text = _apply(_read(flow.parent / "eval.yaml"), found.edits[flow.parent / "eval.yaml"])
    assert "${run.inputs.log}" in eval_text and "${data.log_text}" in eval_text  # its data kept the column
    assert len(found.warnings) == 2
    assert any("data.jsonl" in w and "already has a column `log`" in w for w in found.warnings)
    assert any("broken.jsonl line 2" in w for w in found.warnings)


async def test_rename_in_the_editor_edits_data_and_eval(client: LanguageClient, workspace: Path):
    (workspace / "eval.yaml").write_text(EVAL)
    (workspace / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    (workspace / "big.jsonl").write_text('{"log_text": "x"}\n' * 200_000)  # beyond what the server edits
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    uri = open_document(client, path)
    await wait_for_publish(client, uri)
    edit = await client.text_document_rename_async(
        types.RenameParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position_of(text, "log_text:"),
            new_name="log",
        )
    )
    assert set(edit.changes) == {uri, (workspace / "eval.yaml").as_uri(), (workspace / "data.jsonl").as_uri()}
    assert len(edit.changes[(workspace / "data.jsonl").as_uri()]) == 2
    assert {e.new_text for e in edit.changes[(workspace / "eval.yaml").as_uri()]} == {"log"}
    (message,) = client.messages  # sent before the answer
    assert message.type == types.MessageType.Warning and "big.jsonl" in message.message


def test_a_prompty_renames_only_its_own_dataset(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    prompty = folder / "answer.prompty"
    prompty.write_text("---\ninputs:\n  question: {type: string}\n---\nuser: {{ question }}\n")
    (folder / "answer.data.jsonl").write_text('{"question": "a"}\n')
    (folder / "other.data.jsonl").write_text('{"question": "b"}\n')  # another prompt's data
    (folder / "eval.yml").write_text("data: answer.data.jsonl\nevaluators:\n  - {name: q, type: contains, inputs: {text: ${data.question}}}\n")
    found = feed_edits(prompty, "question", "query", _read)
    assert {path.name for path in found.edits} == {"answer.data.jsonl", "eval.yml"}
    assert _apply(_read(folder / "eval.yml"), found.edits[folder / "eval.yml"]).count("${data.query}") == 1
