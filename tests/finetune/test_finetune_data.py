"""`finetune check`: structure problems at exact file:line, tokens, duplicates, split, cost."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.costing.counting import count_chat
from promptwise.finetune.data import check


def example(i: int, **extra) -> dict:
    return {"messages": [{"role": "system", "content": "Label the log line."},
                         {"role": "user", "content": f"disk full on node {i}"},
                         {"role": "assistant", "content": f"storage {i}"}], **extra}


def write_jsonl(path, rows) -> None:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows),
                    encoding="utf-8")


GOOD = [example(i) for i in range(12)]
TOOL_CALL = {"messages": [
    {"role": "user", "content": "weather in Paris?"},
    {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                          "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    {"role": "assistant", "content": "18C and sunny", "weight": 1}],
    "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather.",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}]}


def with_bad_line_5(bad) -> list:
    rows = list(GOOD)
    rows[4] = bad
    return rows


BAD_CASES = [
    ("bad role", {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}, "FT102"),
    ("missing assistant", {"messages": [{"role": "user", "content": "x"}]}, "FT104"),
    ("arguments not JSON", {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{city: Paris"}}]}]}, "FT106"),
    ("arguments an object", {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]}, "FT106"),
    ("tool answers nothing", {"messages": [{"role": "user", "content": "x"},
                                           {"role": "tool", "tool_call_id": "zz", "content": "r"},
                                           {"role": "assistant", "content": "y"}]}, "FT107"),
    ("weight 2", {"messages": [{"role": "user", "content": "x"},
                               {"role": "assistant", "content": "y", "weight": 2}]}, "FT105"),
    ("weight on user", {"messages": [{"role": "user", "content": "x", "weight": 1},
                                     {"role": "assistant", "content": "y"}]}, "FT105"),
    ("no messages", {"prompt": "x", "completion": "y"}, "FT101"),
    ("content a number", {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]},
     "FT103"),
    ("invalid JSON", '{"messages": [', "FT100"),
    ("too long", {"messages": [{"role": "user", "content": "word " * 20_000},
                                                          {"role": "assistant", "content": "ok"}]}, "FT110"),
]


@pytest.mark.parametrize("bad,code", [case[1:] for case in BAD_CASES], ids=[case[0] for case in BAD_CASES])
def test_bad_line_reported_at_its_file_and_line(tmp_path, bad, code):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, with_bad_line_5(bad))
    result = check(data, "gpt-3.5-turbo")  # 16,385-token limit
    errors = [(p.path, p.line, p.code) for p in result.errors]
    assert (str(data), 5, code) in errors
    assert {line for _, line, _ in errors} == {5}


def test_good_file_counts_exact_tokens_and_prices_epochs(tmp_path):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, GOOD[:11] + [TOOL_CALL])
    result = check(data, "gpt-4o-mini", epochs=4)
    assert result.problems == []
    expected = sum(count_chat(row["messages"], "o200k_base", tools=row.get("tools")).total
                   for row in GOOD[:11] + [TOOL_CALL])
    assert result.training.tokens == expected
    assert result.price_per_1m == 3.0
    assert result.to_json()["cost_total"] == pytest.approx(expected * 4 * 3.0 / 1e6)


def test_unknown_model_says_price_unknown(tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, GOOD)
    assert main(["finetune", "check", str(data), "--model", "my-own-model"]) == 0
    assert "price unknown" in capsys.readouterr().out


def test_duplicates_and_overlap_are_warnings_with_lines(tmp_path):
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"
    write_jsonl(train, GOOD + [GOOD[2]])
    write_jsonl(valid, [example(50), GOOD[7]])
    result = check(train, "gpt-4o-mini", validation=valid)
    found = {(p.path, p.line, p.code, p.severity) for p in result.problems}
    assert found == {(str(train), 13, "FT111", "warning"), (str(valid), 2, "FT114", "warning")}
    assert result.errors == []


def test_too_few_examples_and_split_suggestion(tmp_path):
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_jsonl(small, GOOD[:3])
    write_jsonl(large, [example(i) for i in range(150)])
    assert [p.code for p in check(small, "gpt-4o-mini").errors] == ["FT113"]
    suggestion = [p for p in check(large, "gpt-4o-mini").problems if p.code == "FT115"]
    assert len(suggestion) == 1 and suggestion[0].severity == "info" and "15 of the 150" in suggestion[0].message


def test_cli_json_and_exit_code(tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, with_bad_line_5({"messages": [{"role": "user", "content": "x"}]}))
    assert main(["finetune", "check", str(data), "--model", "gpt-4o-mini", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(p["line"], p["code"]) for p in report["problems"]] == [(5, "FT104")]


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["finetune", "check", str(tmp_path / "nope.jsonl"), "--model", "gpt-4o-mini"]) != 0
    assert "nope.jsonl: no such file" in capsys.readouterr().err


def test_workspace_models_section_sets_a_training_price(tmp_path, capsys, monkeypatch):
    (tmp_path / "promptwise.yaml").write_text(
        "models:\n  azure/gpt-4o-mini: {finetune_training_per_1m: 3.3}\n"
        "  my-llama: {tokenizer: llama3, context_window: 8192, max_output: 1024, input_per_1m: 0.1, "
        "output_per_1m: 0.2, finetune_training_per_1m: 1.0}\n", encoding="utf-8")
    data = tmp_path / "train.jsonl"
    write_jsonl(data, GOOD)
    monkeypatch.chdir(tmp_path)
    for model, price in (("azure/gpt-4o-mini", 3.3), ("my-llama", 1.0)):
        assert main(["finetune", "check", "train.jsonl", "--model", model, "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["training_price_per_1m"] == price
        assert report["epochs"] == 8  # no --epochs: what the service picks for 12 examples
        assert report["cost_total"] == pytest.approx(report["training"]["tokens"] * 8 * price / 1e6)
