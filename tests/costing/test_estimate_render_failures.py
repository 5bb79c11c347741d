"""Templates that cannot render, and values unknown before a run, in `promptwise estimate`.

A Jinja syntax error is an error naming the template file and line, with a non-zero exit and
never a "$0.00" total that looks like a real figure. A value produced by another node is
rendered as a stated placeholder, whatever the template does with it (number formatting,
arithmetic, `tojson`, attribute access), so the estimate goes on instead of failing.
"""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.costing.counting import count_chat
from promptwise.costing.estimate import clear_cache
from promptwise.costing.flow_calls import EmptyText, UnknownValue, render_with_placeholders
from promptwise.documents.render import render_messages

from costing_samples import make_flow

FLOW = """\
inputs:
  ticket: {type: string, default: My invoice is wrong}
outputs:
  answer: {type: string, reference: "${reply.output}"}
nodes:
- name: score
  type: python
  source: {type: code, path: score.py}
  inputs: {ticket: "${inputs.ticket}"}
- name: reply
  type: llm
  source: {type: code, path: reply.jinja2}
  inputs:
    model: gpt-4o-mini
    max_tokens: 40
    score: "${score.output}"
    ticket: "${inputs.ticket}"
  connection: local
  api: chat
"""

SCORE = "from promptflow.core import tool\n\n@tool\ndef score(ticket: str) -> float:\n    return 0.25\n"


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def flow_with_template(tmp_path, template: str):
    path = make_flow(tmp_path, FLOW)
    (tmp_path / "score.py").write_text(SCORE, encoding="utf-8")
    (tmp_path / "reply.jinja2").write_text(template, encoding="utf-8")
    return path


# Each formats or computes with the unknown `score` (a python node's output).
FORMATTING = [
    pytest.param('{{ "%.2f" | format(score) }}', "0.00", id="format-filter"),
    pytest.param('{{ "{:.1f}".format(score) }}', "0.0", id="str-format-method"),
    pytest.param("{{ score | round(2) }}", "", id="round"),
    pytest.param("{{ score + 1 }}", "", id="arithmetic"),
    pytest.param("{{ score | abs }}", "", id="abs"),
    pytest.param("{% if score > 0.5 %}high{% endif %}", "", id="comparison"),
    pytest.param("{{ score | int }}", "0", id="int-filter"),
    pytest.param("{{ score | tojson }}", '""', id="tojson"),
    pytest.param("{% for k, v in score.items() %}{{ k }}{% endfor %}", "", id="items-loop"),
]


@pytest.mark.parametrize("expression, placeholder", FORMATTING)
def test_unknown_value_is_rendered_as_a_stated_placeholder(tmp_path, capsys, expression, placeholder):
    template = f"system:\nRisk score {expression} for this ticket.\nuser:\n{{{{ ticket }}}}\n"
    flow = flow_with_template(tmp_path, template)
    code = main(["estimate", str(flow), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    [reply] = report["nodes"]
    assert reply["failedRows"] == [] and reply["renderErrors"] == [] and report["errors"] == []
    assert reply["unknownInputs"] == ["score (from score)"]
    expected = render_messages(f"system:\nRisk score {placeholder} for this ticket.\nuser:\n{{{{ ticket }}}}\n",
                               {"ticket": "My invoice is wrong"})
    assert reply["inputTokens"] == count_chat(expected, "o200k_base").total
    # and the text report says how the unknown value was counted
    assert main(["estimate", str(flow)]) == 0
    out = capsys.readouterr().out
    assert "rendered as a placeholder" in out and "score (from score)" in out


def test_jinja_syntax_error_names_template_line_and_exits_non_zero(tmp_path, capsys):
    flow = flow_with_template(tmp_path, "system:\nYou reply.\nuser:\n{{ ticket }\n")
    assert main(["estimate", str(flow)]) == 1
    captured = capsys.readouterr()
    template = tmp_path / "reply.jinja2"
    assert f"promptwise: error: {template}:4: Jinja syntax error" in captured.err
    assert "Traceback" not in captured.err
    # no figure that looks like a real price for the node that was never rendered
    reply_line = next(line for line in captured.out.splitlines() if line.startswith("reply"))
    assert "not rendered" in reply_line and "$0.00" not in reply_line
    assert any(line.startswith("total (incomplete)") for line in captured.out.splitlines())


def test_syntax_error_in_json_output_and_exit_status(tmp_path, capsys):
    flow = flow_with_template(tmp_path, "system:\n{% if ticket %}open block\nuser:\n{{ ticket }}\n")
    assert main(["estimate", str(flow), "--format", "json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    [reply] = report["nodes"]
    [error] = reply["renderErrors"]
    assert error["rows"] == 1 and error["error"].startswith(f"{tmp_path / 'reply.jinja2'}:")
    assert report["errors"] and "Jinja syntax error" in report["errors"][0]


def test_row_dependent_render_failure_is_listed_by_row(tmp_path, capsys):
    # `"%d" | format(None)` fails: the engine would fail those rows too. The 7 reaches the string
    # input as "7" (pf's str(v)); `int(none)` makes it 7 and "seven" None.
    flow = flow_with_template(tmp_path, 'system:\nYou reply.\nuser:\n{{ "%d" | format(ticket | int(none)) }}\n')
    data = tmp_path / "rows.jsonl"
    data.write_text('{"ticket": 7}\n{"ticket": "seven"}\n', encoding="utf-8")
    assert main(["estimate", str(flow), "--data", str(data), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    [reply] = report["nodes"]
    assert reply["rows"] == 1
    [failed] = reply["failedRows"]
    assert failed.startswith(f"{data}:2: {tmp_path / 'reply.jinja2'}:4: template failed to render")


def test_placeholders_fall_back_to_empty_text_only_for_unknown_values():
    variables = {"known": {"a": 1}, "unknown": UnknownValue(name="unknown")}
    messages = render_with_placeholders("user:\n{{ known | tojson }} {{ unknown | tojson }}\n", variables)
    assert messages == [{"role": "user", "content": '{"a": 1} ""'}]
    assert isinstance(EmptyText(), str) and EmptyText() == ""
    from promptwise.documents.render import RenderError

    with pytest.raises(RenderError):  # a real value that cannot be formatted is a real error
        render_with_placeholders('user:\n{{ "%d" | format(known) }}\n', variables)
