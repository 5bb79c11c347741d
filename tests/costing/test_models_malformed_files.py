"""`promptwise models --catalog FILE` and `promptwise models import FILE` with malformed files:
one clear error naming the file (and line where known) and what is wrong; no traceback."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main

ENTRY = {"tokenizer": "o200k_base", "context_window": 1000, "max_output": 100, "input_per_1m": 1,
         "output_per_1m": 2}


def run(capsys, *args) -> tuple[int, str]:
    code = main(["models", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


@pytest.mark.parametrize("content, where, message", [
    ("{ not json", ":1:", "not valid JSON"),
    ("[]", ":1:", "the model catalog is a JSON list, not an object"),
    (json.dumps({"models": {}}), ":1:", "has no `as_of` date"),
    (json.dumps({"as_of": "2026-01-01"}), ":1:", "has no `models` object"),
    (json.dumps({"as_of": "2026-01-01", "models": []}), ":1:", "has `models` as a JSON list"),
    (json.dumps({"as_of": "2026-01-01", "models": {"ok": ENTRY, "cheap": {"tokenizer": "o200k_base"}}}, indent=1),
     ":11:", "model 'cheap' has no context_window, max_output, input_per_1m, output_per_1m"),
    (json.dumps({"as_of": "2026-01-01", "models": {"bad": "gpt-4o"}}), ":1:", "`bad` must be a mapping of fields"),
    (json.dumps({"as_of": "2026-01-01", "models": {"neg": {**ENTRY, "input_per_1m": -1}}}), ":1:",
     "`neg.input_per_1m`"),
    (json.dumps({"gpt-x": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "max_tokens": 10}}), "",
     "this is a LiteLLM price file, not a Promptwise catalog; import it with `promptwise models import"),
], ids=["not-json", "list", "no-date", "no-models", "models-list", "missing-prices", "entry-not-mapping",
        "negative-price", "litellm-file"])
def test_malformed_catalog_file(tmp_path, capsys, content, where, message):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(content, encoding="utf-8")
    if where == ":11:":  # the line of the faulty entry in the indented file
        assert content.splitlines()[10].strip().startswith('"cheap"')
    code, err = run(capsys, "--workspace", str(tmp_path), "--catalog", str(catalog))
    assert code == 2
    assert err.startswith(f"promptwise: error: {catalog}{where}") and message in err
    assert "{{" not in err  # the expected shape is shown as written, not with doubled braces


def test_missing_catalog_file(tmp_path, capsys):
    code, err = run(capsys, "--workspace", str(tmp_path), "--catalog", str(tmp_path / "absent.json"))
    assert code == 2 and "cannot read the model catalog" in err and "--catalog" in err


@pytest.mark.parametrize("content, message", [
    ("{ nope", ":1: invalid JSON"),
    ("[1, 2]", ":1: the file is a JSON list; expected a JSON object of models by name"),
    (json.dumps({"as_of": "2026-01-01", "models": {"m": ENTRY}}),
     ": this is a Promptwise model catalog, not a LiteLLM price file; use it with `--catalog"),
    (json.dumps({"gpt-x": "cheap"}), "gpt-x: the entry is a JSON str, not an object of prices and limits"),
    (json.dumps({"gpt-x": {"mode": "chat", "max_input_tokens": 1000}}),
     "gpt-x: no input_cost_per_token; no output_cost_per_token"),
    (json.dumps({"gpt-x": {"mode": "chat", "input_cost_per_token": "cheap", "output_cost_per_token": 1e-6,
                           "max_input_tokens": 1000}}), "gpt-x: input_cost_per_token 'cheap' is not a number"),
    (json.dumps({"gpt-x": {"mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}}),
     "gpt-x: no max_input_tokens or max_tokens (the context window)"),
], ids=["not-json", "list", "our-catalog", "entry-not-object", "no-prices", "price-not-number", "no-window"])
def test_malformed_import_file(tmp_path, capsys, content, message):
    source = tmp_path / "prices.json"
    source.write_text(content, encoding="utf-8")
    code, err = run(capsys, "import", str(source), "--workspace", str(tmp_path), "--dry-run")
    assert code == 2
    assert err.startswith(f"promptwise: error: {source}") and message in err
    assert not (tmp_path / "promptwise.yaml").exists()


def test_import_names_the_entries_it_leaves_out(tmp_path, capsys):
    source = tmp_path / "prices.json"
    source.write_text(json.dumps({
        "good": {"mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "max_input_tokens": 8000},
        "half": {"mode": "chat", "input_cost_per_token": 1e-6, "max_input_tokens": 8000},
    }), encoding="utf-8")
    assert main(["models", "import", str(source), "--workspace", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would add good" in out and "not imported: half: no output_cost_per_token" in out
