"""The shipped catalog, name lookup, and workspace overrides."""

from __future__ import annotations

import json
import textwrap

import pytest

from promptwise.config import ConfigError, load_workspace
from promptwise.costing.catalog import CATALOG_PATH, FALLBACK_ENCODING, catalog_for, load_catalog
from promptwise.costing.tokenizers import SHIPPED_ENCODINGS

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
ENTRIES = CATALOG["models"]


def test_catalog_is_dated():
    assert CATALOG["as_of"] == load_catalog().as_of
    assert len(CATALOG["as_of"]) == 10 and CATALOG["as_of"][4] == "-"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_entry_has_tokenizer_window_and_prices(name):
    entry = ENTRIES[name]
    assert isinstance(entry["tokenizer"], str) and entry["tokenizer"]
    assert isinstance(entry["context_window"], int) and entry["context_window"] > 0
    assert isinstance(entry["max_output"], int) and 0 < entry["max_output"] <= entry["context_window"]
    assert isinstance(entry["input_per_1m"], (int, float)) and entry["input_per_1m"] >= 0
    assert isinstance(entry["output_per_1m"], (int, float)) and entry["output_per_1m"] >= 0
    assert entry["cached_input_per_1m"] is None or 0 <= entry["cached_input_per_1m"] <= entry["input_per_1m"]
    assert entry["source"]


@pytest.mark.parametrize("family", ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1",
                                    "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
                                    "gpt-3.5-turbo", "gpt-4", "gpt-4-turbo", "azure/gpt-4o", "azure/o4-mini"])
def test_required_families_are_covered(family):
    assert family in ENTRIES


def test_openai_models_use_shipped_tokenizers_and_open_models_say_fallback():
    catalog = load_catalog()
    for name, model in catalog.models.items():
        if model.provider in ("openai", "azure_openai"):
            assert model.exact_tokenizer, name
        if not model.exact_tokenizer:
            assert model.counting_encoding == FALLBACK_ENCODING
            assert name in model.tokenizer_warning() and FALLBACK_ENCODING in model.tokenizer_warning()
    assert any(not m.exact_tokenizer for m in catalog.models.values())
    assert {m.tokenizer for m in catalog.models.values()} >= set(SHIPPED_ENCODINGS)


def test_cost_uses_catalog_prices():
    model = load_catalog().get("gpt-4o")
    entry = ENTRIES["gpt-4o"]
    expected = (1000 * entry["input_per_1m"] + 500 * entry["output_per_1m"]) / 1e6
    assert model.cost(1000, 500) == pytest.approx(expected)
    cached = (200 * entry["input_per_1m"] + 800 * entry["cached_input_per_1m"] + 500 * entry["output_per_1m"]) / 1e6
    assert model.cost(1000, 500, cached_input_tokens=800) == pytest.approx(cached)


def test_no_cached_price_bills_cached_tokens_as_input():
    model = load_catalog().get("gpt-4")
    assert ENTRIES["gpt-4"]["cached_input_per_1m"] is None
    assert model.cost(1000, 0, cached_input_tokens=1000) == pytest.approx(model.cost(1000, 0))


@pytest.mark.parametrize("requested, entry, how", [
    ("gpt-4o", "gpt-4o", "exact"),
    ("gpt-4o-2024-08-06", "gpt-4o", "snapshot of gpt-4o"),
    ("gpt-4-0613", "gpt-4", "snapshot of gpt-4"),
    ("openai/gpt-4o-mini", "gpt-4o-mini", "without openai/ prefix"),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
     "provider entry together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"),
])
def test_lookup(requested, entry, how):
    match = load_catalog().lookup(requested)
    assert (match.model.name, match.how) == (entry, how)
    assert match.label == f"{entry} (catalog {CATALOG['as_of']})"


def test_lookup_prefers_azure_entry_for_azure_connections():
    catalog = load_catalog()
    assert catalog.lookup("gpt-4o", azure=True).model.name == "azure/gpt-4o"
    assert catalog.lookup("gpt-3.5-turbo", azure=True).model.name == "azure/gpt-35-turbo"
    assert catalog.lookup("no-such-model") is None
    assert catalog.lookup("") is None


def write_settings(tmp_path, text):
    (tmp_path / "promptwise.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_workspace(tmp_path)


def test_workspace_overrides_prices_and_adds_models(tmp_path):
    workspace = write_settings(tmp_path, """\
        defaults: {model: gpt-4o-mini}
        models:
          gpt-4o:
            input_per_1m: 1.0
          my-llama:
            tokenizer: llama3
            context_window: 8192
            max_output: 1024
            input_per_1m: 0.1
            output_per_1m: 0.2
        deployments:
          prod-chat: gpt-4o
          prod-mini: gpt-4o-mini
        """)
    catalog = catalog_for(workspace)
    gpt4o = catalog.get("gpt-4o")
    assert gpt4o.input_per_1m == 1.0
    assert gpt4o.output_per_1m == ENTRIES["gpt-4o"]["output_per_1m"]
    assert gpt4o.origin.endswith("overridden by " + f"{tmp_path / 'promptwise.yaml'}:3")
    llama = catalog.get("my-llama")
    assert (llama.context_window, llama.origin) == (8192, f"{tmp_path / 'promptwise.yaml'}:5")
    assert not llama.exact_tokenizer
    # A deployment of a model the workspace re-prices uses the workspace's entry ...
    match = catalog.lookup("prod-chat")
    assert match.model is gpt4o and match.how == "deployment prod-chat -> gpt-4o"
    # ... otherwise the catalog's Azure entry.
    match = catalog.lookup("prod-mini")
    assert match.model.name == "azure/gpt-4o-mini" and match.how == "deployment prod-mini -> gpt-4o-mini (Azure entry)"
    assert load_catalog().get("gpt-4o").input_per_1m == ENTRIES["gpt-4o"]["input_per_1m"]  # shipped one untouched


def test_pyproject_tool_table_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.promptwise.deployments]\nmy-deploy = "gpt-4.1"\n', encoding="utf-8")
    catalog = catalog_for(load_workspace(tmp_path))
    assert catalog.lookup("my-deploy").model.name == "azure/gpt-4.1"


@pytest.mark.parametrize("settings, message", [
    ("models:\n  new-model: {input_per_1m: 1}\n",
     "promptwise.yaml:2: model 'new-model' is not in the catalog, so it needs context_window, max_output, output_per_1m"),
    ("models:\n  gpt-4o: {input_price: 1}\n", "promptwise.yaml:2: `models.gpt-4o.input_price`: Extra inputs"),
    ("models:\n  gpt-4o: {input_per_1m: cheap}\n", "promptwise.yaml:2: `models.gpt-4o.input_per_1m`"),
    ("models:\n  gpt-4o: 3\n", "promptwise.yaml:2: `models.gpt-4o` must be a mapping"),
    ("deployments:\n  a: gpt-4o\n  b: nothing-like-this\n",
     "promptwise.yaml:3: deployment 'b' maps to 'nothing-like-this', which is not in the catalog"),
    ("deployments:\n  a: [1]\n", "promptwise.yaml:2: deployment 'a' must map to a model name"),
])
def test_bad_settings_name_file_and_line(tmp_path, settings, message):
    workspace = write_settings(tmp_path, settings)
    with pytest.raises(ConfigError) as error:
        catalog_for(workspace)
    assert message in str(error.value)
