"""Editor estimates: per llm node / prompty, lens and hover text, totals, PW7xx problems."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from promptwise.analysis.problem import Severity
from promptwise.config import load_workspace
from promptwise.costing.calls import format_usd
from promptwise.costing.catalog import CATALOG_PATH
from promptwise.costing.counting import count_chat
from promptwise.costing.estimate import clear_cache, estimate_document
from promptwise.costing.flow_calls import LLM_PARAMETERS
from promptwise.documents.load import load_document
from promptwise.documents.render import render_messages

from costing_samples import CLASSIFY, FLOW, PROMPTY, make_flow

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

def estimate(path: Path, **kwargs):
    return estimate_document(load_document(path), load_workspace(path), **kwargs)


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def price(model: str, input_tokens: int, output_tokens: int) -> float:
    entry = CATALOG["models"][model]
    return (input_tokens * entry["input_per_1m"] + output_tokens * entry["output_per_1m"]) / 1e6


def test_flow_items_count_the_rendered_prompt(tmp_path):
    path = make_flow(tmp_path)
    result = estimate(path)
    assert [item.node for item in result.items] == ["classify", "summarise"]
    classify, summarise = result.items
    expected_messages = render_messages(CLASSIFY, {"categories": ["billing", "bug", "other"],
                                                   "ticket": "My invoice for March is wrong — 請幫忙 🙏"})
    expected_tokens = count_chat(expected_messages, "o200k_base").total
    assert classify.estimate.input_tokens == expected_tokens
    assert classify.estimate.output_bound == 50
    assert classify.cost_per_call == pytest.approx(price("gpt-4o-mini", expected_tokens, 50))
    assert classify.lens_text == (f"≈ {expected_tokens:,} tokens in · ≤ 50 out · {format_usd(classify.cost_per_call)} "
                                  f"per call · {format_usd(classify.cost_per_call * 1000)} per 1k calls")
    assert classify.catalog_entry == "gpt-4o-mini" and classify.catalog_origin == f"catalog {CATALOG['as_of']}"
    # the lens sits on the node's name in flow.dag.yaml
    line = path.read_text().splitlines()[classify.range.start.line]
    assert line[classify.range.start.character:classify.range.end.character] == "classify"
    # a value produced by another node is unknown before a run and said so
    assert summarise.unknown_inputs == ["details (from classify)"]
    assert summarise.lens_text.endswith("(lower bound)")
    assert "details (from classify)" in summarise.hover_text


def test_flow_totals_sum_the_nodes(tmp_path):
    result = estimate(make_flow(tmp_path))
    totals = result.totals()
    assert totals["inputTokens"] == sum(item.estimate.input_tokens for item in result.items)
    assert totals["maxOutputTokens"] == 250
    assert totals["costPerCall"] == pytest.approx(sum(item.cost_per_call for item in result.items))
    assert totals["costPer1k"] == pytest.approx(totals["costPerCall"] * 1000)
    assert totals["catalogEntry"] == "gpt-4.1, gpt-4o-mini" and totals["catalogDate"] == CATALOG["as_of"]
    assert result.lens_text.startswith("2 llm nodes: ≈ ") and "per 1k runs" in result.lens_text
    assert result.problems == []


def test_hover_breaks_the_prompt_down(tmp_path):
    classify = estimate(make_flow(tmp_path)).items[0]
    hover = classify.hover_text
    count = classify.estimate.count
    assert f"| system | {count.messages[0].content_tokens:,} |" in hover
    assert f"| user (last message) | {count.messages[1].content_tokens:,} |" in hover
    assert f"- line 1 `system:` {count.messages[0].content_tokens:,} tokens" in hover
    assert f"- line 4 `user:` {count.messages[1].content_tokens:,} tokens" in hover
    entry = CATALOG["models"]["gpt-4o-mini"]
    assert f"input ${entry['input_per_1m']:g}" in hover and f"(catalog {CATALOG['as_of']})" in hover


def test_results_are_cached_until_something_changes(tmp_path):
    path = make_flow(tmp_path)
    first = estimate(path)
    assert estimate(path) is first
    template = tmp_path / "classify.jinja2"
    edited = {template: CLASSIFY + "Answer with one word.\n"}
    changed = estimate(path, overlay=edited)
    assert changed is not first
    assert changed.items[0].estimate.input_tokens > first.items[0].estimate.input_tokens
    assert changed.items[1].estimate.input_tokens == first.items[1].estimate.input_tokens


@pytest.mark.parametrize("settings, code, severity, fragment", [
    ("models:\n  tiny: {tokenizer: o200k_base, context_window: 60, max_output: 50, input_per_1m: 1, output_per_1m: 1}\n",
     "PW701", Severity.ERROR, "above tiny's context window of 60"),
    ("models:\n  local-llama: {tokenizer: llama3, context_window: 8192, max_output: 1024, input_per_1m: 0, output_per_1m: 0}\n",
     "PW703", Severity.WARNING, "counted with o200k_base and are approximate"),
    ("models:\n  small-out: {tokenizer: o200k_base, context_window: 8192, max_output: 20, input_per_1m: 1, output_per_1m: 1}\n",
     "PW704", Severity.WARNING, "max_tokens 50 is above small-out's maximum output of 20"),
])
def test_cost_problems(tmp_path, settings, code, severity, fragment):
    model = settings.split("\n")[1].split(":")[0].strip()
    path = make_flow(tmp_path, FLOW.replace("model: gpt-4o-mini", f"model: {model}"), settings)
    problems = [p for p in estimate(path).problems if p.code == code]
    assert len(problems) == 1
    assert problems[0].severity == severity and fragment in problems[0].message
    assert problems[0].path == path


def test_unknown_model_is_named_and_counted_with_the_fallback(tmp_path):
    flow = FLOW.replace("model: gpt-4o-mini", "model: gpt-9-ultra")
    path = make_flow(tmp_path, flow)
    result = estimate(path)
    problem = next(p for p in result.problems if p.code == "PW702")
    assert "'gpt-9-ultra' is not in the model catalog" in problem.message
    line = flow.splitlines()[problem.range.start.line]
    assert line[problem.range.start.character:problem.range.end.character] == "gpt-9-ultra"
    classify = result.items[0]
    assert classify.estimate.encoding == "o200k_base" and classify.cost_per_call is None
    assert classify.lens_text.endswith("not priced")
    assert result.totals()["costPerCall"] is None


def test_deployment_from_settings_is_priced(tmp_path):
    flow = FLOW.replace("model: gpt-4o-mini", "deployment_name: prod-mini")
    path = make_flow(tmp_path, flow, "deployments:\n  prod-mini: gpt-4o-mini\n")
    classify = estimate(path).items[0]
    assert classify.catalog_entry == "azure/gpt-4o-mini"
    assert classify.estimate.match.how == "deployment prod-mini -> gpt-4o-mini (Azure entry)"


def test_render_error_is_reported_in_the_lens(tmp_path):
    path = make_flow(tmp_path)
    (tmp_path / "classify.jinja2").write_text("{% if %}\n", encoding="utf-8")
    classify = estimate(path).items[0]
    assert classify.estimate is None
    assert classify.lens_text.startswith("cost: prompt not rendered (Jinja syntax error")


def test_variant_is_chosen(tmp_path):
    flow = FLOW + textwrap.dedent("""\
        node_variants:
          classify_v:
            default_variant_id: short
            variants:
              short:
                node:
                  type: llm
                  source: {type: code, path: classify.jinja2}
                  inputs: {model: gpt-4o-mini, max_tokens: 5, categories: [a], ticket: "${inputs.ticket}"}
                  api: chat
              long:
                node:
                  type: llm
                  source: {type: code, path: classify.jinja2}
                  inputs: {model: gpt-4o-mini, max_tokens: 500, categories: [a], ticket: "${inputs.ticket}"}
                  api: chat
        """)
    flow = flow.replace("nodes:\n", "nodes:\n- name: classify_v\n  use_variants: true\n", 1)
    path = make_flow(tmp_path, flow)
    default = estimate(path).items[0]
    chosen = estimate(path, variants={"classify_v": "long"}).items[0]
    assert (default.node, default.variant, default.estimate.output_bound) == ("classify_v", "short", 5)
    assert (chosen.variant, chosen.estimate.output_bound) == ("long", 500)
    line = flow.splitlines()[default.range.start.line]  # the lens is on the node that uses the variants
    assert line == "- name: classify_v"


def test_prompty_estimate_with_tools(tmp_path):
    path = tmp_path / "reply.prompty"
    path.write_text(PROMPTY, encoding="utf-8")
    result = estimate(path)
    [item] = result.items
    messages = [{"role": "system", "content": "You answer customers of an online shop."},
                {"role": "user", "content": "Where is order 42?"}]
    tools = [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order.",
              "parameters": {"type": "object", "properties": {
                  "order_id": {"type": "string", "description": "The order number"}}}}}]
    assert item.estimate.input_tokens == count_chat(messages, "o200k_base", tools=tools).total
    assert item.estimate.count.tools > 0 and "| tools |" in item.hover_text
    assert item.catalog_entry == "azure/gpt-4o"  # an azure_openai configuration names a deployment
    assert item.range.start.line == 0
    assert result.totals()["text"] == item.lens_text


def test_other_documents_have_no_estimate(tmp_path):
    path = tmp_path / "tool.py"
    path.write_text("def f():\n    return 1\n", encoding="utf-8")
    result = estimate(path)
    assert result.items == [] and result.totals() is None


def test_llm_parameters_match_the_engine():
    from promptwise.engine import dag, providers

    assert LLM_PARAMETERS == frozenset(providers.CHAT_PARAMETERS) | frozenset(dag._LLM_SETTINGS)


def test_inputs_without_values_are_named_as_lower_bound(tmp_path):
    prompty = tmp_path / "reply.prompty"
    prompty.write_text(PROMPTY.replace("inputs:\n  question:\n    type: string\n",
                                       "inputs:\n  question:\n    type: string\n  customer:\n    type: string\n")
                       .replace("{{ question }}", "{{ customer }}: {{ question }}"), encoding="utf-8")
    [item] = estimate(prompty).items
    assert item.unknown_inputs == ["customer (no sample, default or data value)"]
    assert item.lens_text.endswith("(lower bound)")
    flow = make_flow(tmp_path / "flow", FLOW.replace("    default: finance\n", ""))
    summarise = estimate(flow).items[1]
    assert "audience (flow input audience has no value or default)" in summarise.unknown_inputs


def test_overlay_keys_may_be_strings_or_unnormalized(tmp_path):
    path = make_flow(tmp_path)
    before = estimate(path).items[0].estimate.input_tokens
    key = str(tmp_path / "sub" / ".." / "classify.jinja2")
    after = estimate(path, overlay={key: CLASSIFY + "Be terse and cite the ticket number.\n"})
    assert after.items[0].estimate.input_tokens > before


def test_prompty_sample_file_and_observed_output(tmp_path):
    from promptwise.store.run_store import NodeResult, RowResult, RunStore

    (tmp_path / ".git").mkdir()
    (tmp_path / "sample.json").write_text('{"question": "Where is my parcel, order 77?"}', encoding="utf-8")
    path = tmp_path / "reply.prompty"
    path.write_text(PROMPTY.replace("sample:\n  question: Where is order 42?\n", "sample: ${file:sample.json}\n"),
                    encoding="utf-8")
    with RunStore(tmp_path / ".promptwise") as store:
        store.create_run("r", str(path.resolve()))
        store.record_row("r", RowResult(0, "completed", {}, {"output": "x"}, nodes=[
            NodeResult("reply", "completed", "x", model="gpt-4o", prompt_tokens=10, completion_tokens=33)]))
    [item] = estimate(path).items
    user = item.estimate.count.messages[-1]
    assert user.content_tokens == count_chat([{"role": "user", "content": "Where is my parcel, order 77?"}],
                                             "o200k_base").messages[0].content_tokens
    assert item.unknown_inputs == []
    assert item.observed_output == 33
    assert item.expected_cost_per_call == pytest.approx(item.estimate.cost(output_tokens=33))
    assert "observed mean 33 in past runs" in item.hover_text


def test_unknown_values_still_let_the_rest_of_the_prompt_count(tmp_path):
    path = make_flow(tmp_path)
    template = "system:\n{% for key, value in details.items() %}{{ key }}: {{ value.score }}\n{% endfor %}" \
               "Rows: {{ details | length }} {{ details.rows[0].text }}\nuser:\n{{ ticket }}\n"
    (tmp_path / "summary.jinja2").write_text(template, encoding="utf-8")
    summarise = estimate(path).items[1]
    assert summarise.error is None
    expected = render_messages(template.replace("{% for key, value in details.items() %}{{ key }}: {{ value.score }}\n"
                                                "{% endfor %}", "").replace("{{ details | length }} "
                                                "{{ details.rows[0].text }}", "0 "),
                               {"ticket": "My invoice for March is wrong — 請幫忙 🙏"})
    assert summarise.estimate.input_tokens == count_chat(expected, "o200k_base").total
    assert summarise.unknown_inputs == ["details (from classify)"]
