"""`promptwise models` and `promptwise models import FILE` (LiteLLM's price file format)."""

from __future__ import annotations

import json

import pytest
import yaml

from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.costing.catalog import CATALOG_PATH, catalog_for

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

# A LiteLLM-format file: per-token prices, as in model_prices_and_context_window.json.
LITELLM = {
    "sample_spec": {"input_cost_per_token": 0.0, "mode": "one of: chat, embedding, ..."},
    "my-provider/llama-3.1-8b": {"input_cost_per_token": 2e-08, "output_cost_per_token": 5e-08,
                                 "max_input_tokens": 131072, "max_output_tokens": 8192,
                                 "litellm_provider": "my-provider", "mode": "chat"},
    "my-provider/gpt-4o-mini": {"input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07,
                                "cache_read_input_token_cost": 5e-08, "max_input_tokens": 128000,
                                "max_output_tokens": 16384, "litellm_provider": "my-provider", "mode": "chat"},
    "gpt-4o": {"input_cost_per_token": CATALOG["models"]["gpt-4o"]["input_per_1m"] / 1e6,
               "output_cost_per_token": CATALOG["models"]["gpt-4o"]["output_per_1m"] / 1e6,
               "cache_read_input_token_cost": CATALOG["models"]["gpt-4o"]["cached_input_per_1m"] / 1e6,
               "max_input_tokens": CATALOG["models"]["gpt-4o"]["context_window"], "max_output_tokens": 16384,
               "litellm_provider": "openai", "mode": "chat"},
    "text-embedding-3-small": {"input_cost_per_token": 2e-08, "output_cost_per_token": 0.0,
                               "max_input_tokens": 8191, "mode": "embedding"},
    "no-price-model": {"max_input_tokens": 4096, "mode": "chat"},
}

SETTINGS = """\
# team settings: keep this comment
defaults: {model: gpt-4o-mini}
models:
  my-provider/llama-3.1-8b: {tokenizer: llama3, context_window: 8192, max_output: 1024, input_per_1m: 0.01, output_per_1m: 0.02}  # negotiated

deployments:
  prod: gpt-4o
"""


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "promptwise.yaml").write_text(SETTINGS, encoding="utf-8")
    source = tmp_path / "prices.json"
    source.write_text(json.dumps(LITELLM, indent=2), encoding="utf-8")
    return tmp_path


def test_list_json_has_every_catalog_entry(tmp_path, capsys):
    assert main(["models", "--workspace", str(tmp_path), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["as_of"] == CATALOG["as_of"]
    by_name = {model["name"]: model for model in listed["models"]}
    assert set(by_name) == set(CATALOG["models"])
    for name, entry in CATALOG["models"].items():
        assert by_name[name]["input_per_1m"] == entry["input_per_1m"]
        assert by_name[name]["origin"] == f"catalog {CATALOG['as_of']}"


def test_list_text_names_date_and_overrides(workspace, capsys):
    assert main(["models", "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Model catalog as of {CATALOG['as_of']}")
    assert "deployment prod -> gpt-4o" in out
    assert "counted with o200k_base, approximate" in out
    gpt4o_line = next(line for line in out.splitlines() if line.startswith("gpt-4o "))
    assert f"${CATALOG['models']['gpt-4o']['output_per_1m']:g}" in gpt4o_line


def test_import_dry_run_changes_nothing(workspace, capsys):
    assert main(["models", "import", str(workspace / "prices.json"), "--workspace", str(workspace), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would add my-provider/gpt-4o-mini: input $0.1/1M, output $0.4/1M" in out
    assert "keep my-provider/llama-3.1-8b: already set" in out
    assert "1 to add, 1 already in the workspace, 1 same as the catalog, 2 not chat models or unpriced" in out
    assert (workspace / "promptwise.yaml").read_text(encoding="utf-8") == SETTINGS


def test_import_writes_models_and_keeps_comments(workspace, capsys):
    assert main(["models", "import", str(workspace / "prices.json"), "--workspace", str(workspace)]) == 0
    text = (workspace / "promptwise.yaml").read_text(encoding="utf-8")
    assert text.startswith("# team settings: keep this comment\n")
    assert "# negotiated" in text
    settings = yaml.safe_load(text)
    assert settings["models"]["my-provider/llama-3.1-8b"]["input_per_1m"] == 0.01  # kept as the team set it
    assert settings["models"]["my-provider/gpt-4o-mini"] == {
        "provider": "my-provider", "tokenizer": "o200k_base", "context_window": 128000, "max_output": 16384,
        "input_per_1m": 0.1, "output_per_1m": 0.4, "cached_input_per_1m": 0.05}
    assert settings["deployments"] == {"prod": "gpt-4o"}
    catalog = catalog_for(load_workspace(workspace))
    imported = catalog.get("my-provider/gpt-4o-mini")
    assert imported.origin == f"{workspace / 'promptwise.yaml'}:5" and imported.exact_tokenizer
    # importing again adds nothing new
    capsys.readouterr()
    assert main(["models", "import", str(workspace / "prices.json"), "--workspace", str(workspace)]) == 0
    assert "0 to add, 2 already in the workspace" in capsys.readouterr().out


def test_import_into_a_workspace_without_settings(tmp_path, capsys):
    source = tmp_path / "prices.json"
    source.write_text(json.dumps(LITELLM), encoding="utf-8")
    (tmp_path / ".git").mkdir()
    assert main(["models", "import", str(source), "--only", "my-provider/llama*", "--workspace", str(tmp_path)]) == 0
    settings = yaml.safe_load((tmp_path / "promptwise.yaml").read_text(encoding="utf-8"))
    assert list(settings["models"]) == ["my-provider/llama-3.1-8b"]
    assert settings["models"]["my-provider/llama-3.1-8b"]["tokenizer"] == "unknown"


def test_import_under_an_empty_models_key(tmp_path, capsys):
    (tmp_path / "promptwise.yaml").write_text("models:\ndefaults: {model: gpt-4o}\n", encoding="utf-8")
    source = tmp_path / "prices.json"
    source.write_text(json.dumps(LITELLM), encoding="utf-8")
    assert main(["models", "import", str(source), "--only", "my-provider/*", "--workspace", str(tmp_path)]) == 0
    settings = yaml.safe_load((tmp_path / "promptwise.yaml").read_text(encoding="utf-8"))
    assert sorted(settings["models"]) == ["my-provider/gpt-4o-mini", "my-provider/llama-3.1-8b"]
    assert settings["defaults"] == {"model": "gpt-4o"}


@pytest.mark.parametrize("content, message", [
    ('{"a": 1,\n  oops}', "prices.json:2: invalid JSON"),
    ("[1, 2]", "prices.json:1: the file is a JSON list; expected a JSON object of models"),
    ('{"x": {"mode": "embedding"}}', "no chat model with input and output prices matched"),
])
def test_import_errors_name_the_file(tmp_path, capsys, content, message):
    source = tmp_path / "prices.json"
    source.write_text(content, encoding="utf-8")
    assert main(["models", "import", str(source), "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_importing_a_whole_price_file_needs_only_or_all(tmp_path, capsys, monkeypatch):
    from promptwise.commands import models

    monkeypatch.setattr(models, "MANY_MODELS", 1)
    source = tmp_path / "prices.json"
    source.write_text(json.dumps(LITELLM), encoding="utf-8")
    (tmp_path / ".git").mkdir()
    assert main(["models", "import", str(source), "--workspace", str(tmp_path)]) == 2
    assert "this would add 2 models to promptwise.yaml; pick them with --only" in capsys.readouterr().err
    assert not (tmp_path / "promptwise.yaml").exists()
    assert main(["models", "import", str(source), "--workspace", str(tmp_path), "--all"]) == 0
    assert len(yaml.safe_load((tmp_path / "promptwise.yaml").read_text(encoding="utf-8"))["models"]) == 2
