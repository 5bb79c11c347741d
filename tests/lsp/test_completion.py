"""Completion: references, node inputs from the tool or template, schema keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.lsp.completion import jinja_word

from lsp_support import open_document, position_of, span


async def _complete(client: LanguageClient, uri: str, position: types.Position) -> list[types.CompletionItem]:
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
    )
    assert result is not None
    items = result.items if isinstance(result, types.CompletionList) else result
    return sorted(items, key=lambda item: item.sort_text or item.label)


def _labels(items) -> list[str]:
    return [item.label for item in items]


async def test_flow_inputs_after_inputs_dot(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("    limit: 3", "    limit: ${inputs.lo}")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, types.Position(line=23, character=22))
    assert _labels(items) == ["log_text", "language"]
    assert items[0].detail == "string"
    # the partial word `lo` is replaced
    assert items[0].text_edit == types.TextEdit(range=span((23, 20), (23, 22)), new_text="log_text")


async def test_node_names_after_dollar_brace(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("    limit: 3", "    limit: ${}")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, types.Position(line=23, character=13))
    # neither the node being edited (lookup) nor the nodes that read it (classify, and
    # summarize through classify): referring to them would close a cycle
    assert _labels(items) == ["inputs"]


async def test_node_names_offered_are_upstream_or_unrelated(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("    language: ${inputs.language}", "    language: ${}")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "language: ${}", offset=len("language: ${")))
    assert _labels(items) == ["inputs", "lookup", "classify"]
    assert items[2].detail == "llm node"
    # from classify: summarize reads classify, so only lookup
    text = path.read_text().replace("    log: ${inputs.log_text}\n    examples", "    log: ${}\n    examples")
    uri = open_document(client, path, text, version=2)
    items = await _complete(client, uri, position_of(text, "log: ${}", offset=len("log: ${")))
    assert _labels(items) == ["inputs", "lookup"]


async def test_output_keys_of_a_python_tool(client: LanguageClient, workspace: Path):
    tool = workspace / "lookup.py"
    open_document(
        client, tool, tool.read_text().replace("return scored[:limit]", 'return {"examples": scored[:limit], "count": len(scored)}')
    )
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("examples: ${lookup.output}", "examples: ${lookup.output.}")
    uri = open_document(client, path, text)
    position = position_of(text, "${lookup.output.", offset=len("${lookup.output."))
    assert _labels(await _complete(client, uri, position)) == ["examples", "count"]


async def test_section_after_node_name(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("examples: ${lookup.output}", "examples: ${lookup.}")
    uri = open_document(client, path, text)
    position = position_of(text, "${lookup.", offset=len("${lookup."))
    assert _labels(await _complete(client, uri, position)) == ["output"]


async def test_python_node_inputs_come_from_the_function(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("    limit: 3\n", "    li\n")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, types.Position(line=23, character=6))
    assert _labels(items) == ["limit"]  # `text` is already there
    assert items[0].detail == "limit: int = 2"
    assert items[0].text_edit == types.TextEdit(range=span((23, 4), (23, 6)), new_text="limit: ")


async def test_llm_node_inputs_come_from_the_template(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("    language: ${inputs.language}\n", "    \n")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, types.Position(line=44, character=4))
    labels = _labels(items)
    assert labels[0] == "language"  # the template's missing variable comes first
    assert items[0].detail == "variable of summarize.jinja2"
    assert "temperature" in labels and "max_tokens" in labels
    assert "deployment_name" not in labels and "log" not in labels  # already supplied


async def test_node_keys_from_the_schema(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("  api: chat\n- name: summarize", "  api: chat\n  \n- name: summarize")
    uri = open_document(client, path, text)
    labels = _labels(await _complete(client, uri, types.Position(line=35, character=2)))
    assert "activate" in labels and "aggregation" in labels and "use_variants" in labels
    for present in ("name", "type", "source", "inputs", "connection", "api"):
        assert present not in labels


async def test_top_level_keys(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("nodes:\n", "node_\nnodes:\n", 1)
    uri = open_document(client, path, text)
    items = await _complete(client, uri, types.Position(line=15, character=5))
    labels = _labels(items)
    assert "node_variants" in labels and "environment" in labels
    assert "nodes" not in labels and "inputs" not in labels and "outputs" not in labels
    variants = next(item for item in items if item.label == "node_variants")
    assert variants.text_edit == types.TextEdit(range=span((15, 0), (15, 5)), new_text="node_variants: ")


async def test_values_of_a_fixed_choice_key(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("  type: llm\n  source:\n    type: code\n    path: classify", "  type: \n  source:\n    type: code\n    path: classify")
    uri = open_document(client, path, text)
    assert _labels(await _complete(client, uri, types.Position(line=25, character=8))) == [
        "llm",
        "python",
        "prompt",
        "custom_llm",
    ]
    assert _labels(await _complete(client, uri, types.Position(line=27, character=10))) == [
        "code",
        "package",
        "package_with_prompt",
    ]


async def test_model_names_for_llm_node_inputs(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("    deployment_name: gpt-4o-mini\n    log: ${inputs.log_text}\n    examples",
                                    "    deployment_name: gpt-4o-m\n    log: ${inputs.log_text}\n    examples")
    text = text.replace("    deployment_name: gpt-4o-mini\n    log: ${inputs.log_text}\n    category", "    model: \n    log: ${inputs.log_text}\n    category")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "gpt-4o-m\n", offset=len("gpt-4o-m")))
    labels = _labels(items)
    assert "gpt-4o-mini" in labels and not any(label.startswith("azure/") for label in labels)
    chosen = next(item for item in items if item.label == "gpt-4o-mini")
    assert chosen.text_edit.range == span((30, 21), (30, 29))  # the partial name is replaced
    assert "per 1M tokens" in chosen.detail
    items = await _complete(client, uri, position_of(text, "    model: ", offset=len("    model: ")))
    assert "gpt-4o-mini" in _labels(items)


async def test_api_values_of_an_llm_node(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("  api: chat\n- name: summarize", "  api: \n- name: summarize")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "  api: \n", offset=len("  api: ")))
    assert _labels(items) == ["chat", "completion"]


async def test_prompty_models_and_api(client: LanguageClient, workspace: Path):
    path = workspace / "answer.prompty"
    text = path.read_text().replace("    model: gpt-4o-mini", "    model: gpt-4").replace("  api: chat", "  api: c")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "model: gpt-4\n", offset=len("model: gpt-4")))
    assert {"gpt-4o", "gpt-4o-mini"} <= set(_labels(items))
    items = await _complete(client, uri, position_of(text, "api: c", offset=len("api: c")))
    assert _labels(items) == ["chat", "completion"]


async def test_prompty_spec_model_id(client: LanguageClient, workspace: Path):
    path = workspace / "spec.prompty"
    text = "---\nname: x\nmodel:\n  id: \n  provider: openai\ninputs:\n  - name: q\n---\nuser: {{ q }}\n"
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "  id: ", offset=len("  id: ")))
    assert "gpt-4o-mini" in _labels(items)


async def test_jinja_variables_in_a_template(client: LanguageClient, workspace: Path):
    path = workspace / "classify.jinja2"
    text = path.read_text().replace("{{ log }}", "{{ lo }}\n{% if ex")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "{{ lo", offset=len("{{ lo")))
    # the inputs of the node that uses the template (not its llm settings), then its own
    assert _labels(items)[:2] == ["log", "examples"] and "deployment_name" not in _labels(items)
    assert items[0].text_edit.range == span((9, 3), (9, 5))
    items = await _complete(client, uri, position_of(text, "{% if ex", offset=len("{% if ex")))
    assert "examples" in _labels(items)
    # outside `{{ }}` nothing is offered
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=3))
    )
    assert result is None or not (result.items if isinstance(result, types.CompletionList) else result)


async def test_jinja_variables_in_a_prompty_body(client: LanguageClient, workspace: Path):
    path = workspace / "answer.prompty"
    text = path.read_text().replace("{{ question }}", "{{ question }} {{ ")
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "}} {{ ", offset=len("}} {{ ")))
    assert _labels(items) == ["question", "policy"]
    assert items[0].detail == "input · string"


async def test_a_variant_is_not_offered_its_own_node_or_readers(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    start, end = text.index("- name: classify"), text.index("- name: summarize")
    text = (
        text[:start] + "- name: classify\n  use_variants: true\n" + text[end:]
        + "node_variants:\n  classify:\n    default_variant_id: v0\n    variants:\n      v0:\n        node:\n"
        + "          type: llm\n          source: {type: code, path: classify.jinja2}\n"
        + "          inputs:\n            log: ${}\n"
    )
    uri = open_document(client, path, text)
    items = await _complete(client, uri, position_of(text, "log: ${}", offset=len("log: ${")))
    assert _labels(items) == ["inputs", "lookup"]  # not classify itself, not summarize (reads classify)


@pytest.mark.parametrize(
    "prefix, word",
    [
        ("{{ lo", "lo"),
        ("{{", ""),
        ("x {{ a }} {{ b", "b"),
        ("{% if ex", "ex"),
        ("{{ a }} lo", None),  # closed
        ("{{ item.na", None),  # an attribute
        ("plain text", None),
        ("{{" * 16000 + ".", None),  # linear: a backtracking regex took 40 s here
        ("{{ a " * 8000 + ".", None),
    ],
    ids=["open", "empty", "second", "statement", "closed", "attribute", "none", "braces", "many"],
)
def test_jinja_word(prefix, word):
    assert jinja_word(prefix) == word
